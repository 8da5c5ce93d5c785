// Is there a GPU we can use? Answered without crashing on machines that have
// the CUDA toolkit but no driver (cudaGetDeviceCount then returns
// cudaErrorInsufficientDriver, 35, and leaves the count unwritten).
#pragma once

#include <string>

namespace ddpm {

struct CudaDeviceInfo {
  bool built_with_cuda = false;  // this build has the CUDA backend
  int device_count = 0;          // usable GPUs (0 when none or no driver)
  std::string name;              // device 0's name, when there is one
  int cc_major = 0, cc_minor = 0;
  std::string why_none;  // why device_count is 0, in words
};

CudaDeviceInfo cuda_device_info();
// True when the CUDA backend is built and a GPU is present.
bool cuda_available();

}  // namespace ddpm
