// Group normalisation (GroupNorm(8, C) follows every conv of the UNet).
//
// x [N, C, *] (the UNet's [N, C, H, W], or [N, C]) is split per sample into
// G groups of C/G consecutive channels; group (n, g) holds M = C/G * HW
// contiguous elements. With mean mu and biased variance var over them,
//   rstd = 1 / sqrt(var + eps),  xhat = (x - mu) * rstd,
//   y    = xhat * gamma[c] + beta[c]          (gamma = 1, beta = 0 without affine)
// Backward, with ds[n,c] = sum_hw g*x and db[n,c] = sum_hw g:
//   gbeta[c]  = sum_n db[n,c]
//   ggamma[c] = sum_n (ds[n,c] - mu * db[n,c]) * rstd
//   gx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)),  dxhat = g * gamma[c]
//      = gamma[c]*rstd * g + b * x + c0  per group, where with
//        A = sum_c gamma[c] db[n,c],  B = sum_c gamma[c] (ds[n,c] - mu db[n,c]) rstd
//        b  = -rstd^2 * B / M,   c0 = -b * mu - rstd * A / M
// Statistics and these sums are accumulated in double for either dtype; the
// forward saves mu and rstd ([N, G], the input's dtype) for the backward.
//
// Parallelisation: one task per (n, g) group for the forward and for gx (the
// group's ds/db are computed inside its task). ggamma/gbeta then add the
// per-(n, c) partials over n in a fixed order, so every result is independent
// of the thread count.
// CUDA kernels (kernels/cuda/group_norm.cu): split reductions (so that a
// small batch still fills the GPU) with fixed-order partial sums, no atomics.
#pragma once

#include <cstdint>

#include "tensor/tensor.h"

namespace ddpm::kernels {

struct GroupNormDims {
  int64_t n = 0;       // batch
  int64_t c = 0;       // channels
  int64_t hw = 1;      // elements per channel (product of the dims after C)
  int64_t groups = 1;  // G, divides c
};

struct GroupNormForward {
  Tensor y;     // x's shape
  Tensor mean;  // [N, G]
  Tensor rstd;  // [N, G]
};

struct GroupNormGrads {
  Tensor gx, ggamma, gbeta;  // undefined where not asked for
};

// The dims of x [N, C, *] in `groups` groups; throws, naming op and x's
// shape, when x has fewer than 2 dims or C is not divisible by groups.
GroupNormDims group_norm_dims(const Tensor& x, int64_t groups, const char* op);
// Throws unless gamma and beta are both undefined or both [C] like x.
void check_group_norm_affine(const Tensor& x, const Tensor& gamma, const Tensor& beta, const char* op);

// gamma and beta are both [C] or both undefined.
GroupNormForward group_norm_fwd(const Tensor& x, int64_t groups, const Tensor& gamma, const Tensor& beta,
                                double eps);
// mean and rstd as returned by group_norm_fwd; gamma undefined without affine.
// need_gx / need_affine choose which gradients are computed.
GroupNormGrads group_norm_bwd(const Tensor& x, const Tensor& mean, const Tensor& rstd, const Tensor& gamma,
                              const Tensor& grad_out, int64_t groups, bool need_gx, bool need_affine);

namespace cpu {
// gamma/beta may be null (no affine). mean, rstd: [n * groups].
template <class T>
void group_norm_fwd(const T* x, const T* gamma, const T* beta, T* y, T* mean, T* rstd, const GroupNormDims& d,
                    double eps);
// gx may be null (not needed); ggamma/gbeta may be null together (not needed
// or no affine). gamma null means gamma = 1.
template <class T>
void group_norm_bwd(const T* x, const T* mean, const T* rstd, const T* gamma, const T* g, T* gx, T* ggamma,
                    T* gbeta, const GroupNormDims& d);
}  // namespace cpu

namespace cuda {
// Float32 device buffers, launched on ddpm::cuda::stream(); null pointers as
// for the cpu:: kernels.
void group_norm_fwd(const float* x, const float* gamma, const float* beta, float* y, float* mean, float* rstd,
                    const GroupNormDims& d, double eps);
void group_norm_bwd(const float* x, const float* mean, const float* rstd, const float* gamma, const float* g,
                    float* gx, float* ggamma, float* gbeta, const GroupNormDims& d);
}  // namespace cuda

}  // namespace ddpm::kernels
