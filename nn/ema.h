// EMA of a model's weights, kept in one flat buffer beside FlatParameters.
//
//   ema = d * ema + (1 - d) * params      after optimizer step s (0-based)
//   d   = min(decay, (1 + s) / (10 + s))  (warm-up)
// The warm-up keeps the random initial weights from dominating the average of
// a short run: with decay 0.995 and no warm-up the EMA after 400 steps still
// holds 0.995^400 = 13% of the initialisation; with it, d starts at 0.1 and
// reaches 0.995 at step 1790. The EMA weights are what sampling uses (and what
// model.safetensors holds when EMA is on). decay 0 means off.
#pragma once

#include <cstdint>

#include "nn/flat_parameters.h"

namespace ddpm::nn {

class Ema {
 public:
  Ema(const FlatParameters& params, double decay);
  // Blend in the weights after optimizer step `step` (0-based).
  void update(const FlatParameters& params, int64_t step);
  // The decay update(…, step) uses.
  double decay_at(int64_t step) const;
  Tensor& weights() { return shadow_; }
  const Tensor& weights() const { return shadow_; }
  double decay() const { return decay_; }

 private:
  Tensor shadow_;
  double decay_;
};

}  // namespace ddpm::nn
