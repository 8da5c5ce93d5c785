// The CUDA memory API for builds without the CUDA backend: every call says so.
#include "tensor/cuda_backend.h"

#include <stdexcept>
#include <string>

namespace ddpm::cuda {

namespace {
[[noreturn]] void none(const char* what) {
  throw std::runtime_error(std::string(what) +
                           ": this build has no CUDA backend (nvcc was not found at configure time)");
}
}  // namespace

void* alloc(size_t) { none("cuda::alloc"); }
void free(void*, size_t) {}
void copy_h2d(void*, const void*, size_t) { none("cuda::copy_h2d"); }
void copy_d2h(void*, const void*, size_t) { none("cuda::copy_d2h"); }
void copy_d2d(void*, const void*, size_t) { none("cuda::copy_d2d"); }
void synchronize() {}
void fill(void*, int64_t, DType, double) { none("cuda::fill"); }
void fill_normal(void*, int64_t, DType, uint64_t, uint64_t, uint64_t) { none("cuda::fill_normal"); }
void fill_uniform(void*, int64_t, DType, double, double, uint64_t, uint64_t, uint64_t) {
  none("cuda::fill_uniform");
}
AllocatorStats allocator_stats() { return {}; }
void empty_cache() {}
bool direct_alloc_mode() { return false; }
void set_guard_mode(bool) {}
int64_t guard_violations() { return 0; }

}  // namespace ddpm::cuda
