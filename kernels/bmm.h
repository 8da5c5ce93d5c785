// Batched matrix product with transpose flags, for attention: B independent
// products of dense row-major matrices stored one after the other.
//
//   fwd:  C[b] [M, N] = op_a(A[b]) op_b(B[b])
//         op_a(A) = A [M, K], or A^T with A stored [K, M] (trans_a);
//         op_b(B) = B [K, N], or B^T with B stored [N, K] (trans_b).
//   bwd:  gA = gC op_b(B)^T  [M, K]   (trans_a: gA = op_b(B) gC^T, [K, M])
//         gB = op_a(A)^T gC  [K, N]   (trans_b: gB = gC^T op_a(A), [N, K])
// Each backward product is again a batched product of stored matrices with
// transpose flags (BmmDims below), so forward and backward share one kernel:
//   gA = bmm(gC, B, false, !trans_b)         gA^T form: bmm(B, gC, trans_b, true)
//   gB = bmm(A, gC, !trans_a, false)         gB^T form: bmm(gC, A, true, trans_a)
//
// CPU kernel (kernels/cpu/bmm.cpp): one Eigen GEMM per matrix on row-major
// maps; the batch is split over the OpenMP threads when it has enough
// matrices (or they are small), otherwise Eigen threads each product.
// CUDA kernel (kernels/cuda/bmm.cu): one cuBLAS strided-batched GEMM (FP32,
// or TF32 per kernels/math_mode.h).
#pragma once

#include <cstdint>

#include "tensor/tensor.h"

namespace ddpm::kernels {

// C[b] [M, N] = op_a(A[b]) op_b(B[b]) for b < batch; A[b] holds M*K values
// (stored [M, K], or [K, M] when trans_a), B[b] K*N ([K, N], or [N, K] when
// trans_b), C[b] M*N, each matrix right after the previous one.
struct BmmDims {
  int64_t batch, M, K, N;
  bool trans_a, trans_b;
};

// a [B, M, K] ([B, K, M] when trans_a), b [B, K, N] ([B, N, K] when trans_b) -> [B, M, N].
Tensor bmm_fwd(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b);
// Gradients for a and b (either pointer may be null when not needed), shaped as a and b.
void bmm_bwd(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b, const Tensor& grad_out,
             Tensor* grad_a, Tensor* grad_b);

namespace cpu {
template <class T>
void bmm_fwd(const T* a, const T* b, T* c, const BmmDims& d);
}  // namespace cpu

// kernels/cuda/bmm.cu; device pointers, launched on the engine stream.
namespace cuda {
void bmm_fwd(const float* a, const float* b, float* c, const BmmDims& d);
}  // namespace cuda

}  // namespace ddpm::kernels
