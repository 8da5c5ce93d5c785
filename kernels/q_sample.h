// q_sample: the forward (noising) process for a batch of per-sample timesteps,
// fused with the noise draw and the training target.
//
//   eps[n,i] = normal(seed, stream, offset + n*P + i)       (Philox, tensor/philox.h)
//   x_t[n,i] = a[n] * x0[n,i] + b[n] * eps[n,i]          a = sqrt(alphabar_t), b = sqrt(1 - alphabar_t)
//   target   = eps                  (v_target false: epsilon prediction)
//            = a[n]*eps - b[n]*x0   (v_target true: v prediction, Salimans & Ho 2022)
// P is the number of elements per sample. The noise index is the element's
// flat index plus `offset`, so the CUDA kernel draws the same eps.
#pragma once

#include <cstdint>

#include "tensor/tensor.h"

namespace ddpm::kernels {

struct QSampleResult {
  Tensor x_t, noise, target;  // target shares noise's storage for epsilon prediction
};

// x0 [N, ...]; coef_a, coef_b [N] of x0's dtype and device.
QSampleResult q_sample(const Tensor& x0, const Tensor& coef_a, const Tensor& coef_b, uint64_t seed,
                       uint64_t stream, uint64_t offset, bool v_target);

struct QSampleDims {
  int64_t batch, per_sample;
  uint64_t seed, stream, offset;
  bool v_target;
};

namespace cpu {
// target may alias noise when !v_target (then it is not written separately).
template <class T>
void q_sample(const T* x0, const T* a, const T* b, T* x_t, T* noise, T* target, const QSampleDims& d);
}  // namespace cpu

// kernels/cuda/q_sample.cu; device pointers, launched on the engine stream.
namespace cuda {
// target may alias noise when !v_target (then it is not written separately).
void q_sample(const float* x0, const float* a, const float* b, float* x_t, float* noise, float* target,
              const QSampleDims& d);
}  // namespace cuda

}  // namespace ddpm::kernels
