// The engine's cuBLAS handle and the row-major GEMMs, single and strided-batched
// (kernels/cuda/cublas_gemm.cuh).
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <climits>
#include <mutex>
#include <stdexcept>

#include "kernels/cuda/cublas_gemm.cuh"
#include "kernels/math_mode.h"
#include "tensor/cuda/launch.cuh"

namespace ddpm::kernels::cuda {

namespace {

void check_cublas(cublasStatus_t status, const char* what, const std::string& detail) {
  if (status != CUBLAS_STATUS_SUCCESS)
    throw std::runtime_error(std::string(what) + (detail.empty() ? "" : " (" + detail + ")") +
                             ": cuBLAS error " + cublasGetStatusName(status) + ": " +
                             cublasGetStatusString(status));
}

// Created once, never destroyed: it lives as long as the CUDA context.
cublasHandle_t handle() {
  static const cublasHandle_t h = [] {
    cublasHandle_t created = nullptr;
    check_cublas(cublasCreate(&created), "cublasCreate", "");
    check_cublas(cublasSetStream(created, ddpm::cuda::stream()), "cublasSetStream", "");
    return created;
  }();
  return h;
}

// The math mode is a property of the handle: set and used under one lock.
std::mutex g_mu;

}  // namespace

void gemm_row_major(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A,
                    const float* B, float* C, bool accumulate, const char* op, const std::string& detail) {
  if (M == 0 || N == 0) return;
  if (M > INT_MAX || N > INT_MAX || K > INT_MAX)
    throw std::invalid_argument(std::string(op) + " (" + detail +
                                "): a GEMM dimension exceeds cuBLAS's 2^31 - 1");
  if (K == 0) {  // an empty sum
    if (!accumulate)
      ddpm::cuda::check(
          cudaMemsetAsync(C, 0, static_cast<size_t>(M * N) * sizeof(float), ddpm::cuda::stream()), op,
          detail);
    return;
  }
  const int m = static_cast<int>(N), n = static_cast<int>(M), k = static_cast<int>(K);
  // Column-major leading dimensions of the stored matrices.
  const int ldb = trans_b ? k : m;  // B stored [N, K] or [K, N] row-major
  const int lda = trans_a ? n : k;  // A stored [K, M] or [M, K] row-major
  const float alpha = 1.f, beta = accumulate ? 1.f : 0.f;
  const cublasMath_t mode = math_mode() == MathMode::tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH;
  std::lock_guard<std::mutex> lock(g_mu);
  cublasHandle_t h = handle();
  check_cublas(cublasSetMathMode(h, mode), op, detail);
  check_cublas(cublasSgemm(h, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, m, n,
                           k, &alpha, B, ldb, A, lda, &beta, C, m),
               op, detail);
}

void gemm_strided_batched_row_major(bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N,
                                    int64_t K, const float* A, int64_t stride_a, const float* B,
                                    int64_t stride_b, float* C, int64_t stride_c, const char* op,
                                    const std::string& detail) {
  if (batch == 0 || M == 0 || N == 0) return;
  if (batch > INT_MAX || M > INT_MAX || N > INT_MAX || K > INT_MAX)
    throw std::invalid_argument(std::string(op) + " (" + detail +
                                "): a batched GEMM dimension exceeds cuBLAS's 2^31 - 1");
  if (K == 0) {  // empty sums: zero each C_i (one memset when they are back to back)
    const bool packed = stride_c == M * N;
    for (int64_t i = 0; i < (packed ? 1 : batch); ++i)
      ddpm::cuda::check(cudaMemsetAsync(C + i * stride_c, 0,
                                        static_cast<size_t>((packed ? batch : 1) * M * N) * sizeof(float),
                                        ddpm::cuda::stream()),
                        op, detail);
    return;
  }
  // Column-major view as in gemm_row_major: C_i^T = op(B_i)^T op(A_i)^T.
  const int m = static_cast<int>(N), n = static_cast<int>(M), k = static_cast<int>(K);
  const int ldb = trans_b ? k : m;
  const int lda = trans_a ? n : k;
  const float alpha = 1.f, beta = 0.f;
  const cublasMath_t mode = math_mode() == MathMode::tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH;
  std::lock_guard<std::mutex> lock(g_mu);
  cublasHandle_t h = handle();
  check_cublas(cublasSetMathMode(h, mode), op, detail);
  check_cublas(cublasSgemmStridedBatched(
                   h, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, m, n, k,
                   &alpha, B, ldb, static_cast<long long>(stride_b), A, lda, static_cast<long long>(stride_a),
                   &beta, C, m, static_cast<long long>(stride_c), static_cast<int>(batch)),
               op, detail);
}

}  // namespace ddpm::kernels::cuda
