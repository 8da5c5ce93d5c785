// SiLU (swish): the activation after every GroupNorm of the UNet.
//
//   fwd: y  = x * s(x),              s(x) = 1 / (1 + exp(-x))
//   bwd: gx = g * s(x) * (1 + x * (1 - s(x)))
//
// s is evaluated from e = exp(-|x|), which never overflows:
// s = 1 / (1 + e) for x >= 0 and e / (1 + e) for x < 0. Backward recomputes s
// from x (nothing but x is saved). The float kernel uses a polynomial exp
// (kernels/cpu/fast_exp.h, about 1 ulp) so the loop vectorises; the double
// kernel uses std::exp. Elementwise: any split across threads gives the same
// bits.
#pragma once

#include <cstdint>

#include "tensor/tensor.h"

namespace ddpm::kernels {

Tensor silu_fwd(const Tensor& x);
Tensor silu_bwd(const Tensor& x, const Tensor& grad_out);

namespace cpu {
// n elements, contiguous.
template <class T>
void silu_fwd(const T* x, T* y, int64_t n);
template <class T>
void silu_bwd(const T* x, const T* g, T* gx, int64_t n);
}  // namespace cpu

// kernels/cuda/silu.cu; device pointers, launched on the engine stream.
namespace cuda {
void silu_fwd(const float* x, float* y, int64_t n);
void silu_bwd(const float* x, const float* g, float* gx, int64_t n);
}  // namespace cuda

}  // namespace ddpm::kernels
