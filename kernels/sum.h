// Full reductions: sum and mean of all elements, to a scalar (shape []).
//
//   fwd: s = sum_i x_i            mean = s / n
//   bwd: gx_i = g                 gx_i = g / n
// The CPU sum is blocked: fixed-size chunks are summed (in double for float
// inputs) and the partial sums added in chunk order, so the result does not
// depend on the thread count.
#pragma once

#include "tensor/tensor.h"

namespace ddpm::kernels {

Tensor sum_fwd(const Tensor& x);
Tensor mean_fwd(const Tensor& x);
// Broadcasts the scalar gradient g (times scale) to `shape`.
Tensor sum_bwd(const Tensor& g, const Shape& shape, double scale = 1.0);

namespace cpu {
template <class T>
double sum(const T* x, int64_t n);
template <class T>
void fill_scaled(const T* g, T* out, int64_t n, double scale);
}  // namespace cpu

// kernels/cuda/sum.cu; device pointers, launched on the engine stream.
namespace cuda {
// out[0] = float(sum(x) * scale), the sum in double, deterministic.
void sum_fwd(const float* x, float* out, int64_t n, double scale);
// out[i] = float(double(g[0]) * scale); g is a device scalar.
void sum_bwd(const float* g, float* out, int64_t n, double scale);
}  // namespace cuda

}  // namespace ddpm::kernels
