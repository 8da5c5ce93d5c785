// CUDA linear layer (kernels/linear.h): the three products on cuBLAS
// (kernels/cuda/cublas_gemm.cuh), row-major as PyTorch's layout.
//
//   fwd:         y = b (broadcast over rows, linear_fwd_bias_kernel), then
//                y += x W^T in one GEMM (beta = 1): the bias costs no extra
//                pass over y.
//   bwd-data:    gx = gy W
//   bwd-weight:  gW = gy^T x; gb[o] = sum_n gy[n, o] (linear_bwd_bias_kernel:
//                32 columns per block, 8 row slices per column summed in
//                double, the 8 partials added in slice order: deterministic).
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "kernels/cuda/cublas_gemm.cuh"
#include "kernels/linear.h"
#include "tensor/cuda/launch.cuh"

namespace ddpm::kernels::cuda {

namespace {

std::string dims_str(const LinearDims& d) {
  return "N " + std::to_string(d.N) + ", in " + std::to_string(d.in) + ", out " + std::to_string(d.out);
}

__global__ void linear_fwd_bias_kernel(const float* __restrict__ bias, float* __restrict__ y, int64_t total,
                                       int64_t out) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    y[i] = bias[i % out];
}

constexpr int kCols = 32, kSlices = 8;
__global__ void __launch_bounds__(kCols* kSlices)
    linear_bwd_bias_kernel(const float* __restrict__ gy, float* __restrict__ gb, int64_t rows, int64_t out) {
  __shared__ double part[kSlices][kCols];
  const int64_t o = blockIdx.x * static_cast<int64_t>(kCols) + threadIdx.x;
  double acc = 0;
  if (o < out)
    for (int64_t n = threadIdx.y; n < rows; n += kSlices) acc += static_cast<double>(gy[n * out + o]);
  part[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && o < out) {
    double sum = part[0][threadIdx.x];
    for (int s = 1; s < kSlices; ++s) sum += part[s][threadIdx.x];
    gb[o] = static_cast<float>(sum);
  }
}

}  // namespace

void linear_fwd(const float* x, const float* w, const float* bias, float* y, const LinearDims& d) {
  const std::string detail = dims_str(d);
  const int64_t total = d.N * d.out;
  if (bias && total > 0) {
    linear_fwd_bias_kernel<<<ddpm::cuda::blocks_for(total), 256, 0, ddpm::cuda::stream()>>>(bias, y, total,
                                                                                            d.out);
    DDPM_CUDA_LAUNCHED("linear_fwd_bias_kernel", detail);
  }
  gemm_row_major(false, true, d.N, d.out, d.in, x, w, y, bias != nullptr, "linear", detail);
}

void linear_bwd_data(const float* grad_out, const float* w, float* grad_x, const LinearDims& d) {
  gemm_row_major(false, false, d.N, d.in, d.out, grad_out, w, grad_x, false, "linear backward-data",
                 dims_str(d));
}

void linear_bwd_weight(const float* x, const float* grad_out, float* grad_w, float* grad_bias,
                       const LinearDims& d) {
  const std::string detail = dims_str(d);
  gemm_row_major(true, false, d.out, d.in, d.N, grad_out, x, grad_w, false, "linear backward-weight", detail);
  if (grad_bias && d.out > 0) {
    const int64_t blocks = (d.out + kCols - 1) / kCols;
    if (blocks > 0x7fffffff)
      throw std::invalid_argument("linear backward-weight (" + detail +
                                  "): too many output features for the CUDA kernel");
    linear_bwd_bias_kernel<<<static_cast<unsigned>(blocks), dim3(kCols, kSlices), 0, ddpm::cuda::stream()>>>(
        grad_out, grad_bias, d.N, d.out);
    DDPM_CUDA_LAUNCHED("linear_bwd_bias_kernel", detail);
  }
}

}  // namespace ddpm::kernels::cuda
