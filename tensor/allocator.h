// Device memory: allocation, release and copies between devices.
//
// The CPU allocator hands out 64-byte aligned blocks (AVX-512 friendly). CUDA
// memory comes from the caching allocator in tensor/cuda_backend.h (no
// cudaMalloc/cudaFree in steady-state loops); without the CUDA backend,
// asking for it throws.
#pragma once

#include <cstddef>

#include "tensor/dtype.h"

namespace ddpm {

void* device_alloc(Device device, size_t bytes);
void device_free(Device device, void* ptr, size_t bytes);
// CPU blocks of 32 MB and more are kept when freed, for the next allocation
// of the same size (up to 2 GB; tensor/allocator.cpp says why). What is kept
// now, and giving it all back to the system:
size_t cpu_cached_bytes();
void cpu_release_cached();
// Copies `bytes` from src (on src_device) to dst (on dst_device).
void device_copy(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes);

}  // namespace ddpm
