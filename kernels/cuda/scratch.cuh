// Device scratch for a launcher's temporaries (split-reduction partials,
// per-channel coefficients), from the caching allocator of tensor/cuda_backend.h.
// release() returns it (and may throw in guard mode); on an exception path the
// destructor returns it and swallows a second error. Everything runs on the
// one engine stream, so releasing right after the last launch that reads it is
// safe: later users of the block are ordered after that launch.
#pragma once

#include <cstddef>

#include "tensor/cuda_backend.h"

namespace ddpm::kernels::cuda {

class Scratch {
 public:
  explicit Scratch(size_t bytes) : bytes_(bytes), ptr_(ddpm::cuda::alloc(bytes)) {}
  ~Scratch() {
    if (!ptr_) return;
    try {
      ddpm::cuda::free(ptr_, bytes_);
    } catch (...) {  // already unwinding from the error that matters
    }
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  template <class T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }
  void release() {
    void* p = ptr_;
    ptr_ = nullptr;
    ddpm::cuda::free(p, bytes_);
  }

 private:
  size_t bytes_;
  void* ptr_;
};

}  // namespace ddpm::kernels::cuda
