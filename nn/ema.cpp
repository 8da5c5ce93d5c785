#include "nn/ema.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "kernels/ema_update.h"

namespace ddpm::nn {

Ema::Ema(const FlatParameters& params, double decay) : shadow_(params.params().clone()), decay_(decay) {
  if (!(decay >= 0 && decay < 1))
    throw std::invalid_argument("EMA decay " + std::to_string(decay) + " outside [0, 1)");
}

double Ema::decay_at(int64_t step) const {
  if (step < 0) throw std::invalid_argument("EMA step " + std::to_string(step) + ", expected >= 0");
  const auto s = static_cast<double>(step);
  return std::min(decay_, (1.0 + s) / (10.0 + s));
}

void Ema::update(const FlatParameters& params, int64_t step) {
  kernels::ema_update(shadow_, params.params(), decay_at(step));
}

}  // namespace ddpm::nn
