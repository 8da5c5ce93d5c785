// Cross-entropy of class logits against integer labels: a fused, numerically
// stable log-softmax + negative log-likelihood, mean over the batch (what
// PyTorch's F.cross_entropy(logits, labels) computes with its defaults).
//
//   logits z [N, K], labels y [N] (the logits' dtype and device, each an
//   integer value in 0 .. K-1), loss [] (a scalar):
//   m_n   = max_j z[n,j]
//   lse_n = m_n + log sum_j exp(z[n,j] - m_n)      (stable for any |z|)
//   L     = (1/N) sum_n (lse_n - z[n, y_n])
//   bwd:  gz[n,j] = (softmax(z)[n,j] - [j == y_n]) * g / N,
//         softmax(z)[n,j] = exp(z[n,j] - lse_n); no gradient to the labels.
// Labels are a float Tensor (tensors are float only) holding whole numbers;
// the entry points copy them to the host and check each is an integer in
// [0, K) ("cross_entropy: label 12 at index 3 is out of range for K = 10"),
// a device-to-host copy of N values on CUDA. Both backends accumulate in
// double: exp(double(z - m)) summed in double, the loss per row in double,
// the rows summed in a fixed order, rounded once; the backward forms the
// softmax and the scale g / N in double and rounds each element once.
#pragma once

#include <cstdint>

#include "tensor/tensor.h"

namespace ddpm::kernels {

struct CrossEntropyDims {
  int64_t n = 0;  // rows (batch)
  int64_t k = 0;  // classes
};

// Returns the mean loss, shape [].
Tensor cross_entropy_fwd(const Tensor& logits, const Tensor& labels);
// g: the scalar upstream gradient; returns the gradient of the logits, [N, K].
Tensor cross_entropy_bwd(const Tensor& logits, const Tensor& labels, const Tensor& grad_out);

namespace cpu {
// Returns the mean loss. labels holds validated whole numbers in [0, K).
template <class T>
double cross_entropy_fwd(const T* logits, const T* labels, const CrossEntropyDims& d);
// g points at the one upstream value; writes every element of gz.
template <class T>
void cross_entropy_bwd(const T* logits, const T* labels, const T* g, T* gz, const CrossEntropyDims& d);
}  // namespace cpu

// kernels/cuda/cross_entropy.cu; device pointers, launched on the engine stream.
namespace cuda {
// out[0] = float(mean loss), the sums in double, deterministic.
void cross_entropy_fwd(const float* logits, const float* labels, float* out, const CrossEntropyDims& d);
// g: the device scalar upstream gradient; writes every element of gz.
void cross_entropy_bwd(const float* logits, const float* labels, const float* g, float* gz,
                       const CrossEntropyDims& d);
}  // namespace cuda

}  // namespace ddpm::kernels
