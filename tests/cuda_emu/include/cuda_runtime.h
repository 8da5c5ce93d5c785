// A stand-in for <cuda_runtime.h> that runs the engine's CUDA kernels on the
// CPU (docs/gpu.md, scripts/cuda-emu-check.sh). Only what the kernels use:
// dim3, float4, the thread/block built-ins, __syncthreads, __shfl_xor_sync
// (block-uniform calls only, see below), __launch_bounds__, a few runtime
// calls. A launch `k<<<grid, block, smem, s>>>(args)` is rewritten by
// transform.py into `::emu::Launcher{grid, block, smem, s}(k, args)`, which
// runs every block in order with blockDim.x real threads (so __syncthreads is
// a real barrier and shared memory is a static array shared by the block's
// threads).
#pragma once

#include <math.h>

#include <barrier>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <type_traits>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __restrict__ __restrict
#define __shared__ static
#ifndef __launch_bounds__
#define __launch_bounds__(...)
#endif

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
inline thread_local unsigned long long* t_lanes = nullptr;  // the block's shuffle slots, one per thread
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
    std::vector<unsigned long long> lanes(threads);
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads; ++t)
      pool.emplace_back([&, t]() {
        t_barrier = &bar;
        t_lanes = lanes.data();
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

// A warp shuffle (xor): lane i of a warp (32 consecutive linear thread ids)
// gets lane i ^ lane_mask's value, lane_mask < width <= 32. Emulated with the
// block's barrier (write, wait, read, wait), so every thread of the block
// must make the same sequence of calls, as in a block-wide reduction; a
// shuffle that only some warps reach deadlocks here (on the GPU it would be
// fine). The warps must be full: a source lane past the block aborts.
template <class T>
inline T __shfl_xor_sync(unsigned, T v, int lane_mask, int width = 32) {
  static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= sizeof(unsigned long long),
                "__shfl_xor_sync: a value of at most 8 bytes");
  const dim3 b = ::emu::g_block_dim, t = ::emu::t_thread;
  const unsigned threads = b.x * b.y * b.z;
  const unsigned tid = t.x + b.x * (t.y + b.y * t.z);
  if (lane_mask < 0 || lane_mask >= width || width > 32 || (width & (width - 1)) != 0) {
    std::fprintf(stderr, "emulated __shfl_xor_sync: lane_mask %d, width %d not supported\n", lane_mask,
                 width);
    std::abort();
  }
  const unsigned src = tid ^ static_cast<unsigned>(lane_mask);
  if (src >= threads) {
    std::fprintf(stderr, "emulated __shfl_xor_sync: lane %u reads lane %u of a block of %u threads\n", tid,
                 src, threads);
    std::abort();
  }
  unsigned long long slot = 0;
  std::memcpy(&slot, &v, sizeof(T));
  ::emu::t_lanes[tid] = slot;
  __syncthreads();
  slot = ::emu::t_lanes[src];
  __syncthreads();  // every read is done before the slots are written again
  T out;
  std::memcpy(&out, &slot, sizeof(T));
  return out;
}
