// Adam / AdamW over a FlatParameters buffer: one adam_update pass per step.
//
// Matches torch.optim.Adam (L2 weight decay added to the gradient) and
// torch.optim.AdamW (decoupled decay) — tests/test_diffusion_ops.cpp compares
// with a committed PyTorch reference. The learning rate may change every step
// (warm-up): pass it to step().
#pragma once

#include <cstdint>

#include "kernels/adam_update.h"
#include "nn/flat_parameters.h"

namespace ddpm::nn {

struct AdamConfig {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0;
  bool decoupled = false;  // AdamW
};

class Adam {
 public:
  Adam(FlatParameters& params, const AdamConfig& cfg);
  // One update with learning rate lr (the config's when lr < 0).
  void step(double lr = -1);
  // The same update, and in the same pass ema = ema_decay * ema +
  // (1 - ema_decay) * the new parameters (nn::Ema's weights; what
  // Ema::update would do right after step(lr), bit for bit).
  void step(double lr, Tensor& ema, double ema_decay);
  int64_t steps_taken() const { return step_; }

  // State for checkpoints.
  Tensor& exp_avg() { return m_; }
  Tensor& exp_avg_sq() { return v_; }
  void set_steps_taken(int64_t s) { step_ = s; }
  const AdamConfig& config() const { return cfg_; }

 private:
  void update(double lr, Tensor* ema, double ema_decay);

  FlatParameters& params_;
  AdamConfig cfg_;
  Tensor m_, v_;
  int64_t step_ = 0;
};

}  // namespace ddpm::nn
