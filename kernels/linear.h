// Fully connected layer, PyTorch's layout: weight [out, in].
//
//   fwd:  y [N, out] = x [N, in] W^T + b       (b [out] optional)
//   bwd:  gx = gy W  [N, in]
//         gW = gy^T x  [out, in]
//         gb[o] = sum_n gy[n, o]
//
// CPU kernels (kernels/cpu/linear.cpp): Eigen GEMMs on row-major maps,
// threaded by Eigen when large enough; the bias gradient is summed over rows
// in order (in double), so everything is deterministic for a thread count.
// CUDA kernels (kernels/cuda/linear.cu): cuBLAS GEMMs (FP32, or TF32 per
// kernels/math_mode.h) and two small bias kernels.
#pragma once

#include <cstdint>

#include "tensor/tensor.h"

namespace ddpm::kernels {

struct LinearDims {
  int64_t N, in, out;
};

// b may be undefined (no bias).
Tensor linear_fwd(const Tensor& x, const Tensor& w, const Tensor& b);
Tensor linear_bwd_data(const Tensor& grad_out, const Tensor& w);
// The gradient of w; and of the bias into *grad_bias when not null.
Tensor linear_bwd_weight(const Tensor& x, const Tensor& grad_out, Tensor* grad_bias = nullptr);

namespace cpu {
// bias and grad_bias may be null.
template <class T>
void linear_fwd(const T* x, const T* w, const T* bias, T* y, const LinearDims& d);
template <class T>
void linear_bwd_data(const T* grad_out, const T* w, T* grad_x, const LinearDims& d);
template <class T>
void linear_bwd_weight(const T* x, const T* grad_out, T* grad_w, T* grad_bias, const LinearDims& d);
}  // namespace cpu

namespace cuda {
// Float32 device buffers, launched on ddpm::cuda::stream(); bias and
// grad_bias may be null.
void linear_fwd(const float* x, const float* w, const float* bias, float* y, const LinearDims& d);
void linear_bwd_data(const float* grad_out, const float* w, float* grad_x, const LinearDims& d);
void linear_bwd_weight(const float* x, const float* grad_out, float* grad_w, float* grad_bias,
                       const LinearDims& d);
}  // namespace cuda

}  // namespace ddpm::kernels
