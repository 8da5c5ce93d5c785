// Bilinear upsampling by an integer factor with align_corners=True (the UNet's
// nn.Upsample(scale_factor=2, mode='bilinear', align_corners=True)).
//
//   x [N, C, H, W] -> y [N, C, H*s, W*s]
//   source row of output row i: r = i * (H - 1) / (H*s - 1)  (0 when H*s == 1)
//   h0 = floor(r), h1 = min(h0 + 1, H - 1), lh = r - h0   (columns alike)
//   y[i, j] = (1-lh) * ((1-lw) x[h0,w0] + lw x[h0,w1]) + lh * ((1-lw) x[h1,w0] + lw x[h1,w1])
//   bwd: each g[i, j] goes to the same four inputs with the same weights,
//        summed separably: gx[y][x] = sum_j lw_j (sum_i lh_i g[i][j]) over
//        the rows i and columns j whose taps include y and x, in order.
// Weights and indices are computed per output row and column once, in the
// input's dtype (as PyTorch does). Parallel over (n, c) planes: a plane's
// sums touch only its own gx plane, so there are no races and the
// summation order is fixed.
#pragma once

#include <cstdint>

#include "tensor/tensor.h"

namespace ddpm::kernels {

struct UpsampleBilinear2dDims {
  int64_t planes = 0;  // N * C
  int64_t h = 0, w = 0;
  int64_t oh = 0, ow = 0;  // h * scale, w * scale
};

Tensor upsample_bilinear2d_fwd(const Tensor& x, int64_t scale);
// x_shape: the forward input's shape.
Tensor upsample_bilinear2d_bwd(const Tensor& grad_out, const Shape& x_shape, int64_t scale);

namespace cpu {
template <class T>
void upsample_bilinear2d_fwd(const T* x, T* y, const UpsampleBilinear2dDims& d);
// Writes every element of gx.
template <class T>
void upsample_bilinear2d_bwd(const T* g, T* gx, const UpsampleBilinear2dDims& d);
}  // namespace cpu

// kernels/cuda/upsample_bilinear2d.cu; device pointers, launched on the
// engine stream.
namespace cuda {
void upsample_bilinear2d_fwd(const float* x, float* y, const UpsampleBilinear2dDims& d);
// Writes every element of gx (gathers; no atomics).
void upsample_bilinear2d_bwd(const float* g, float* gx, const UpsampleBilinear2dDims& d);
}  // namespace cuda

}  // namespace ddpm::kernels
