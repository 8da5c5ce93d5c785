// The learning rate at each step: a linear warm-up, then constant (the
// default) or a cosine decay to 0 at a fixed step.
//   warm(s)     = min(1, (s+1)/W)                      (1 when W = 0)
//   constant:   lr_s = lr * warm(s)
//   cosine:     p = clamp((s - W) / (D - W), 0, 1),  lr_s = lr * warm(s) * (1 + cos(pi p)) / 2
// s is the 0-based step, W the warm-up steps, D the decay steps (the step at
// which the rate reaches 0; ddpm-train sets it to the first run's --steps).
#pragma once

#include <cstdint>
#include <string>

namespace ddpm {

enum class LrSchedule { constant, cosine };

// "constant" or "cosine"; parse throws std::invalid_argument naming the
// accepted values.
LrSchedule parse_lr_schedule(const std::string& s);
const char* lr_schedule_name(LrSchedule s);

// The learning rate of step `step` (0-based), as in the table above. For
// cosine, decay_steps must exceed warmup_steps (TrainConfig::validate says so).
double learning_rate(double lr, int64_t warmup_steps, LrSchedule schedule, int64_t decay_steps, int64_t step);

}  // namespace ddpm
