// Device query through the CUDA runtime. Compiled by nvcc whenever the CUDA
// language is on, so CI (which has nvcc but no GPU) proves the toolchain.
#include <cuda_runtime.h>

#include "tensor/device_query.h"

namespace ddpm {

CudaDeviceInfo cuda_device_info() {
  CudaDeviceInfo info;
  info.built_with_cuda = true;
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    info.why_none = std::string("cudaGetDeviceCount failed: ") + cudaGetErrorName(err) + " (" +
                    cudaGetErrorString(err) + ")";
    cudaGetLastError();  // clear the sticky error so later calls start clean
    return info;
  }
  if (count == 0) {
    info.why_none = "the CUDA driver reports no devices";
    return info;
  }
  info.device_count = count;
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess) {
    info.name = prop.name;
    info.cc_major = prop.major;
    info.cc_minor = prop.minor;
  }
  return info;
}

bool cuda_available() {
  static const bool available = cuda_device_info().device_count > 0;
  return available;
}

}  // namespace ddpm
