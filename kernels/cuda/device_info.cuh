// The current device's multiprocessor count, read once: the launchers that
// split a reduction across blocks (conv2d's backward-weight, GroupNorm's
// statistics) size their grids to fill every SM.
#pragma once

#include <cuda_runtime.h>

#include "tensor/cuda/launch.cuh"

namespace ddpm::kernels::cuda {

inline int sm_count() {
  static const int count = [] {
    int dev = 0, n = 0;
    ddpm::cuda::check(cudaGetDevice(&dev), "cudaGetDevice");
    ddpm::cuda::check(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev),
                      "cudaDeviceGetAttribute");
    return n > 0 ? n : 1;
  }();
  return count;
}

}  // namespace ddpm::kernels::cuda
