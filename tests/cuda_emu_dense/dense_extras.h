// What kernels/cuda/conv2d.cu and group_norm.cu use beyond the CPU stand-in
// for <cuda_runtime.h> in tests/cuda_emu (written for the elementwise
// kernels): __launch_bounds__, __align__, __trap and the SM-count query.
// Force-included (-include) before each source by scripts/cuda-emu-check-dense.sh.
#pragma once

#include <cuda_runtime.h>  // tests/cuda_emu/include/cuda_runtime.h

#include <cstdlib>

#ifndef __launch_bounds__
#define __launch_bounds__(...)
#endif
#ifndef __align__
#define __align__(n) __attribute__((aligned(n)))
#endif

inline void __trap() { std::abort(); }

enum cudaDeviceAttr { cudaDevAttrMultiProcessorCount = 16 };
// The emulated GPU has as many SMs as an H100 SXM, so the split plans are the
// ones the GPU will use.
inline cudaError_t cudaGetDevice(int* device) {
  *device = 0;
  return cudaSuccess;
}
inline cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr, int) {
  *value = 132;
  return cudaSuccess;
}

// The autotuner's timing (kernels/cuda/conv2d.cu, Conv2dCudaAlgo::automatic):
// events read a steady clock (the emulated launches run synchronously), and
// the stream is never being captured.
#include <chrono>
struct EmuEvent {
  std::chrono::steady_clock::time_point t;
};
using cudaEvent_t = EmuEvent*;
inline cudaError_t cudaEventCreate(cudaEvent_t* e) {
  *e = new EmuEvent{};
  return cudaSuccess;
}
inline cudaError_t cudaEventDestroy(cudaEvent_t e) {
  delete e;
  return cudaSuccess;
}
inline cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t) {
  e->t = std::chrono::steady_clock::now();
  return cudaSuccess;
}
inline cudaError_t cudaEventSynchronize(cudaEvent_t) { return cudaSuccess; }
inline cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t a, cudaEvent_t b) {
  *ms = std::chrono::duration<float, std::milli>(b->t - a->t).count();
  return cudaSuccess;
}
enum cudaStreamCaptureStatus { cudaStreamCaptureStatusNone = 0, cudaStreamCaptureStatusActive = 1 };
inline cudaError_t cudaStreamIsCapturing(cudaStream_t, cudaStreamCaptureStatus* status) {
  *status = cudaStreamCaptureStatusNone;
  return cudaSuccess;
}
