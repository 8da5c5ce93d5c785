#include "tensor/allocator.h"

#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>

namespace ddpm {

namespace {
constexpr size_t kCpuAlign = 64;
}

void* device_alloc(Device device, size_t bytes) {
  if (device == Device::cpu) {
    const size_t rounded = (bytes + kCpuAlign - 1) / kCpuAlign * kCpuAlign;
    void* p = std::aligned_alloc(kCpuAlign, rounded == 0 ? kCpuAlign : rounded);
    if (!p) throw std::bad_alloc();
    return p;
  }
  throw std::runtime_error("device_alloc: this build has no CUDA backend (asked for " +
                           std::to_string(bytes) + " bytes on cuda)");
}

void device_free(Device device, void* ptr, size_t /*bytes*/) {
  if (device == Device::cpu) std::free(ptr);
}

void device_copy(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes) {
  if (dst_device == Device::cpu && src_device == Device::cpu) {
    if (bytes) std::memcpy(dst, src, bytes);
    return;
  }
  throw std::runtime_error("device_copy: this build has no CUDA backend");
}

}  // namespace ddpm
