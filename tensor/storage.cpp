#include "tensor/storage.h"

#include "tensor/allocator.h"

namespace ddpm {

Storage::Storage(size_t bytes, Device device) : bytes_(bytes), device_(device) {
  ptr_ = device_alloc(device, bytes);
}

Storage::~Storage() { device_free(device_, ptr_, bytes_); }

}  // namespace ddpm
