// Row-major FP32 GEMMs on cuBLAS, for linear and matmul (one product) and
// bmm (a strided batch of them).
//
// cuBLAS is column-major; a row-major [R, C] matrix is the column-major
// [C, R] matrix with the same bytes. So C = op(A) op(B) (all row-major) is
// computed as the column-major C^T = op(B)^T op(A)^T: cublasSgemm with the
// operands swapped, the same transpose flags, m = N and n = M.
//
// One cuBLAS handle, created on first use and bound to ddpm::cuda::stream().
// Precision follows kernels/math_mode.h: fp32 uses CUBLAS_DEFAULT_MATH (no
// TF32: default math never lowers the precision of the requested type),
// tf32 uses CUBLAS_TF32_TENSOR_OP_MATH. cuBLAS gives bitwise identical
// results run to run on GPUs of the same architecture and SM count when a
// single stream is active, which is the engine's case.
#pragma once

#include <cstdint>
#include <string>

namespace ddpm::kernels::cuda {

// C [M, N] = op(A) op(B) + (accumulate ? C : 0), all row-major and dense;
// op(A) is [M, K] (A is stored [K, M] when trans_a), op(B) is [K, N] (B is
// stored [N, K] when trans_b). `op` and `detail` name the caller in errors.
void gemm_row_major(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A,
                    const float* B, float* C, bool accumulate, const char* op, const std::string& detail);

// The same product for `batch` matrices at once (cublasSgemmStridedBatched):
// C_i = op(A_i) op(B_i) with A_i = A + i*stride_a, B_i = B + i*stride_b,
// C_i = C + i*stride_c (elements), each as in gemm_row_major; C is
// overwritten. Math mode as above.
void gemm_strided_batched_row_major(bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N,
                                    int64_t K, const float* A, int64_t stride_a, const float* B,
                                    int64_t stride_b, float* C, int64_t stride_c, const char* op,
                                    const std::string& detail);

}  // namespace ddpm::kernels::cuda
