// The CUDA conv2d algorithm setting and its names (kernels/conv2d.h). A file
// of its own: the dense CUDA emulation (tests/cuda_emu_dense) builds it with
// kernels/cuda/conv2d.cu but not the rest of kernels/conv2d.cpp.
#include <atomic>

#include "kernels/conv2d.h"

namespace ddpm::kernels {

namespace {
std::atomic<Conv2dCudaAlgo> g_cuda_algo{Conv2dCudaAlgo::automatic};
}  // namespace

Conv2dCudaAlgo conv2d_cuda_algo() { return g_cuda_algo.load(std::memory_order_relaxed); }

void set_conv2d_cuda_algo(Conv2dCudaAlgo algo) { g_cuda_algo.store(algo, std::memory_order_relaxed); }

const char* conv2d_cuda_algo_name(Conv2dCudaAlgo algo) {
  switch (algo) {
    case Conv2dCudaAlgo::automatic:
      return "automatic";
    case Conv2dCudaAlgo::direct:
      return "direct";
    case Conv2dCudaAlgo::implicit_gemm_fp32:
      return "implicit_gemm_fp32";
    case Conv2dCudaAlgo::implicit_gemm_tf32:
      return "implicit_gemm_tf32";
    case Conv2dCudaAlgo::implicit_gemm_fp32_pipelined:
      return "implicit_gemm_fp32_pipelined";
    case Conv2dCudaAlgo::implicit_gemm_tf32_pipelined:
      return "implicit_gemm_tf32_pipelined";
    case Conv2dCudaAlgo::implicit_gemm_bf16:
      return "implicit_gemm_bf16";
    case Conv2dCudaAlgo::implicit_gemm_bf16_pipelined:
      return "implicit_gemm_bf16_pipelined";
    case Conv2dCudaAlgo::winograd_fp32:
      return "winograd_fp32";
    case Conv2dCudaAlgo::winograd_tf32:
      return "winograd_tf32";
    case Conv2dCudaAlgo::implicit_gemm_fp32_wide:
      return "implicit_gemm_fp32_wide";
    case Conv2dCudaAlgo::implicit_gemm_tf32_wide:
      return "implicit_gemm_tf32_wide";
    case Conv2dCudaAlgo::implicit_gemm_bf16_wide:
      return "implicit_gemm_bf16_wide";
  }
  return "?";
}

}  // namespace ddpm::kernels
