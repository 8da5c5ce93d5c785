// adam_update: one Adam / AdamW step over a flat parameter buffer, in one pass.
//
// As torch.optim.Adam / AdamW (single-tensor path of PyTorch 1.13), per element:
//   Adam  (L2):      g = g + wd * p
//   AdamW (decoupled): p = p * (1 - lr * wd)
//   m = beta1 * m + (1 - beta1) * g
//   v = beta2 * v + (1 - beta2) * g^2
//   p = p - (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps)
// with bias corrections bc1 = 1 - beta1^step, bc2 = 1 - beta2^step (step >= 1).
// Parameters, gradients and both moments are each one contiguous buffer
// (nn/module.h flattens a model's parameters into views of one buffer), so the
// whole model updates in one launch.
//
// With an EMA buffer (the trainer's sampling weights), the same pass also does
//   ema = ema_decay * ema + (1 - ema_decay) * p      (p: the updated parameter)
// exactly as kernels/ema_update.h does after the step, bit for bit, so the
// trainer reads the parameters once instead of twice (40 -> 32 bytes per
// parameter per step).
#pragma once

#include <cstdint>

#include "tensor/tensor.h"

namespace ddpm::kernels {

struct AdamParams {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0;
  bool decoupled = false;  // AdamW
  int64_t step = 1;        // the step being taken, 1-based
  double ema_decay = 0;    // used only with an EMA buffer: in [0, 1)
};

// Updates param, exp_avg, exp_avg_sq in place; all four of the same shape.
// ema (optional, same shape): also updated in place from the new param.
void adam_update(Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq, const AdamParams& p,
                 Tensor* ema = nullptr);

namespace cpu {
// ema may be null.
template <class T>
void adam_update(T* param, const T* grad, T* m, T* v, T* ema, int64_t n, const AdamParams& p);
}  // namespace cpu

// kernels/cuda/adam_update.cu; device pointers, launched on the engine stream;
// ema may be null.
namespace cuda {
void adam_update(float* param, const float* grad, float* m, float* v, float* ema, int64_t n,
                 const AdamParams& p);
}

}  // namespace ddpm::kernels
