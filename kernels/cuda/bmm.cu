// CUDA bmm (kernels/bmm.h): one cuBLAS strided-batched GEMM per product,
// row-major (kernels/cuda/cublas_gemm.cuh): matrix b of the batch starts
// b*M*K, b*K*N and b*M*N elements into A, B and C. No kernels of ours; FP32
// or TF32 per kernels/math_mode.h, like matmul.
#include <string>

#include "kernels/bmm.h"
#include "kernels/cuda/cublas_gemm.cuh"

namespace ddpm::kernels::cuda {

void bmm_fwd(const float* a, const float* b, float* c, const BmmDims& d) {
  const std::string detail = std::to_string(d.batch) + " x " +
                             (d.trans_a ? "[" + std::to_string(d.K) + ", " + std::to_string(d.M) + "]^T"
                                        : "[" + std::to_string(d.M) + ", " + std::to_string(d.K) + "]") +
                             " x " +
                             (d.trans_b ? "[" + std::to_string(d.N) + ", " + std::to_string(d.K) + "]^T"
                                        : "[" + std::to_string(d.K) + ", " + std::to_string(d.N) + "]");
  gemm_strided_batched_row_major(d.trans_a, d.trans_b, d.batch, d.M, d.N, d.K, a, d.M * d.K, b, d.K * d.N, c,
                                 d.M * d.N, "bmm", detail);
}

}  // namespace ddpm::kernels::cuda
