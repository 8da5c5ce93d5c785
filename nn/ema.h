// EMA of a model's weights, kept in one flat buffer beside FlatParameters.
//
//   ema = decay * ema + (1 - decay) * params      after every optimizer step
// The EMA weights are what sampling uses (and what model.safetensors holds
// when EMA is on). decay 0 means off: the EMA then equals the weights.
#pragma once

#include "nn/flat_parameters.h"

namespace ddpm::nn {

class Ema {
 public:
  Ema(const FlatParameters& params, double decay);
  void update(const FlatParameters& params);
  Tensor& weights() { return shadow_; }
  const Tensor& weights() const { return shadow_; }
  double decay() const { return decay_; }

 private:
  Tensor shadow_;
  double decay_;
};

}  // namespace ddpm::nn
