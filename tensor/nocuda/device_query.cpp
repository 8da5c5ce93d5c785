// Device query for builds without the CUDA backend.
#include "tensor/device_query.h"

namespace ddpm {

CudaDeviceInfo cuda_device_info() {
  CudaDeviceInfo info;
  info.why_none = "this build has no CUDA backend (nvcc was not found at configure time)";
  return info;
}

bool cuda_available() { return false; }

}  // namespace ddpm
