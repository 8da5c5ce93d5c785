// Shared by every CUDA kernel file: the engine's stream, launch-shape
// helpers and error checks that name the kernel and its shapes.
//
// Kernels are launched on ddpm::cuda::stream(); a launch is followed by
// DDPM_CUDA_LAUNCHED("silu_fwd_kernel", shape_text), which turns a launch
// error into an exception naming the kernel, the shapes and the CUDA error.
// Asynchronous faults surface at the next synchronising call
// (cuda::synchronize, a copy to the host), named there.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>

namespace ddpm::cuda {

cudaStream_t stream();

[[noreturn]] void throw_cuda_error(cudaError_t err, const char* what, const std::string& detail);

inline void check(cudaError_t err, const char* what, const std::string& detail = "") {
  if (err != cudaSuccess) throw_cuda_error(err, what, detail);
}

// Blocks of `threads` covering n items, capped so grid-stride loops stay
// within the hardware limit.
inline unsigned blocks_for(int64_t n, int threads = 256) {
  const int64_t b = (n + threads - 1) / threads;
  return static_cast<unsigned>(b < 1 ? 1 : (b > 65535 * 16 ? 65535 * 16 : b));
}

}  // namespace ddpm::cuda

#define DDPM_CUDA_LAUNCHED(kernel_name, detail) ::ddpm::cuda::check(cudaGetLastError(), kernel_name, detail)
