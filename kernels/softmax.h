// Softmax (or log-softmax) over the last dimension of a [N, K] tensor,
// forward only (no backward: class probabilities for evaluation, such as the
// Inception-style score of a classifier; training uses cross_entropy, which
// fuses log-softmax with the loss).
//
//   m_n   = max_j x[n,j],  lse_n = m_n + log sum_j exp(x[n,j] - m_n)
//   softmax:     y[n,j] = exp(x[n,j] - lse_n)
//   log_softmax: y[n,j] = x[n,j] - lse_n
// Stable for any |x| (the row maximum is subtracted first). Both backends
// compute exp, the row sum and lse in double and round each output once.
#pragma once

#include <cstdint>

#include "tensor/tensor.h"

namespace ddpm::kernels {

struct SoftmaxDims {
  int64_t n = 0;  // rows
  int64_t k = 0;  // row length (classes)
  bool log = false;
};

// x [N, K] -> [N, K]; log = true gives log_softmax.
Tensor softmax_fwd(const Tensor& x, bool log = false);

namespace cpu {
template <class T>
void softmax_fwd(const T* x, T* y, const SoftmaxDims& d);
}  // namespace cpu

// kernels/cuda/softmax.cu; device pointers, launched on the engine stream.
namespace cuda {
void softmax_fwd(const float* x, float* y, const SoftmaxDims& d);
}  // namespace cuda

}  // namespace ddpm::kernels
