// Mean squared error, the DDPM training loss (predicted vs true noise).
//
//   fwd: L = (1/n) sum_i (p_i - t_i)^2          shape [], n = numel
//   bwd: gp_i = 2 (p_i - t_i) / n * g,  gt_i = -gp_i
// pred and target must have the same shape (no broadcasting, unlike
// PyTorch's warning-and-broadcast). The sum is blocked like kernels/sum.h:
// fixed chunks summed in double, partials added in chunk order, so the loss
// does not depend on the thread count.
#pragma once

#include <cstdint>

#include "tensor/tensor.h"

namespace ddpm::kernels {

struct MseLossDims {
  int64_t n = 0;  // elements of pred (= of target)
};

Tensor mse_loss_fwd(const Tensor& pred, const Tensor& target);
// The loss and, in the same pass on the CPU, *grad_pred = d loss / d pred =
// 2 (p - t) / n (the backward for an upstream gradient of 1, bit for bit what
// mse_loss_bwd gives then). The training step's loss always feeds its
// backward, so the CPU reads pred and target once instead of twice. On CUDA:
// the two kernels, one after the other.
Tensor mse_loss_fwd(const Tensor& pred, const Tensor& target, Tensor* grad_pred);
// g: the scalar upstream gradient. Either out-pointer may be null.
void mse_loss_bwd(const Tensor& pred, const Tensor& target, const Tensor& grad_out, Tensor* grad_pred,
                  Tensor* grad_target);

namespace cpu {
// Returns the mean of the squared differences; gp (may be null) gets
// 2 (p - t) / n in the same pass.
template <class T>
double mse_loss_fwd(const T* pred, const T* target, T* gp, const MseLossDims& d);
// g points at the one upstream value; gp / gt may be null.
template <class T>
void mse_loss_bwd(const T* pred, const T* target, const T* g, T* gp, T* gt, const MseLossDims& d);
}  // namespace cpu

// kernels/cuda/mse_loss.cu; device pointers, launched on the engine stream.
namespace cuda {
// out[0] = float(sum (p - t)^2 / n), the sum in double, deterministic.
void mse_loss_fwd(const float* pred, const float* target, float* out, const MseLossDims& d);
// g: the device scalar upstream gradient; gp / gt may be null.
void mse_loss_bwd(const float* pred, const float* target, const float* g, float* gp, float* gt,
                  const MseLossDims& d);
}  // namespace cuda

}  // namespace ddpm::kernels
