// Deterministic reductions for the CUDA kernels: a fixed-order block sum in
// shared memory, scratch memory for per-block partials, and the second pass
// that adds the partials in order.
//
// Accumulation is in double: on the GPUs this engine targets (sm_90) double
// adds are far cheaper than the memory traffic of a reduction, and a double
// accumulator keeps the sum of float inputs exact to about 1e-16 relative
// (the CPU kernels also sum in double), so results differ from the CPU only
// in the final rounding to float. No atomics: every partial is written once
// and added in index order, so a result depends only on the input and its
// size (the launch shape is a function of the size alone).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "tensor/cuda/launch.cuh"
#include "tensor/cuda_backend.h"

namespace ddpm::kernels::cuda {

// Sum of v over the block (blockDim.x == Threads, a power of two) in a fixed
// tree order; every thread of the block must call it, and every thread gets
// the total. The shared array is free for reuse when it returns.
template <int Threads>
__device__ double block_sum(double v) {
  static_assert((Threads & (Threads - 1)) == 0, "block_sum needs a power-of-two block");
  __shared__ double partial[Threads];
  partial[threadIdx.x] = v;
  __syncthreads();
#pragma unroll
  for (int s = Threads / 2; s > 0; s >>= 1) {
    if (static_cast<int>(threadIdx.x) < s) partial[threadIdx.x] += partial[threadIdx.x + s];
    __syncthreads();
  }
  const double total = partial[0];
  __syncthreads();
  return total;
}

// Device scratch from the caching allocator, returned when it goes out of
// scope. Freeing right after the launches that use it is safe: everything
// runs on the one engine stream, so a later user of the block is ordered
// after them.
class DeviceScratch {
 public:
  explicit DeviceScratch(size_t bytes) : bytes_(bytes), ptr_(ddpm::cuda::alloc(bytes)) {}
  ~DeviceScratch() { ddpm::cuda::free(ptr_, bytes_); }
  DeviceScratch(const DeviceScratch&) = delete;
  DeviceScratch& operator=(const DeviceScratch&) = delete;
  template <class T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }

 private:
  size_t bytes_;
  void* ptr_;
};

// Pass-1 blocks for a full reduction over n elements: about eight quads per
// thread, at most kMaxPartials blocks. A function of n alone.
inline constexpr int kMaxPartials = 1024;
inline int reduce_blocks(int64_t n, int threads) {
  const int64_t per_block = static_cast<int64_t>(threads) * 4 * 8;
  const int64_t b = (n + per_block - 1) / per_block;
  return static_cast<int>(b < 1 ? 1 : (b > kMaxPartials ? kMaxPartials : b));
}

// Pass 2 of a full reduction: one block adds `count` (<= Threads * k)
// partials in a fixed order and writes out[0] = float(total * scale / divisor).
template <int Threads>
__global__ void reduce_finish_kernel(const double* partials, int count, float* out, double scale,
                                     double divisor) {
  double acc = 0;
  for (int i = static_cast<int>(threadIdx.x); i < count; i += Threads) acc += partials[i];
  const double total = block_sum<Threads>(acc);
  if (threadIdx.x == 0) out[0] = static_cast<float>(total * scale / divisor);
}

}  // namespace ddpm::kernels::cuda
