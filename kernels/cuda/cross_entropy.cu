// CUDA cross-entropy (fused log-softmax + NLL, mean over rows), forward and
// backward.
//
// Layout: logits [N, K] row-major, labels [N] floats holding whole numbers
// (validated on the host by the entry points). A block of kRowThreads per
// row (grid-stride over rows when N exceeds the grid): the threads stride
// over the row's K classes, a fixed-order block max (exact) and a fixed-order
// block sum of exp(double(z) - max) (reduce.cuh's block_sum) give the row's
// lse = max + log(sum) in double.
// Forward: thread 0 writes the row's loss lse - z[label] (double) to a
// scratch partial; reduce_finish_kernel adds the N partials in order and
// writes float(total / N). No atomics; repeatable bit for bit.
// Backward: the same block per row recomputes lse, then each thread writes
// gz = float((exp(double(z) - lse) - [j == label]) * double(g) / N).
#include <cstdint>
#include <string>

#include "kernels/cross_entropy.h"
#include "kernels/cuda/elementwise.cuh"
#include "kernels/cuda/reduce.cuh"

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

// log sum_j exp(row[j]) over the row's k values; called by every thread of the block.
__device__ double row_lse(const float* row, int64_t k) {
  double m = static_cast<double>(row[0]);
  for (int64_t j = threadIdx.x; j < k; j += kRowThreads)
    if (static_cast<double>(row[j]) > m) m = static_cast<double>(row[j]);
  m = block_max<kRowThreads>(m);
  double s = 0;
  for (int64_t j = threadIdx.x; j < k; j += kRowThreads) s += exp(static_cast<double>(row[j]) - m);
  s = block_sum<kRowThreads>(s);
  return m + log(s);
}

__global__ void cross_entropy_fwd_kernel(const float* __restrict__ z, const float* __restrict__ y,
                                         double* __restrict__ partials, const CrossEntropyDims d) {
  for (int64_t n = blockIdx.x; n < d.n; n += gridDim.x) {
    const float* row = z + n * d.k;
    const double lse = row_lse(row, d.k);
    if (threadIdx.x == 0) partials[n] = lse - static_cast<double>(row[static_cast<int64_t>(y[n])]);
  }
}

__global__ void cross_entropy_bwd_kernel(const float* __restrict__ z, const float* __restrict__ y,
                                         const float* __restrict__ g, float* __restrict__ gz,
                                         const CrossEntropyDims d) {
  const double scale = static_cast<double>(g[0]) / static_cast<double>(d.n);
  for (int64_t n = blockIdx.x; n < d.n; n += gridDim.x) {
    const float* row = z + n * d.k;
    const double lse = row_lse(row, d.k);
    const auto label = static_cast<int64_t>(y[n]);
    for (int64_t j = threadIdx.x; j < d.k; j += kRowThreads) {
      const double p = exp(static_cast<double>(row[j]) - lse);
      gz[n * d.k + j] = static_cast<float>((p - (j == label ? 1.0 : 0.0)) * scale);
    }
  }
}

std::string describe(const CrossEntropyDims& d) {
  return std::to_string(d.n) + " rows x " + std::to_string(d.k) + " classes";
}

}  // namespace

void cross_entropy_fwd(const float* logits, const float* labels, float* out, const CrossEntropyDims& d) {
  const cudaStream_t s = ddpm::cuda::stream();
  DeviceScratch partials(static_cast<size_t>(d.n) * sizeof(double));
  cross_entropy_fwd_kernel<<<blocks_for(d.n, 1), kRowThreads, 0, s>>>(logits, labels, partials.as<double>(),
                                                                      d);
  DDPM_CUDA_LAUNCHED("cross_entropy_fwd_kernel", describe(d));
  reduce_finish_kernel<kThreads><<<1, kThreads, 0, s>>>(partials.as<double>(), static_cast<int>(d.n), out,
                                                        1.0, static_cast<double>(d.n));
  DDPM_CUDA_LAUNCHED("reduce_finish_kernel", "cross_entropy over " + describe(d));
}

void cross_entropy_bwd(const float* logits, const float* labels, const float* g, float* gz,
                       const CrossEntropyDims& d) {
  if (d.n == 0) return;
  cross_entropy_bwd_kernel<<<blocks_for(d.n, 1), kRowThreads, 0, ddpm::cuda::stream()>>>(logits, labels, g,
                                                                                         gz, d);
  DDPM_CUDA_LAUNCHED("cross_entropy_bwd_kernel", describe(d));
}

}  // namespace ddpm::kernels::cuda
