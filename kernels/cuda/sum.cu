// CUDA full reductions: sum and mean to a device scalar, and their backward
// (the scalar gradient broadcast to the input's shape).
//
// Forward, two passes, no atomics (kernels/cuda/reduce.cuh):
//  1. B blocks (B a function of n alone, at most 1024) stride over quads of 4
//     elements (float4 loads when aligned; the n % 4 tail goes to the first
//     threads), each thread adding its elements to a double in a fixed order;
//     a fixed-order block sum writes one double partial per block.
//  2. One block adds the B partials in a fixed order and writes
//     float(total * scale) (scale 1 for sum, 1/n for mean, as the CPU).
// The result depends only on the input and n: bitwise repeatable, and equal
// to the CPU's double sum up to summation order (~1e-16 relative) before the
// one rounding to float.
// Backward: out[i] = float(double(g[0]) * scale), read from the device
// scalar; a flat store loop over quads.
#include <cstdint>
#include <string>

#include "kernels/cuda/elementwise.cuh"
#include "kernels/cuda/reduce.cuh"
#include "kernels/sum.h"

namespace ddpm::kernels::cuda {

namespace {

template <bool Vec4>
__global__ void sum_fwd_kernel(const float* __restrict__ x, int64_t n, double* __restrict__ partials) {
  double acc = 0;
  for (int64_t q = global_thread(); q < n / 4; q += global_threads()) {
    const Quad v = load_quad<Vec4>(x, q);
#pragma unroll
    for (int k = 0; k < 4; ++k) acc += static_cast<double>(v.v[k]);
  }
  const int64_t i = tail_element(n);
  if (i < n) acc += static_cast<double>(x[i]);
  const double total = block_sum<kThreads>(acc);
  if (threadIdx.x == 0) partials[blockIdx.x] = total;
}

template <bool Vec4>
__global__ void sum_bwd_kernel(const float* __restrict__ g, float* __restrict__ out, int64_t n, double scale) {
  const float v = static_cast<float>(static_cast<double>(g[0]) * scale);
  Quad r;
#pragma unroll
  for (int k = 0; k < 4; ++k) r.v[k] = v;
  for (int64_t q = global_thread(); q < n / 4; q += global_threads()) store_quad<Vec4>(out, q, r);
  const int64_t i = tail_element(n);
  if (i < n) out[i] = v;
}

}  // namespace

void sum_fwd(const float* x, float* out, int64_t n, double scale) {
  const cudaStream_t s = ddpm::cuda::stream();
  const int blocks = reduce_blocks(n, kThreads);
  DeviceScratch partials(static_cast<size_t>(blocks) * sizeof(double));
  if (vec4_ok(x))
    sum_fwd_kernel<true><<<blocks, kThreads, 0, s>>>(x, n, partials.as<double>());
  else
    sum_fwd_kernel<false><<<blocks, kThreads, 0, s>>>(x, n, partials.as<double>());
  DDPM_CUDA_LAUNCHED("sum_fwd_kernel", std::to_string(n) + " elements, " + std::to_string(blocks) + " blocks");
  reduce_finish_kernel<kThreads><<<1, kThreads, 0, s>>>(partials.as<double>(), blocks, out, scale, 1.0);
  DDPM_CUDA_LAUNCHED("reduce_finish_kernel", "sum of " + std::to_string(blocks) + " partials");
}

void sum_bwd(const float* g, float* out, int64_t n, double scale) {
  if (n == 0) return;
  const cudaStream_t s = ddpm::cuda::stream();
  if (vec4_ok(out))
    sum_bwd_kernel<true><<<blocks_for_quads(n), kThreads, 0, s>>>(g, out, n, scale);
  else
    sum_bwd_kernel<false><<<blocks_for_quads(n), kThreads, 0, s>>>(g, out, n, scale);
  DDPM_CUDA_LAUNCHED("sum_bwd_kernel", std::to_string(n) + " elements");
}

}  // namespace ddpm::kernels::cuda
