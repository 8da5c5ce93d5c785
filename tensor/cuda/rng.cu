// Device Philox fills for tensor/rng.h: fill_normal / fill_uniform (and so
// randn / rand_uniform) on CUDA tensors draw on the GPU.
//
// Element i gets f(seed, stream, offset + i) computed in double by the same
// host+device functions of tensor/philox.h as the CPU fill, then rounded to
// the tensor's dtype: a float tensor equals the CPU's element for element up
// to that rounding (the device's double log/cos are within 2 ulp of double,
// so a draw can land on the other side of a float rounding boundary, a
// 1-ulp difference, with probability about 1e-8 per element).
// A thread per element in a grid-stride loop: Philox and Box-Muller are
// arithmetic-bound, the stores coalesce.
#include <cuda_runtime.h>

#include <string>

#include "tensor/cuda/launch.cuh"
#include "tensor/cuda_backend.h"
#include "tensor/philox.h"

namespace ddpm::cuda {

namespace {

template <class T>
__global__ void fill_normal_kernel(T* __restrict__ dst, int64_t n, uint64_t seed, uint64_t rng_stream,
                                   uint64_t offset) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    dst[i] = static_cast<T>(philox::normal(seed, rng_stream, offset + static_cast<uint64_t>(i)));
}

template <class T>
__global__ void fill_uniform_kernel(T* __restrict__ dst, int64_t n, double lo, double hi, uint64_t seed,
                                    uint64_t rng_stream, uint64_t offset) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    dst[i] =
        static_cast<T>(lo + (hi - lo) * philox::uniform(seed, rng_stream, offset + static_cast<uint64_t>(i)));
}

constexpr int kThreads = 256;

}  // namespace

void fill_normal(void* dst, int64_t n, DType dtype, uint64_t seed, uint64_t rng_stream, uint64_t offset) {
  if (n <= 0) return;
  if (dtype == DType::f32)
    fill_normal_kernel<float><<<blocks_for(n, kThreads), kThreads, 0, stream()>>>(static_cast<float*>(dst), n,
                                                                                  seed, rng_stream, offset);
  else if (dtype == DType::bf16)
    fill_normal_kernel<bf16><<<blocks_for(n, kThreads), kThreads, 0, stream()>>>(static_cast<bf16*>(dst), n,
                                                                                 seed, rng_stream, offset);
  else
    fill_normal_kernel<double><<<blocks_for(n, kThreads), kThreads, 0, stream()>>>(
        static_cast<double*>(dst), n, seed, rng_stream, offset);
  DDPM_CUDA_LAUNCHED("fill_normal_kernel", std::to_string(n) + " elements " + dtype_name(dtype));
}

void fill_uniform(void* dst, int64_t n, DType dtype, double lo, double hi, uint64_t seed, uint64_t rng_stream,
                  uint64_t offset) {
  if (n <= 0) return;
  if (dtype == DType::f32)
    fill_uniform_kernel<float><<<blocks_for(n, kThreads), kThreads, 0, stream()>>>(
        static_cast<float*>(dst), n, lo, hi, seed, rng_stream, offset);
  else if (dtype == DType::bf16)
    fill_uniform_kernel<bf16><<<blocks_for(n, kThreads), kThreads, 0, stream()>>>(
        static_cast<bf16*>(dst), n, lo, hi, seed, rng_stream, offset);
  else
    fill_uniform_kernel<double><<<blocks_for(n, kThreads), kThreads, 0, stream()>>>(
        static_cast<double*>(dst), n, lo, hi, seed, rng_stream, offset);
  DDPM_CUDA_LAUNCHED("fill_uniform_kernel", std::to_string(n) + " elements " + dtype_name(dtype));
}

}  // namespace ddpm::cuda
