#include "nn/ema.h"

#include <stdexcept>
#include <string>

#include "kernels/ema_update.h"

namespace ddpm::nn {

Ema::Ema(const FlatParameters& params, double decay) : shadow_(params.params().clone()), decay_(decay) {
  if (!(decay >= 0 && decay < 1))
    throw std::invalid_argument("EMA decay " + std::to_string(decay) + " outside [0, 1)");
}

void Ema::update(const FlatParameters& params) { kernels::ema_update(shadow_, params.params(), decay_); }

}  // namespace ddpm::nn
