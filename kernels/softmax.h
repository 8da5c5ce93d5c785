// Softmax over the last dimension, with a scale and an optional mask, and its
// backward (the attention weights of the UNet); and, forward only, the plain
// softmax / log-softmax of a [N, K] tensor (class probabilities for
// evaluation, such as the Inception-style score of a classifier; training a
// classifier uses cross_entropy, which fuses log-softmax with the loss).
//
// x is viewed as R rows of K (R = numel / K). With scale s and mask M (mask
// row r % Rm for row r; an entry is excluded where M == 0, included elsewhere):
//   z[r,j] = s * x[r,j]                           (j included)
//   m_r    = max_j z[r,j],  lse_r = m_r + log sum_j exp(z[r,j] - m_r)
//   softmax:     y[r,j] = exp(z[r,j] - lse_r), and exactly 0 where excluded
//   log_softmax: y[r,j] = z[r,j] - lse_r, and -inf where excluded
// (sums and maxima over the included j only). A row with no included entry
// (fully masked), or whose included entries are all -inf, gives all zeros
// (-inf for log_softmax): no NaN, and no gradient through it.
//   backward (softmax): gx[r,j] = s * y[r,j] * (g[r,j] - sum_i g[r,i] y[r,i])
// which is 0 at excluded entries (y = 0 there), so it needs no mask.
// Stable for any |x| (the row maximum is subtracted first). Both backends
// compute z, exp, the row sums and lse in double and round each output once;
// the backward's dot product and product too.
#pragma once

#include <cstdint>

#include "tensor/tensor.h"

namespace ddpm::kernels {

struct SoftmaxDims {
  int64_t n = 0;  // rows R
  int64_t k = 0;  // row length K (classes, keys)
  bool log = false;
  double scale = 1.0;     // s: softmax of s * x
  int64_t mask_rows = 0;  // Rm; 0: no mask (the mask pointer is ignored)
};

// x [N, K] -> [N, K]; log = true gives log_softmax. Forward only (evaluation).
Tensor softmax_fwd(const Tensor& x, bool log = false);
// The differentiable softmax (autograd/functions.h): over the last dim of x
// (any leading dims), of scale * x; mask undefined, or of x's dtype and device
// and shape [K] or [Rm, K] with Rm dividing the R rows of x (row r uses mask
// row r % Rm: an attention mask [Lq, Lk] over x [B*heads, Lq, Lk]).
Tensor softmax_fwd(const Tensor& x, double scale, const Tensor& mask);
// gx from the forward's output y and the upstream gradient, same shape as y.
Tensor softmax_bwd(const Tensor& y, const Tensor& grad_out, double scale);

namespace cpu {
// mask: Rm x K values, or null when d.mask_rows == 0.
template <class T>
void softmax_fwd(const T* x, const T* mask, T* y, const SoftmaxDims& d);
// Uses d.n, d.k and d.scale.
template <class T>
void softmax_bwd(const T* y, const T* g, T* gx, const SoftmaxDims& d);
}  // namespace cpu

// kernels/cuda/softmax.cu; device pointers, launched on the engine stream.
namespace cuda {
void softmax_fwd(const float* x, const float* mask, float* y, const SoftmaxDims& d);
void softmax_bwd(const float* y, const float* g, float* gx, const SoftmaxDims& d);
}  // namespace cuda

}  // namespace ddpm::kernels
