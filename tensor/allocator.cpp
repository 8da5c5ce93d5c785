#include "tensor/allocator.h"

#include <malloc.h>

#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>

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
}  // namespace

void* device_alloc(Device device, size_t bytes) {
  if (device == Device::cpu) {
    const size_t rounded = (bytes + kCpuAlign - 1) / kCpuAlign * kCpuAlign;
    void* p = std::aligned_alloc(kCpuAlign, rounded == 0 ? kCpuAlign : rounded);
    if (!p) throw std::bad_alloc();
    return p;
  }
  return cuda::alloc(bytes);
}

void device_free(Device device, void* ptr, size_t bytes) {
  if (device == Device::cpu)
    std::free(ptr);
  else
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
