// Device fill for Tensor::fill_ (and so zeros / ones / full) on CUDA tensors,
// queued on the engine stream with no host round trip.
//
// A value whose bytes are all zero (+0.0) is a cudaMemsetAsync; any other
// value is a grid-stride kernel, one element per thread per iteration (a
// store-only kernel; the compiler coalesces neighbouring threads' stores).
#include <cuda_runtime.h>

#include <cmath>
#include <string>

#include "tensor/cuda/launch.cuh"
#include "tensor/cuda_backend.h"

namespace ddpm::cuda {

namespace {

template <class T>
__global__ void fill_kernel(T* __restrict__ dst, int64_t n, T value) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    dst[i] = value;
}

}  // namespace

void fill(void* dst, int64_t n, DType dtype, double value) {
  if (n <= 0) return;
  const size_t bytes = static_cast<size_t>(n) * dtype_size(dtype);
  if (value == 0.0 && !std::signbit(value)) {
    check(cudaMemsetAsync(dst, 0, bytes, stream()), "cuda::fill (memset)", std::to_string(bytes) + " bytes");
    return;
  }
  constexpr int kThreads = 256;
  if (dtype == DType::f32)
    fill_kernel<float><<<blocks_for(n, kThreads), kThreads, 0, stream()>>>(static_cast<float*>(dst), n,
                                                                           static_cast<float>(value));
  else if (dtype == DType::bf16)
    fill_kernel<bf16>
        <<<blocks_for(n, kThreads), kThreads, 0, stream()>>>(static_cast<bf16*>(dst), n, bf16(value));
  else
    fill_kernel<double>
        <<<blocks_for(n, kThreads), kThreads, 0, stream()>>>(static_cast<double*>(dst), n, value);
  DDPM_CUDA_LAUNCHED("fill_kernel", std::to_string(n) + " elements " + dtype_name(dtype));
}

}  // namespace ddpm::cuda
