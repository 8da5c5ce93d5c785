// Matrix product of two 2-d tensors.
//
//   fwd:  C [M, N] = A [M, K] B [K, N]
//   bwd:  gA = gC B^T  [M, K],   gB = A^T gC  [K, N]
//
// CPU kernels (kernels/cpu/matmul.cpp): one Eigen GEMM each on row-major maps,
// threaded by Eigen across the OpenMP threads when large enough.
// CUDA kernels (kernels/cuda/matmul.cu): one cuBLAS GEMM each (FP32, or TF32
// per kernels/math_mode.h).
#pragma once

#include <cstdint>

#include "tensor/tensor.h"

namespace ddpm::kernels {

struct MatmulDims {
  int64_t M, K, N;
};

Tensor matmul_fwd(const Tensor& a, const Tensor& b);
// Gradients for a and b (either pointer may be null when not needed).
void matmul_bwd(const Tensor& a, const Tensor& b, const Tensor& grad_out, Tensor* grad_a, Tensor* grad_b);

namespace cpu {
template <class T>
void matmul_fwd(const T* a, const T* b, T* c, const MatmulDims& d);
// grad_a = grad_out b^T
template <class T>
void matmul_bwd_a(const T* grad_out, const T* b, T* grad_a, const MatmulDims& d);
// grad_b = a^T grad_out
template <class T>
void matmul_bwd_b(const T* a, const T* grad_out, T* grad_b, const MatmulDims& d);
}  // namespace cpu

namespace cuda {
// Float32 device buffers, launched on ddpm::cuda::stream().
void matmul_fwd(const float* a, const float* b, float* c, const MatmulDims& d);
void matmul_bwd_a(const float* grad_out, const float* b, float* grad_a, const MatmulDims& d);
void matmul_bwd_b(const float* a, const float* grad_out, float* grad_b, const MatmulDims& d);
}  // namespace cuda

}  // namespace ddpm::kernels
