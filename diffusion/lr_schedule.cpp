#include "diffusion/lr_schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <stdexcept>

namespace ddpm {

LrSchedule parse_lr_schedule(const std::string& s) {
  if (s == "constant") return LrSchedule::constant;
  if (s == "cosine") return LrSchedule::cosine;
  throw std::invalid_argument("unknown learning-rate schedule '" + s + "' (expected constant or cosine)");
}

const char* lr_schedule_name(LrSchedule s) { return s == LrSchedule::cosine ? "cosine" : "constant"; }

double learning_rate(double lr, int64_t warmup_steps, LrSchedule schedule, int64_t decay_steps,
                     int64_t step) {
  const double warm = warmup_steps > 0
                          ? std::min(1.0, static_cast<double>(step + 1) / static_cast<double>(warmup_steps))
                          : 1.0;
  if (schedule == LrSchedule::constant) return lr * warm;
  const double span = static_cast<double>(std::max<int64_t>(1, decay_steps - warmup_steps));
  const double p = std::clamp(static_cast<double>(step - warmup_steps) / span, 0.0, 1.0);
  return lr * warm * 0.5 * (1.0 + std::cos(std::numbers::pi * p));
}

}  // namespace ddpm
