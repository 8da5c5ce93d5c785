// CUDA global average pooling, x [planes = N*C, H*W] -> y [planes].
//
// Forward: a block of kPlaneThreads per plane (grid-stride over planes when
// there are more than the grid): the threads stride over the plane's H*W
// values accumulating in double, a fixed-order block sum (reduce.cuh's
// block_sum), thread 0 writes float(sum / (H W)). Deterministic.
// Backward: elementwise over gx, a thread per element (grid-stride):
// gx[e] = float(double(g[e / (H W)]) / (H W)), as the CPU kernel rounds it.
#include <cstdint>
#include <string>

#include "kernels/cuda/elementwise.cuh"
#include "kernels/cuda/reduce.cuh"
#include "kernels/global_avg_pool2d.h"

namespace ddpm::kernels::cuda {

namespace {

constexpr int kPlaneThreads = 128;

__global__ void global_avg_pool2d_fwd_kernel(const float* __restrict__ x, float* __restrict__ y,
                                             const GlobalAvgPool2dDims d) {
  for (int64_t p = blockIdx.x; p < d.planes; p += gridDim.x) {
    const float* plane = x + p * d.hw;
    double s = 0;
    for (int64_t i = threadIdx.x; i < d.hw; i += kPlaneThreads) s += static_cast<double>(plane[i]);
    s = block_sum<kPlaneThreads>(s);
    if (threadIdx.x == 0) y[p] = static_cast<float>(s / static_cast<double>(d.hw));
  }
}

__global__ void global_avg_pool2d_bwd_kernel(const float* __restrict__ g, float* __restrict__ gx,
                                             const GlobalAvgPool2dDims d) {
  const int64_t n = d.planes * d.hw;
  for (int64_t e = global_thread(); e < n; e += global_threads())
    gx[e] = static_cast<float>(static_cast<double>(g[e / d.hw]) / static_cast<double>(d.hw));
}

std::string describe(const GlobalAvgPool2dDims& d) {
  return std::to_string(d.planes) + " planes of " + std::to_string(d.hw);
}

}  // namespace

void global_avg_pool2d_fwd(const float* x, float* y, const GlobalAvgPool2dDims& d) {
  if (d.planes == 0) return;
  global_avg_pool2d_fwd_kernel<<<blocks_for(d.planes, 1), kPlaneThreads, 0, ddpm::cuda::stream()>>>(x, y, d);
  DDPM_CUDA_LAUNCHED("global_avg_pool2d_fwd_kernel", describe(d));
}

void global_avg_pool2d_bwd(const float* g, float* gx, const GlobalAvgPool2dDims& d) {
  const int64_t n = d.planes * d.hw;
  if (n == 0) return;
  global_avg_pool2d_bwd_kernel<<<blocks_for(n, kThreads), kThreads, 0, ddpm::cuda::stream()>>>(g, gx, d);
  DDPM_CUDA_LAUNCHED("global_avg_pool2d_bwd_kernel", describe(d));
}

}  // namespace ddpm::kernels::cuda
