// ddpm-bench's CUDA mode (compiled only with CUDA): the timer, the Bench
// class whose methods (one file per op family: conv2d.cpp, silu.cpp,
// group_norm.cpp, diffusion_ops.cpp, attention.cpp, bmm.cpp, softmax.cpp,
// dropout.cpp, optimizer.cpp) time our CUDA kernels at
// the shapes the ops declare in tests/ops/ (OpCases::bench).
// cuda_main.cpp: the machine, the table and the JSON of this mode;
// common.h: what it shares with the CPU mode (cpu.cpp).
#pragma once

#include <cuda_runtime.h>

#ifdef DDPM_BENCH_CUDNN
#include <cudnn.h>
#endif

#include "benchmarks/kernel_bench/common.h"

#if __has_include("kernels/math_mode.h")
#include "kernels/math_mode.h"
#define DDPM_BENCH_MATH_MODE 1
#endif

namespace ddpm::bench {

inline void check_cuda(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(e));
}

#ifdef DDPM_BENCH_CUDNN
inline void check_cudnn(cudnnStatus_t s, const char* what) {
  if (s != CUDNN_STATUS_SUCCESS) throw std::runtime_error(std::string(what) + ": " + cudnnGetErrorString(s));
}
#endif

class GpuTimer {
 public:
  GpuTimer(cudaStream_t s, bool flush, size_t flush_bytes, int warmup, int repeats)
      : s_(s), flush_(flush), flush_bytes_(flush_bytes), warmup_(warmup), repeats_(repeats) {
    check_cuda(cudaEventCreate(&a_), "cudaEventCreate");
    check_cuda(cudaEventCreate(&b_), "cudaEventCreate");
    if (flush_) check_cuda(cudaMalloc(&flush_buf_, flush_bytes_), "cudaMalloc (L2 flush buffer)");
  }
  ~GpuTimer() {
    cudaEventDestroy(a_);
    cudaEventDestroy(b_);
    if (flush_buf_) cudaFree(flush_buf_);
  }
  GpuTimer(const GpuTimer&) = delete;
  GpuTimer& operator=(const GpuTimer&) = delete;

  Timing time(const std::function<void()>& fn) {
    for (int i = 0; i < warmup_; ++i) fn();
    check_cuda(cudaStreamSynchronize(s_), "warm-up");
    std::vector<double> ms;
    for (int i = 0; i < repeats_; ++i) {
      if (flush_) check_cuda(cudaMemsetAsync(flush_buf_, i & 0xff, flush_bytes_, s_), "L2 flush");
      check_cuda(cudaEventRecord(a_, s_), "cudaEventRecord");
      fn();
      check_cuda(cudaEventRecord(b_, s_), "cudaEventRecord");
      check_cuda(cudaEventSynchronize(b_), "timed call");
      float t = 0;
      check_cuda(cudaEventElapsedTime(&t, a_, b_), "cudaEventElapsedTime");
      ms.push_back(static_cast<double>(t));
    }
    return {median(ms), *std::min_element(ms.begin(), ms.end())};
  }

  size_t flush_bytes() const { return flush_ ? flush_bytes_ : 0; }

 private:
  cudaStream_t s_;
  bool flush_;
  size_t flush_bytes_;
  int warmup_, repeats_;
  cudaEvent_t a_{}, b_{};
  void* flush_buf_ = nullptr;
};

// Device-to-device copy bandwidth (GB/s, read + write) of a large buffer.
inline double copy_bandwidth(cudaStream_t s) {
  const size_t bytes = size_t{512} << 20;
  void *src = nullptr, *dst = nullptr;
  check_cuda(cudaMalloc(&src, bytes), "cudaMalloc (copy bandwidth)");
  check_cuda(cudaMalloc(&dst, bytes), "cudaMalloc (copy bandwidth)");
  check_cuda(cudaMemsetAsync(src, 1, bytes, s), "memset");
  cudaEvent_t a, b;
  check_cuda(cudaEventCreate(&a), "cudaEventCreate");
  check_cuda(cudaEventCreate(&b), "cudaEventCreate");
  std::vector<double> ms;
  for (int i = 0; i < 12; ++i) {
    check_cuda(cudaEventRecord(a, s), "cudaEventRecord");
    check_cuda(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, s), "copy");
    check_cuda(cudaEventRecord(b, s), "cudaEventRecord");
    check_cuda(cudaEventSynchronize(b), "copy");
    float t = 0;
    check_cuda(cudaEventElapsedTime(&t, a, b), "cudaEventElapsedTime");
    if (i >= 2) ms.push_back(static_cast<double>(t));
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  cudaFree(src);
  cudaFree(dst);
  return 2.0 * static_cast<double>(bytes) / (median(ms) * 1e6);
}

class Bench {
 public:
  Bench(GpuTimer& timer, cudaStream_t s, bool tf32, const std::vector<int64_t>& batches)
      : timer_(timer), s_(s), tf32_(tf32), batches_(batches) {
#ifdef DDPM_BENCH_CUDNN
    check_cudnn(cudnnCreate(&cudnn_), "cudnnCreate");
    check_cudnn(cudnnSetStream(cudnn_, s_), "cudnnSetStream");
    check_cuda(cudaMalloc(&find_ws_, kFindWorkspace), "cudaMalloc (cuDNN workspace)");
#endif
  }
  ~Bench() {
#ifdef DDPM_BENCH_CUDNN
    cudnnDestroy(cudnn_);
    cudaFree(find_ws_);
#endif
  }
  Bench(const Bench&) = delete;
  Bench& operator=(const Bench&) = delete;

  std::vector<Row> rows;

  // Also BF16 conv rows (our BF16 tensor-core core against cuDNN on BF16 tensors).
  void set_bf16(bool on) { bf16_ = on; }

  void conv(const std::vector<std::string>& passes);
  void silu(bool fwd, bool bwd);
  void group_norm(bool fwd, bool bwd, bool silu_fwd, bool silu_bwd);
  void q_sample();
  void ddpm_step();
  void ddim_step();
  void dpm_solver_step();
  void euler_ancestral_step();
  void attention(bool fwd, bool bwd);
  void bmm(bool fwd, bool bwd);
  void softmax(bool fwd, bool bwd);
  void dropout();
  void adam();
  void adam_ema();
  void ema();

 private:
  // Runs `check` (which returns the error) and then times `fn`, recording a
  // failure of either in row.error.
  void run_ours(Row& r, const std::function<double()>& check, const std::function<void()>& fn) {
    try {
      r.err = check();
      r.ours = timer_.time(fn);
    } catch (const std::exception& e) {
      r.error += std::string(r.error.empty() ? "" : "; ") + "ours: " + e.what();
    }
  }
  void run_ref(Row& r, const std::function<double()>& check, const std::function<void()>& fn) {
    try {
      r.ref_err = check();
      r.ref = timer_.time(fn);
    } catch (const std::exception& e) {
      r.error += std::string(r.error.empty() ? "" : "; ") + "reference: " + e.what();
    }
  }
  void print(const Row& r);

  GpuTimer& timer_;
  cudaStream_t s_;
  bool tf32_;
  bool bf16_ = false;
  std::vector<int64_t> batches_;
#ifdef DDPM_BENCH_CUDNN
  static constexpr size_t kFindWorkspace = size_t{1} << 30;
  cudnnHandle_t cudnn_{};
  void* find_ws_ = nullptr;
#endif
};

}  // namespace ddpm::bench
