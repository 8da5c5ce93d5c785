// 2-d max pooling, k x k windows with stride k and no padding (the UNet's
// MaxPool2d(2) between encoder stages).
//
//   x [N, C, H, W] -> y [N, C, H/k, W/k] (floor; rows/columns past the last
//   whole window are ignored)
//   y[n,c,i,j] = max over a, b in [0, k) of x[n,c, i*k + a, j*k + b]
//   bwd: gx = g at the window's argmax, 0 elsewhere
// The argmax is the first maximum in row-major window order (ties go to the
// top-left-most element) and a NaN counts as the maximum, as in PyTorch. The
// backward recomputes the argmax from x instead of saving indices (tensors
// are float only, and the windows never overlap, so each x element receives
// at most one gradient). Parallel over (n, c) planes.
#pragma once

#include <cstdint>

#include "tensor/tensor.h"

namespace ddpm::kernels {

struct MaxPool2dDims {
  int64_t planes = 0;  // N * C
  int64_t h = 0, w = 0;
  int64_t k = 2;
  int64_t oh = 0, ow = 0;  // h / k, w / k
};

Tensor max_pool2d_fwd(const Tensor& x, int64_t kernel);
Tensor max_pool2d_bwd(const Tensor& x, const Tensor& grad_out, int64_t kernel);

namespace cpu {
template <class T>
void max_pool2d_fwd(const T* x, T* y, const MaxPool2dDims& d);
// Writes every element of gx.
template <class T>
void max_pool2d_bwd(const T* x, const T* g, T* gx, const MaxPool2dDims& d);
}  // namespace cpu

// kernels/cuda/max_pool2d.cu; device pointers, launched on the engine stream.
namespace cuda {
void max_pool2d_fwd(const float* x, float* y, const MaxPool2dDims& d);
// Writes every element of gx.
void max_pool2d_bwd(const float* x, const float* g, float* gx, const MaxPool2dDims& d);
}  // namespace cuda

}  // namespace ddpm::kernels
