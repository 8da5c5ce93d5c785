// Fused GroupNorm + SiLU: y = silu(group_norm(x)), the pair that precedes
// every conv of both UNets (SimpleUNet's conv blocks, the ddpm ResBlocks'
// norm1 and norm2, conv_norm_out).
//
// With the GroupNorm of kernels/group_norm.h (groups (n, g) of M = C/G * HW
// contiguous elements, mean mu, rstd = 1 / sqrt(var + eps)) and per (n, c)
//   scale = rstd * gamma[c],  shift = beta[c] - mu * scale   (gamma = 1, beta = 0 without affine)
//   z = x * scale + shift,    y = z * s(z),   s(z) = 1 / (1 + exp(-z))
// Backward, from grad_out g:
//   gz = g * s(z) * (1 + z * (1 - s(z)))
// then exactly GroupNorm's backward with gz in place of g (ds[n,c] = sum_hw gz*x,
// db[n,c] = sum_hw gz, gx = a[c] gz + b x + c0, ggamma, gbeta as there).
//
// What the fusion saves: one pass that writes z and one that reads it back
// in the forward; in the backward the gz tensor (written, then read twice);
// and z is not kept for the backward: only x, mu and rstd ([N, G]) are, and
// z is recomputed from them with the forward's float operations.
//
// Numerics: on the CPU the forward gives the bits of the unfused pair (same
// scale/shift, same sigmoid, kernels/cpu/sigmoid.h); the backward forms gz by
// the same float operations but recomputes z, so where the compiler contracts
// x*scale + shift into an FMA differently the gradients differ by float
// rounding (measured up to 2e-7 of the gradient's scale; the test allows 2e-6).
#pragma once

#include <cstdint>

#include "kernels/group_norm.h"
#include "tensor/tensor.h"

namespace ddpm::kernels {

// gamma and beta are both [C] or both undefined. Returns y, mean, rstd.
GroupNormForward group_norm_silu_fwd(const Tensor& x, int64_t groups, const Tensor& gamma, const Tensor& beta,
                                     double eps);
// mean and rstd as returned by group_norm_silu_fwd; beta is needed with gamma
// (z is recomputed); need_gx / need_affine as for group_norm_bwd.
GroupNormGrads group_norm_silu_bwd(const Tensor& x, const Tensor& mean, const Tensor& rstd,
                                   const Tensor& gamma, const Tensor& beta, const Tensor& grad_out,
                                   int64_t groups, bool need_gx, bool need_affine);

namespace cpu {
// Null pointers as for cpu::group_norm_fwd / group_norm_bwd.
template <class T>
void group_norm_silu_fwd(const T* x, const T* gamma, const T* beta, T* y, T* mean, T* rstd,
                         const GroupNormDims& d, double eps);
template <class T>
void group_norm_silu_bwd(const T* x, const T* mean, const T* rstd, const T* gamma, const T* beta, const T* g,
                         T* gx, T* ggamma, T* gbeta, const GroupNormDims& d);
}  // namespace cpu

namespace cuda {
// Float32 device buffers on ddpm::cuda::stream(); null pointers as for cpu::.
void group_norm_silu_fwd(const float* x, const float* gamma, const float* beta, float* y, float* mean,
                         float* rstd, const GroupNormDims& d, double eps);
void group_norm_silu_bwd(const float* x, const float* mean, const float* rstd, const float* gamma,
                         const float* beta, const float* g, float* gx, float* ggamma, float* gbeta,
                         const GroupNormDims& d);
}  // namespace cuda

}  // namespace ddpm::kernels
