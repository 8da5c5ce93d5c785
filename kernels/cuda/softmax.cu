// CUDA softmax / log-softmax over the rows of x [R, K] (scale, optional mask
// row r % Rm), and the softmax backward (kernels/softmax.h).
//
// Forward: a block of kRowThreads per row (grid-stride over rows when R
// exceeds the grid): the threads stride over the row's K values; a
// fixed-order block max (exact) of z = scale * double(x) over the included
// entries, and a fixed-order block sum of exp(z - max) (reduce.cuh's
// block_sum) give lse = max + log(sum) in double; then each thread writes
// float(z - lse) (log) or float(exp(z - lse)), 0 (-inf for log) at excluded
// entries and in rows with no included entry.
// Backward: the same block per row; a fixed-order block sum of g * y in
// double, then gx = float(scale * y * (g - dot)) computed in double.
// Deterministic: every sum has a fixed order given K.
#include <cmath>
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

__global__ void softmax_fwd_kernel(const float* __restrict__ x, const float* __restrict__ mask,
                                   float* __restrict__ y, const SoftmaxDims d) {
  const double neg_inf = -static_cast<double>(INFINITY);
  for (int64_t n = blockIdx.x; n < d.n; n += gridDim.x) {
    const float* row = x + n * d.k;
    const float* keep = d.mask_rows ? mask + (n % d.mask_rows) * d.k : nullptr;
    float* out = y + n * d.k;
    double m = neg_inf;
    for (int64_t j = threadIdx.x; j < d.k; j += kRowThreads) {
      const double z = d.scale * static_cast<double>(row[j]);
      if ((!keep || keep[j] != 0.f) && z > m) m = z;
    }
    m = block_max<kRowThreads>(m);
    if (m == neg_inf) {  // no included entry (or only -inf ones); uniform across the block
      for (int64_t j = threadIdx.x; j < d.k; j += kRowThreads) out[j] = d.log ? -INFINITY : 0.f;
      continue;
    }
    double s = 0;
    for (int64_t j = threadIdx.x; j < d.k; j += kRowThreads)
      if (!keep || keep[j] != 0.f) s += exp(d.scale * static_cast<double>(row[j]) - m);
    const double lse = m + log(block_sum<kRowThreads>(s));
    for (int64_t j = threadIdx.x; j < d.k; j += kRowThreads) {
      if (keep && keep[j] == 0.f) {
        out[j] = d.log ? -INFINITY : 0.f;
        continue;
      }
      const double v = d.scale * static_cast<double>(row[j]) - lse;
      out[j] = static_cast<float>(d.log ? v : exp(v));
    }
  }
}

__global__ void softmax_bwd_kernel(const float* __restrict__ y, const float* __restrict__ g,
                                   float* __restrict__ gx, const SoftmaxDims d) {
  for (int64_t n = blockIdx.x; n < d.n; n += gridDim.x) {
    const float* yr = y + n * d.k;
    const float* gr = g + n * d.k;
    double dot = 0;
    for (int64_t j = threadIdx.x; j < d.k; j += kRowThreads)
      dot += static_cast<double>(gr[j]) * static_cast<double>(yr[j]);
    dot = block_sum<kRowThreads>(dot);
    for (int64_t j = threadIdx.x; j < d.k; j += kRowThreads)
      gx[n * d.k + j] =
          static_cast<float>(d.scale * static_cast<double>(yr[j]) * (static_cast<double>(gr[j]) - dot));
  }
}

std::string rows_str(const SoftmaxDims& d) {
  return std::to_string(d.n) + " rows x " + std::to_string(d.k) +
         (d.mask_rows ? ", mask of " + std::to_string(d.mask_rows) + " rows" : std::string());
}

}  // namespace

void softmax_fwd(const float* x, const float* mask, float* y, const SoftmaxDims& d) {
  if (d.n == 0 || d.k == 0) return;
  softmax_fwd_kernel<<<blocks_for(d.n, 1), kRowThreads, 0, ddpm::cuda::stream()>>>(x, mask, y, d);
  DDPM_CUDA_LAUNCHED(d.log ? "softmax_fwd_kernel (log)" : "softmax_fwd_kernel", rows_str(d));
}

void softmax_bwd(const float* y, const float* g, float* gx, const SoftmaxDims& d) {
  if (d.n == 0 || d.k == 0) return;
  softmax_bwd_kernel<<<blocks_for(d.n, 1), kRowThreads, 0, ddpm::cuda::stream()>>>(y, g, gx, d);
  DDPM_CUDA_LAUNCHED("softmax_bwd_kernel", rows_str(d));
}

}  // namespace ddpm::kernels::cuda
