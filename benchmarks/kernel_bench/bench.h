// ddpm-bench's shared parts: the timer, the rows, the Bench class whose
// methods (one file per op family: conv2d.cpp, silu.cpp, group_norm.cpp,
// diffusion_ops.cpp, optimizer.cpp) time our CUDA kernels at the shapes the
// ops declare in tests/ops/ (OpCases::bench), and the helpers they share.
// main.cpp: flags, the machine, the table and the JSON.
#pragma once

#include <cuda_runtime.h>

#ifdef DDPM_BENCH_CUDNN
#include <cudnn.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "tensor/tensor.h"
#include "tests/ops/op_cases.h"

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

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

inline double dbl(int64_t v) { return static_cast<double>(v); }

// ||a - b|| / ||b|| over host copies (absolute when b is all zero).
inline double norm_err(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return INFINITY;
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = static_cast<double>(a[i]) - static_cast<double>(b[i]);
    num += d * d;
    den += static_cast<double>(b[i]) * static_cast<double>(b[i]);
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

inline double norm_err(const Tensor& a, const Tensor& b) {
  return norm_err(a.to_vector<float>(), b.to_vector<float>());
}

inline std::vector<float> host(const Tensor& t) { return t.to_vector<float>(); }

// A device copy of a host vector.
inline Tensor device(const std::vector<float>& v, const Shape& s) {
  return Tensor::from_vector(v, s).to(Device::cuda);
}

inline std::string fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

struct Timing {
  double median_ms = NAN, min_ms = NAN;
};

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

enum class RefKind { cudnn, unfused, roofline, none };

struct Row {
  std::string op, shape, precision = "fp32";
  int64_t batch = 0;  // 0: the case does not depend on the batch (Adam, EMA)
  double flops = 0, bytes = 0;
  Timing ours, ref;
  RefKind ref_kind = RefKind::none;
  std::string ref_detail;       // cuDNN algorithm and workspace, or the unfused launches
  double err = NAN, tol = NAN;  // ours against the check reference
  double ref_err = NAN;         // the timed reference against the check reference
  std::string check_against;    // what err was measured against
  std::string error;            // why a side did not run
};

struct Machine {
  double copy_gbps = 0;
  double peak_fp32_tflops = NAN, peak_tf32_tflops = NAN;
};

inline double roofline_ms(const Row& r, const Machine& m) {
  return r.bytes > 0 ? r.bytes / (m.copy_gbps * 1e6) : NAN;
}

inline bool err_ok(const Row& r) { return !(r.err > r.tol) && !std::isnan(r.err); }

extern Machine g_machine;

// The shapes an op declares for the benchmark (tests/ops/<op>.cpp).
inline const std::vector<test::BenchShape>& bench_shapes(const char* op) {
  const test::OpCases* c = test::find_op_cases(op);
  if (!c || c->bench.empty())
    throw std::logic_error(std::string("tests/ops/ declares no bench shape for ") + op);
  return c->bench;
}

// FP32 convs: both sides sum up to 131072 products (bwd-weight at batch 128)
// in different orders; random-sign rounding gives ~sqrt(n) * 2^-24 ~ 2e-5.
constexpr double kTolConvFp32 = 1e-4;
// TF32 convs against cuDNN's FP32 result: operands rounded to 10-bit
// mantissas (2^-11 each), random signs keep the relative error of the sums
// near 5e-4.
constexpr double kTolConvTf32 = 5e-3;
// Elementwise kernels: a few float operations per element whose rounding may
// differ (expf, sqrtf, division vs reciprocal): a few ulp, ~1e-7 normalised.
constexpr double kTolElementwise = 1e-5;
// GroupNorm: float statistics over groups of up to 8192 elements against the
// CPU's double sums; the backward subtracts two such sums.
constexpr double kTolGroupNorm = 1e-4;

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

  void conv(const std::vector<std::string>& passes);
  void silu(bool fwd, bool bwd);
  void group_norm(bool fwd, bool bwd);
  void q_sample();
  void ddpm_step();
  void ddim_step();
  void adam();
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
  std::vector<int64_t> batches_;
#ifdef DDPM_BENCH_CUDNN
  static constexpr size_t kFindWorkspace = size_t{1} << 30;
  cudnnHandle_t cudnn_{};
  void* find_ws_ = nullptr;
#endif
};

}  // namespace ddpm::bench
