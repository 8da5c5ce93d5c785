// The CUDA side of tensor/: device memory through a caching allocator, the
// engine's one stream, and copies. Declared for every build; builds without
// the CUDA backend get versions that throw (tensor/nocuda/cuda_backend.cpp).
//
// Caching allocator: freed blocks go to per-size free lists instead of back
// to cudaFree, so a training or sampling loop that asks for the same sizes
// every step makes no cudaMalloc/cudaFree calls after its first step. Sizes
// are rounded up (512 B below 1 MiB, 2 MiB above) so near sizes share blocks.
// Everything runs on one stream, so a block freed by the host can be handed
// out again at once: later kernels are ordered after earlier ones.
#pragma once

#include <cstddef>
#include <cstdint>

#include "tensor/dtype.h"

namespace ddpm::cuda {

void* alloc(size_t bytes);
void free(void* ptr, size_t bytes);
// Host<->device and device<->device copies on the engine's stream; copies
// to the host wait for the stream (the data is there when this returns).
void copy_h2d(void* dst, const void* src, size_t bytes);
void copy_d2h(void* dst, const void* src, size_t bytes);
void copy_d2d(void* dst, const void* src, size_t bytes);
// Waits for all queued work; throws with the CUDA error if a kernel failed.
void synchronize();

// Device fills of n elements of dtype at dst, queued on the engine stream
// (no host round trip): Tensor::fill_ (tensor/cuda/fill.cu; +0.0 is a
// memset), and the Philox fills of tensor/rng.h (tensor/cuda/rng.cu):
// element i is normal(seed, stream, offset + i), or lo + (hi - lo) *
// uniform(seed, stream, offset + i), as the CPU fill computes it.
void fill(void* dst, int64_t n, DType dtype, double value);
void fill_normal(void* dst, int64_t n, DType dtype, uint64_t seed, uint64_t stream, uint64_t offset);
void fill_uniform(void* dst, int64_t n, DType dtype, double lo, double hi, uint64_t seed, uint64_t stream,
                  uint64_t offset);

struct AllocatorStats {
  int64_t cuda_malloc_calls = 0;  // cudaMalloc calls so far
  int64_t cuda_free_calls = 0;    // cudaFree calls so far (only when emptying the cache)
  int64_t bytes_in_use = 0;
  int64_t bytes_cached = 0;  // free blocks held for reuse
};
AllocatorStats allocator_stats();
// Returns every cached block to the driver.
void empty_cache();

// Guard mode (for the GPU tests): every block gets kGuardBytes of sentinel
// bytes before and after it; free() checks them and counts blocks whose
// sentinels were overwritten (a kernel wrote outside its buffer). Turn it on
// before allocating anything that will be checked.
inline constexpr size_t kGuardBytes = 256;
void set_guard_mode(bool on);
int64_t guard_violations();

}  // namespace ddpm::cuda
