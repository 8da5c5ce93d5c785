// Storage: one reference-counted, contiguous allocation on one device.
//
// Tensors share a Storage through std::shared_ptr; views (reshape) point at the
// same Storage with their own shape. Memory comes from the device allocator
// (tensor/allocator.h), which is the seam where the CUDA caching allocator
// plugs in.
#pragma once

#include <cstddef>
#include <memory>

#include "tensor/dtype.h"

namespace ddpm {

class Storage {
 public:
  Storage(size_t bytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() { return ptr_; }
  const void* data() const { return ptr_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
  Device device_;
};

}  // namespace ddpm
