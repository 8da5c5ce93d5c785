#include "tensor/allocator.h"

#include <malloc.h>
#include <sys/mman.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "tensor/cuda_backend.h"

namespace ddpm {

namespace {
constexpr size_t kCpuAlign = 64;

// glibc serves large blocks with mmap and returns freed memory to the OS at
// once, so every training step would page-fault its activations back in
// (measured: GroupNorm+SiLU fwd+bwd at [32,64,32,32] took 7.5 ms instead of
// 3.2 ms). Keeping freed blocks in the heap makes steady-state steps reuse
// them: the CPU side of a caching allocator, for free.
struct KeepFreedMemory {
  KeepFreedMemory() {
    mallopt(M_MMAP_THRESHOLD, 32 << 20);  // glibc's maximum on 64-bit
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
  }
};
const KeepFreedMemory keep_freed_memory;

// Blocks of 32 MB and more stay past that threshold's reach: glibc maps
// them afresh and unmaps them on free, so a training step faulted ~45 MB of
// 4 KB pages back in every step (11,500 faults per step, the quick-start
// model at batch 128: its 64- and 96-channel tensors at 32x32). Such blocks
// are kept here instead, by exact size (rounded to 2 MB) for the next
// allocation of that size, up to kMaxCachedBytes (the oldest go first), and
// are allocated 2 MB aligned with transparent huge pages asked for, so even
// the first touch faults 512 times less often.
constexpr size_t kLargeBlock = size_t{32} << 20;
constexpr size_t kHugePage = size_t{2} << 20;
constexpr size_t kMaxCachedBytes = size_t{2} << 30;

class LargeBlockCache {
 public:
  void* take(size_t bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i = blocks_.size(); i-- > 0;)
      if (blocks_[i].bytes == bytes) {
        void* p = blocks_[i].ptr;
        cached_ -= bytes;
        blocks_.erase(blocks_.begin() + static_cast<std::ptrdiff_t>(i));
        return p;
      }
    return nullptr;
  }
  void keep(void* p, size_t bytes) {
    std::vector<void*> evicted;
    {
      std::lock_guard<std::mutex> lock(mu_);
      blocks_.push_back({p, bytes});
      cached_ += bytes;
      while (cached_ > kMaxCachedBytes) {
        evicted.push_back(blocks_.front().ptr);
        cached_ -= blocks_.front().bytes;
        blocks_.erase(blocks_.begin());
      }
    }
    for (void* e : evicted) std::free(e);
  }
  size_t cached() {
    std::lock_guard<std::mutex> lock(mu_);
    return cached_;
  }
  void release() {
    std::vector<Block> all;
    {
      std::lock_guard<std::mutex> lock(mu_);
      all.swap(blocks_);
      cached_ = 0;
    }
    for (const Block& b : all) std::free(b.ptr);
  }

 private:
  struct Block {
    void* ptr;
    size_t bytes;
  };
  std::mutex mu_;
  std::vector<Block> blocks_;  // oldest first
  size_t cached_ = 0;
};

// Never destroyed: a tensor freed during static destruction still finds it
// (the blocks stay reachable, so leak checkers do not count them).
LargeBlockCache& large_blocks() {
  static auto* cache = new LargeBlockCache;
  return *cache;
}

size_t cpu_block_bytes(size_t bytes) {
  if (bytes >= kLargeBlock) return (bytes + kHugePage - 1) / kHugePage * kHugePage;
  const size_t rounded = (bytes + kCpuAlign - 1) / kCpuAlign * kCpuAlign;
  return rounded == 0 ? kCpuAlign : rounded;
}
}  // namespace

size_t cpu_cached_bytes() { return large_blocks().cached(); }
void cpu_release_cached() { large_blocks().release(); }

void* device_alloc(Device device, size_t bytes) {
  if (device == Device::cpu) {
    const size_t block = cpu_block_bytes(bytes);
    if (block >= kLargeBlock) {
      if (void* p = large_blocks().take(block)) return p;
      void* p = std::aligned_alloc(kHugePage, block);
      if (!p) throw std::bad_alloc();
      madvise(p, block, MADV_HUGEPAGE);  // advice only: a kernel without THP ignores it
      return p;
    }
    void* p = std::aligned_alloc(kCpuAlign, block);
    if (!p) throw std::bad_alloc();
    return p;
  }
  return cuda::alloc(bytes);
}

void device_free(Device device, void* ptr, size_t bytes) {
  if (device == Device::cpu) {
    const size_t block = cpu_block_bytes(bytes);
    if (ptr && block >= kLargeBlock)
      large_blocks().keep(ptr, block);
    else
      std::free(ptr);
  } else
    cuda::free(ptr, bytes);
}

void device_copy(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes) {
  if (dst_device == Device::cpu && src_device == Device::cpu) {
    if (bytes) std::memcpy(dst, src, bytes);
    return;
  }
  if (dst_device == Device::cuda && src_device == Device::cuda)
    cuda::copy_d2d(dst, src, bytes);
  else if (dst_device == Device::cuda)
    cuda::copy_h2d(dst, src, bytes);
  else
    cuda::copy_d2h(dst, src, bytes);
}

}  // namespace ddpm
