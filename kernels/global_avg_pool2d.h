// Global average pooling: the mean of each (n, c) plane (a classifier's head
// before its linear layer; flatten is then reshape(y, {N, C}), or y already
// is [N, C]).
//
//   x [N, C, H, W] -> y [N, C],  y[n,c] = (1 / (H W)) sum_{i,j} x[n,c,i,j]
//   bwd: gx[n,c,i,j] = g[n,c] / (H W)
// The plane sum is accumulated in double on both backends (a fixed order on
// each) and rounded once; the backward forms double(g) / (H W) and rounds it
// once, so its two backends agree bit for bit.
#pragma once

#include <cstdint>

#include "tensor/tensor.h"

namespace ddpm::kernels {

struct GlobalAvgPool2dDims {
  int64_t planes = 0;  // N * C
  int64_t hw = 0;      // H * W
};

Tensor global_avg_pool2d_fwd(const Tensor& x);
// grad_out [N, C]; returns gx of x's shape.
Tensor global_avg_pool2d_bwd(const Tensor& x, const Tensor& grad_out);

namespace cpu {
template <class T>
void global_avg_pool2d_fwd(const T* x, T* y, const GlobalAvgPool2dDims& d);
// Writes every element of gx.
template <class T>
void global_avg_pool2d_bwd(const T* g, T* gx, const GlobalAvgPool2dDims& d);
}  // namespace cpu

// kernels/cuda/global_avg_pool2d.cu; device pointers, launched on the engine stream.
namespace cuda {
void global_avg_pool2d_fwd(const float* x, float* y, const GlobalAvgPool2dDims& d);
void global_avg_pool2d_bwd(const float* g, float* gx, const GlobalAvgPool2dDims& d);
}  // namespace cuda

}  // namespace ddpm::kernels
