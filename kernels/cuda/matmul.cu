// CUDA matmul (kernels/matmul.h): one cuBLAS GEMM per product, row-major
// (kernels/cuda/cublas_gemm.cuh): C = A B, gA = gC B^T, gB = A^T gC.
#include <string>

#include "kernels/cuda/cublas_gemm.cuh"
#include "kernels/matmul.h"

namespace ddpm::kernels::cuda {

namespace {
std::string dims_str(const MatmulDims& d) {
  return "[" + std::to_string(d.M) + ", " + std::to_string(d.K) + "] x [" + std::to_string(d.K) + ", " +
         std::to_string(d.N) + "]";
}
}  // namespace

void matmul_fwd(const float* a, const float* b, float* c, const MatmulDims& d) {
  gemm_row_major(false, false, d.M, d.N, d.K, a, b, c, false, "matmul", dims_str(d));
}

void matmul_bwd_a(const float* grad_out, const float* b, float* grad_a, const MatmulDims& d) {
  gemm_row_major(false, true, d.M, d.K, d.N, grad_out, b, grad_a, false, "matmul backward", dims_str(d));
}

void matmul_bwd_b(const float* a, const float* grad_out, float* grad_b, const MatmulDims& d) {
  gemm_row_major(true, false, d.K, d.N, d.M, a, grad_out, grad_b, false, "matmul backward", dims_str(d));
}

}  // namespace ddpm::kernels::cuda
