// CUDA softmax / log-softmax over the rows of x [N, K], forward only.
//
// A block of kRowThreads per row (grid-stride over rows when N exceeds the
// grid): the threads stride over the row's K values; a fixed-order block max
// (exact) and a fixed-order block sum of exp(double(x) - max) (reduce.cuh's
// block_sum) give lse = max + log(sum) in double; then each thread writes
// float(x - lse) (log) or float(exp(double(x) - lse)). Deterministic.
#include <cstdint>
#include <string>

#include "kernels/cuda/elementwise.cuh"
#include "kernels/cuda/reduce.cuh"
#include "kernels/softmax.h"

namespace ddpm::kernels::cuda {

namespace {

constexpr int kRowThreads = 128;

// Max of v over the block (blockDim.x == Threads, a power of two); every
// thread must call it and gets the result.
template <int Threads>
__device__ double block_max(double v) {
  __shared__ double part[Threads];
  part[threadIdx.x] = v;
  __syncthreads();
#pragma unroll
  for (int s = Threads / 2; s > 0; s >>= 1) {
    if (static_cast<int>(threadIdx.x) < s && part[threadIdx.x + s] > part[threadIdx.x])
      part[threadIdx.x] = part[threadIdx.x + s];
    __syncthreads();
  }
  const double m = part[0];
  __syncthreads();
  return m;
}

__global__ void softmax_fwd_kernel(const float* __restrict__ x, float* __restrict__ y, const SoftmaxDims d) {
  for (int64_t n = blockIdx.x; n < d.n; n += gridDim.x) {
    const float* row = x + n * d.k;
    double m = static_cast<double>(row[0]);
    for (int64_t j = threadIdx.x; j < d.k; j += kRowThreads)
      if (static_cast<double>(row[j]) > m) m = static_cast<double>(row[j]);
    m = block_max<kRowThreads>(m);
    double s = 0;
    for (int64_t j = threadIdx.x; j < d.k; j += kRowThreads) s += exp(static_cast<double>(row[j]) - m);
    const double lse = m + log(block_sum<kRowThreads>(s));
    for (int64_t j = threadIdx.x; j < d.k; j += kRowThreads) {
      const double v = static_cast<double>(row[j]) - lse;
      y[n * d.k + j] = static_cast<float>(d.log ? v : exp(v));
    }
  }
}

}  // namespace

void softmax_fwd(const float* x, float* y, const SoftmaxDims& d) {
  if (d.n == 0 || d.k == 0) return;
  softmax_fwd_kernel<<<blocks_for(d.n, 1), kRowThreads, 0, ddpm::cuda::stream()>>>(x, y, d);
  DDPM_CUDA_LAUNCHED(d.log ? "softmax_fwd_kernel (log)" : "softmax_fwd_kernel",
                     std::to_string(d.n) + " rows x " + std::to_string(d.k));
}

}  // namespace ddpm::kernels::cuda
