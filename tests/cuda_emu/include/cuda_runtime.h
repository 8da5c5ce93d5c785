// A stand-in for <cuda_runtime.h> that runs the engine's CUDA kernels on the
// CPU (tests/cuda_emu/README.md). Only what the kernels use: dim3, float4,
// the thread/block built-ins, __syncthreads, a few runtime calls. A launch
// `k<<<grid, block, smem, s>>>(args)` is rewritten by transform.py into
// `::emu::Launcher{grid, block, smem, s}(k, args)`, which runs every block
// in order with blockDim.x real threads (so __syncthreads is a real barrier
// and shared memory is a static array shared by the block's threads).
#pragma once

#include <math.h>

#include <barrier>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __restrict__ __restrict
#define __shared__ static

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  dim3() = default;
  dim3(unsigned x_, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct float4 {
  float x, y, z, w;
};
inline float4 make_float4(float a, float b, float c, float d) { return {a, b, c, d}; }

using cudaStream_t = void*;
enum cudaError_t { cudaSuccess = 0, cudaErrorEmulated = 1 };
inline cudaError_t cudaGetLastError() { return cudaSuccess; }
inline const char* cudaGetErrorName(cudaError_t) { return "cudaErrorEmulated"; }
inline const char* cudaGetErrorString(cudaError_t) { return "emulated"; }
inline cudaError_t cudaMemsetAsync(void* p, int v, size_t n, cudaStream_t) {
  std::memset(p, v, n);
  return cudaSuccess;
}

namespace emu {
inline thread_local dim3 t_thread, t_block;
inline dim3 g_block_dim, g_grid_dim;
inline thread_local std::barrier<>* t_barrier = nullptr;
inline long long g_launches = 0;

struct Launcher {
  dim3 grid;
  dim3 block;
  size_t smem = 0;
  cudaStream_t stream = nullptr;

  template <class F, class... A>
  void operator()(F kernel, A... args) const {
    ++g_launches;
    g_grid_dim = grid;
    g_block_dim = block;
    const unsigned threads = block.x * block.y * block.z;
    std::barrier<> bar(threads);
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads; ++t)
      pool.emplace_back([&, t]() {
        t_barrier = &bar;
        t_thread = dim3(t % block.x, t / block.x % block.y, t / (block.x * block.y));
        for (unsigned bz = 0; bz < grid.z; ++bz)
          for (unsigned by = 0; by < grid.y; ++by)
            for (unsigned bx = 0; bx < grid.x; ++bx) {
              t_block = dim3(bx, by, bz);
              kernel(args...);
              bar.arrive_and_wait();  // the block is done before the next one starts
            }
      });
    for (auto& th : pool) th.join();
  }
};
}  // namespace emu

#define threadIdx (::emu::t_thread)
#define blockIdx (::emu::t_block)
#define blockDim (::emu::g_block_dim)
#define gridDim (::emu::g_grid_dim)
inline void __syncthreads() { ::emu::t_barrier->arrive_and_wait(); }
