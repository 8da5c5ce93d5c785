// ddpm-bench: our CUDA kernels at the seed UNet's real shapes, each raced
// against the best reference we can run on the same GPU, checked before it is
// timed.
//
//   conv2d fwd / bwd-data / bwd-weight   vs cuDNN (algorithm picked by
//       cudnnFindConvolution*AlgorithmEx, given the workspace it asks for);
//       every conv of the base-64 UNet (no bias on either side), FP32 with
//       TF32 off (CUDNN_FMA_MATH; ours MathMode::fp32), and with --tf32 again
//       with TF32 allowed on both sides (CUDNN_TENSOR_OP_MATH; ours
//       MathMode::tf32) when kernels/math_mode.h exists.
//   silu fwd / bwd                       vs cuDNN CUDNN_ACTIVATION_SWISH.
//   group_norm fwd / bwd                 vs the memory roofline only: cuDNN's
//       legacy API has no GroupNorm.
//   q_sample, ddpm_step, ddim_step,      vs the unfused sequence of one-op
//   adam_update, ema_update                 kernels an eager framework launches
//       (benchmarks/unfused_kernels.h; the sequences are spelled out below)
//       and vs the memory roofline.
//
// Method: every case is run once and its output compared with a check
// reference (for convs cuDNN in FP32 with a transform-free algorithm, so no
// Winograd/FFT rounding; otherwise the CPU kernel) as a normalised L2 error
// ||ours - ref|| / ||ref||, flagged when above the case's tolerance. Then
// --warmup untimed calls, then --repeats timed calls, each preceded by a
// memset of a buffer larger than L2 (256 MiB) so no call finds its inputs in
// L2, timed with CUDA events on the engine's stream; the median is reported.
// The flush memset also hides host-side launch overhead: the next kernel is
// queued while the memset runs.
//
// Roofline: bytes moved (each input read once, each output written once) /
// the device-to-device copy bandwidth measured at startup (cudaMemcpyAsync of
// 512 MiB, 2 x bytes per copy). Conv rows report TFLOP/s (2*N*Cout*H*W*Cin*K*K)
// and the fraction of a nominal peak (SMs x per-clock rate x max SM clock:
// 128 FP32 FMA/clk/SM, 1024 TF32 tensor FMA/clk/SM on sm_90).
//
// Output: a table on stdout; with --json FILE the same rows plus the machine
// (GPU, driver, CUDA runtime and driver API, cuDNN, clocks), the precision
// and whether L2 was flushed. benchmarks/report.py turns it into docs.
#include <cuda_runtime.h>

#ifdef DDPM_BENCH_CUDNN
#include <cudnn.h>
#endif

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "benchmarks/unfused_kernels.h"
#include "diffusion/scheduler.h"
#include "kernels/adam_update.h"
#include "kernels/conv2d.h"
#include "tensor/cuda/launch.cuh"
#include "kernels/ddim_step.h"
#include "kernels/ddpm_step.h"
#include "kernels/ema_update.h"
#include "kernels/group_norm.h"
#include "kernels/q_sample.h"
#include "kernels/silu.h"
#include "nn/unet.h"
#include "tensor/cuda_backend.h"
#include "tensor/device_query.h"
#include "tensor/rng.h"

#if __has_include("kernels/math_mode.h")
#include "kernels/math_mode.h"
#define DDPM_BENCH_MATH_MODE 1
#endif

using namespace ddpm;
using json = nlohmann::json;

namespace {

void check_cuda(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(e));
}

#ifdef DDPM_BENCH_CUDNN
void check_cudnn(cudnnStatus_t s, const char* what) {
  if (s != CUDNN_STATUS_SUCCESS) throw std::runtime_error(std::string(what) + ": " + cudnnGetErrorString(s));
}
#endif

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double dbl(int64_t v) { return static_cast<double>(v); }

// ||a - b|| / ||b|| over host copies (absolute when b is all zero).
double norm_err(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return INFINITY;
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = static_cast<double>(a[i]) - static_cast<double>(b[i]);
    num += d * d;
    den += static_cast<double>(b[i]) * static_cast<double>(b[i]);
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

double norm_err(const Tensor& a, const Tensor& b) { return norm_err(a.to_vector<float>(), b.to_vector<float>()); }

std::vector<float> host(const Tensor& t) { return t.to_vector<float>(); }

// A device copy of a host vector.
Tensor device(const std::vector<float>& v, const Shape& s) { return Tensor::from_vector(v, s).to(Device::cuda); }

std::string fmt(const char* f, double v) {
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
double copy_bandwidth(cudaStream_t s) {
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
  std::string ref_detail;  // cuDNN algorithm and workspace, or the unfused launches
  double err = NAN, tol = NAN;    // ours against the check reference
  double ref_err = NAN;           // the timed reference against the check reference
  std::string check_against;      // what err was measured against
  std::string error;              // why a side did not run
};

struct Machine {
  double copy_gbps = 0;
  double peak_fp32_tflops = NAN, peak_tf32_tflops = NAN;
};

double roofline_ms(const Row& r, const Machine& m) { return r.bytes > 0 ? r.bytes / (m.copy_gbps * 1e6) : NAN; }

bool err_ok(const Row& r) { return !(r.err > r.tol) && !std::isnan(r.err); }

struct ConvShape {
  const char* label;
  int64_t cin, cout, hw, k, count;  // count: how many convs of the UNet have this shape
};

// Every conv of the base-64 UNet (3x3 pad 1 unless 1x1), in forward order.
const std::vector<ConvShape> kConvShapes = {
    {"1->64 3x3 @32", 1, 64, 32, 3, 1},     {"64->64 3x3 @32", 64, 64, 32, 3, 2},
    {"64->128 3x3 @16", 64, 128, 16, 3, 1}, {"128->128 3x3 @16", 128, 128, 16, 3, 2},
    {"128->256 3x3 @8", 128, 256, 8, 3, 1}, {"256->256 3x3 @8", 256, 256, 8, 3, 2},
    {"256->512 3x3 @4", 256, 512, 4, 3, 1}, {"512->512 3x3 @4", 512, 512, 4, 3, 1},
    {"768->256 3x3 @8", 768, 256, 8, 3, 1}, {"384->128 3x3 @16", 384, 128, 16, 3, 1},
    {"192->64 3x3 @32", 192, 64, 32, 3, 1}, {"64->1 1x1 @32", 64, 1, 32, 1, 1},
};

// Activation shapes after the UNet's convs (GroupNorm and SiLU run there).
struct ActShape {
  int64_t c, hw;
};
const std::vector<ActShape> kActShapes = {{64, 32}, {128, 16}, {256, 8}, {512, 4}};

std::string act_label(const ActShape& a) {
  return std::to_string(a.c) + "x" + std::to_string(a.hw) + "x" + std::to_string(a.hw);
}

const std::vector<std::string> kOps = {"conv2d_fwd", "conv2d_bwd_data", "conv2d_bwd_weight", "silu_fwd",
                                       "silu_bwd",   "group_norm_fwd",  "group_norm_bwd",    "q_sample",
                                       "ddpm_step",  "ddim_step",       "adam_update",       "ema_update"};

// Tolerances of the normalised L2 error (a reason each):
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

#ifdef DDPM_BENCH_CUDNN
// cuDNN descriptors of one convolution (NCHW float, cross-correlation).
struct CudnnConv {
  cudnnTensorDescriptor_t x{}, y{};
  cudnnFilterDescriptor_t w{};
  cudnnConvolutionDescriptor_t conv{};
  CudnnConv(const kernels::Conv2dDims& d, cudnnMathType_t math) {
    check_cudnn(cudnnCreateTensorDescriptor(&x), "cudnnCreateTensorDescriptor");
    check_cudnn(cudnnCreateTensorDescriptor(&y), "cudnnCreateTensorDescriptor");
    check_cudnn(cudnnCreateFilterDescriptor(&w), "cudnnCreateFilterDescriptor");
    check_cudnn(cudnnCreateConvolutionDescriptor(&conv), "cudnnCreateConvolutionDescriptor");
    auto i = [](int64_t v) { return static_cast<int>(v); };
    check_cudnn(cudnnSetTensor4dDescriptor(x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, i(d.N), i(d.Cin), i(d.H), i(d.W)),
                "cudnnSetTensor4dDescriptor");
    check_cudnn(
        cudnnSetTensor4dDescriptor(y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, i(d.N), i(d.Cout), i(d.Hout), i(d.Wout)),
        "cudnnSetTensor4dDescriptor");
    check_cudnn(cudnnSetFilter4dDescriptor(w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, i(d.Cout), i(d.Cin), i(d.K), i(d.K)),
                "cudnnSetFilter4dDescriptor");
    check_cudnn(cudnnSetConvolution2dDescriptor(conv, i(d.pad), i(d.pad), i(d.stride), i(d.stride), 1, 1,
                                                CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
                "cudnnSetConvolution2dDescriptor");
    check_cudnn(cudnnSetConvolutionMathType(conv, math), "cudnnSetConvolutionMathType");
  }
  ~CudnnConv() {
    cudnnDestroyTensorDescriptor(x);
    cudnnDestroyTensorDescriptor(y);
    cudnnDestroyFilterDescriptor(w);
    cudnnDestroyConvolutionDescriptor(conv);
  }
  CudnnConv(const CudnnConv&) = delete;
  CudnnConv& operator=(const CudnnConv&) = delete;
};

// The fastest successful result of a cudnnFind*: with TF32 off, results that
// would use tensor-op math are skipped (the descriptor forbids them anyway).
template <class Perf>
const Perf* best_perf(const Perf* p, int n, bool allow_tensor_ops) {
  for (int i = 0; i < n; ++i) {
    if (p[i].status != CUDNN_STATUS_SUCCESS) continue;
    const bool tensor_op =
        p[i].mathType == CUDNN_TENSOR_OP_MATH || p[i].mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION;
    if (tensor_op && !allow_tensor_ops) continue;
    return &p[i];
  }
  return nullptr;
}
#endif

void Bench::conv(const std::vector<std::string>& passes) {
  std::vector<bool> modes = {false};
  if (tf32_) modes.push_back(true);
  for (const ConvShape& cs : kConvShapes)
    for (int64_t B : batches_) {
      const int64_t pad = cs.k / 2;
      const Tensor x = randn({B, cs.cin, cs.hw, cs.hw}, 1, 1, DType::f32, Device::cuda);
      const Tensor w = randn({cs.cout, cs.cin, cs.k, cs.k}, 1, 2, DType::f32, Device::cuda);
      const Tensor gy = randn({B, cs.cout, cs.hw, cs.hw}, 1, 3, DType::f32, Device::cuda);
      const kernels::Conv2dDims d = kernels::conv2d_dims(x, w, Tensor(), 1, pad);
      const double flops = 2.0 * dbl(d.N) * dbl(d.Cout) * dbl(d.Hout) * dbl(d.Wout) * dbl(d.Cin) * dbl(d.K * d.K);
      // The check reference per pass: cuDNN's FP32 result (or the CPU's).
      std::vector<std::vector<float>> exact(passes.size());
      for (bool tf32 : modes) {
#ifdef DDPM_BENCH_CUDNN
        CudnnConv desc(d, tf32 ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH);
#endif
        for (size_t pi = 0; pi < passes.size(); ++pi) {
          const std::string& pass = passes[pi];
          Row r;
          r.op = pass;
          r.shape = cs.label;
          r.batch = B;
          r.precision = tf32 ? "tf32" : "fp32";
          r.flops = flops;
          r.tol = tf32 ? kTolConvTf32 : kTolConvFp32;
          Tensor ref_out;
#ifdef DDPM_BENCH_CUDNN
          r.ref_kind = RefKind::cudnn;
          r.check_against = "cuDNN FP32, transform-free algorithm (implicit GEMM / ALGO_1), FMA math";
          try {
            const bool fwd = pass == "conv2d_fwd", bdata = pass == "conv2d_bwd_data";
            ref_out = Tensor::empty(fwd ? gy.shape() : (bdata ? x.shape() : w.shape()), DType::f32, Device::cuda);
            const float one = 1.0f, zero = 0.0f;
            auto set_math = [&](cudnnMathType_t m) {
              check_cudnn(cudnnSetConvolutionMathType(desc.conv, m), "cudnnSetConvolutionMathType");
            };
            // Runs this pass with cuDNN algorithm `algo` (of this pass's enum) into ref_out.
            auto run_algo = [&](int algo, size_t ws) {
              if (fwd)
                check_cudnn(cudnnConvolutionForward(cudnn_, &one, desc.x, x.data<float>(), desc.w, w.data<float>(),
                                                    desc.conv, static_cast<cudnnConvolutionFwdAlgo_t>(algo), find_ws_,
                                                    ws, &zero, desc.y, ref_out.data<float>()),
                            "cudnnConvolutionForward");
              else if (bdata)
                check_cudnn(cudnnConvolutionBackwardData(cudnn_, &one, desc.w, w.data<float>(), desc.y,
                                                         gy.data<float>(), desc.conv,
                                                         static_cast<cudnnConvolutionBwdDataAlgo_t>(algo), find_ws_,
                                                         ws, &zero, desc.x, ref_out.data<float>()),
                            "cudnnConvolutionBackwardData");
              else
                check_cudnn(cudnnConvolutionBackwardFilter(cudnn_, &one, desc.x, x.data<float>(), desc.y,
                                                           gy.data<float>(), desc.conv,
                                                           static_cast<cudnnConvolutionBwdFilterAlgo_t>(algo),
                                                           find_ws_, ws, &zero, desc.w, ref_out.data<float>()),
                            "cudnnConvolutionBackwardFilter");
            };
            // The check reference, once per pass: an algorithm that sums the
            // products directly (no Winograd or FFT transform, whose own
            // rounding error would blur the comparison), TF32 off.
            if (exact[pi].empty()) {
              set_math(CUDNN_FMA_MATH);
              const int direct = fwd ? static_cast<int>(CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM)
                                     : (bdata ? static_cast<int>(CUDNN_CONVOLUTION_BWD_DATA_ALGO_1)
                                              : static_cast<int>(CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1));
              size_t ws = 0;
              if (fwd)
                check_cudnn(cudnnGetConvolutionForwardWorkspaceSize(cudnn_, desc.x, desc.w, desc.conv, desc.y,
                                                                    CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, &ws),
                            "cudnnGetConvolutionForwardWorkspaceSize");
              else if (bdata)
                check_cudnn(cudnnGetConvolutionBackwardDataWorkspaceSize(cudnn_, desc.w, desc.y, desc.conv, desc.x,
                                                                         CUDNN_CONVOLUTION_BWD_DATA_ALGO_1, &ws),
                            "cudnnGetConvolutionBackwardDataWorkspaceSize");
              else
                check_cudnn(cudnnGetConvolutionBackwardFilterWorkspaceSize(cudnn_, desc.x, desc.y, desc.conv, desc.w,
                                                                           CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1, &ws),
                            "cudnnGetConvolutionBackwardFilterWorkspaceSize");
              if (ws > kFindWorkspace) throw std::runtime_error("the check algorithm wants " + std::to_string(ws) + " B");
              run_algo(direct, ws);
              exact[pi] = host(ref_out);
            }
            // The timed reference: the fastest algorithm cudnnFind*Ex reports
            // at the requested math (tensor-op results skipped with TF32 off).
            set_math(tf32 ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH);
            int algo = -1, n = 0;
            size_t ws = 0;
            cudnnMathType_t found = CUDNN_FMA_MATH;
            auto pick = [&](const auto* perf, int count) {
              const auto* p = best_perf(perf, count, tf32);
              if (!p) throw std::runtime_error("no cuDNN algorithm ran for " + pass);
              algo = static_cast<int>(p->algo);
              ws = p->memory;
              found = p->mathType;
            };
            if (fwd) {
              cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
              check_cudnn(cudnnFindConvolutionForwardAlgorithmEx(
                              cudnn_, desc.x, x.data<float>(), desc.w, w.data<float>(), desc.conv, desc.y,
                              ref_out.data<float>(), CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n, perf, find_ws_, kFindWorkspace),
                          "cudnnFindConvolutionForwardAlgorithmEx");
              pick(perf, n);
            } else if (bdata) {
              cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
              check_cudnn(cudnnFindConvolutionBackwardDataAlgorithmEx(
                              cudnn_, desc.w, w.data<float>(), desc.y, gy.data<float>(), desc.conv, desc.x,
                              ref_out.data<float>(), CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n, perf, find_ws_,
                              kFindWorkspace),
                          "cudnnFindConvolutionBackwardDataAlgorithmEx");
              pick(perf, n);
            } else {
              cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
              check_cudnn(cudnnFindConvolutionBackwardFilterAlgorithmEx(
                              cudnn_, desc.x, x.data<float>(), desc.y, gy.data<float>(), desc.conv, desc.w,
                              ref_out.data<float>(), CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &n, perf, find_ws_,
                              kFindWorkspace),
                          "cudnnFindConvolutionBackwardFilterAlgorithmEx");
              pick(perf, n);
            }
            // With TF32 allowed the algorithm runs with the math type Find
            // timed it with; with TF32 off the descriptor stays at FMA math.
            if (tf32) set_math(found);
            r.ref_detail = "cuDNN algo " + std::to_string(algo) + ", workspace " + std::to_string(ws) + " B" +
                           (found == CUDNN_TENSOR_OP_MATH || found == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION
                                ? ", tensor-op math"
                                : "");
            auto run = [&, algo, ws] { run_algo(algo, ws); };
            run_ref(r, [&] { run(); return norm_err(host(ref_out), exact[pi]); }, run);
          } catch (const std::exception& e) {
            r.error = std::string("reference: ") + e.what();
          }
#else
          r.check_against = "CPU kernel";
          if (exact[pi].empty()) {
            const Tensor xc = x.to(Device::cpu), wc = w.to(Device::cpu), gc = gy.to(Device::cpu);
            if (pass == "conv2d_fwd")
              exact[pi] = host(kernels::conv2d_fwd(xc, wc, Tensor(), 1, pad));
            else if (pass == "conv2d_bwd_data")
              exact[pi] = host(kernels::conv2d_bwd_data(gc, wc, x.shape(), 1, pad));
            else
              exact[pi] = host(kernels::conv2d_bwd_weight(xc, gc, w.shape(), 1, pad));
          }
#endif
          Tensor out;
          auto ours = [&] {
#ifdef DDPM_BENCH_MATH_MODE
            kernels::MathModeScope mode(tf32 ? kernels::MathMode::tf32 : kernels::MathMode::fp32);
#endif
            if (pass == "conv2d_fwd")
              out = kernels::conv2d_fwd(x, w, Tensor(), 1, pad);
            else if (pass == "conv2d_bwd_data")
              out = kernels::conv2d_bwd_data(gy, w, x.shape(), 1, pad);
            else
              out = kernels::conv2d_bwd_weight(x, gy, w.shape(), 1, pad);
          };
          run_ours(
              r,
              [&] {
                ours();
                return exact[pi].empty() ? NAN : norm_err(host(out), exact[pi]);
              },
              ours);
          print(r);
          rows.push_back(r);
        }
      }
    }
}

void Bench::silu(bool fwd, bool bwd) {
  for (const ActShape& a : kActShapes)
    for (int64_t B : batches_) {
      const Shape s = {B, a.c, a.hw, a.hw};
      const Tensor x = randn(s, 2, 1, DType::f32, Device::cuda);
      const Tensor g = randn(s, 2, 2, DType::f32, Device::cuda);
      const double n = dbl(x.numel());
#ifdef DDPM_BENCH_CUDNN
      cudnnTensorDescriptor_t td{};
      cudnnActivationDescriptor_t act{};
      check_cudnn(cudnnCreateTensorDescriptor(&td), "cudnnCreateTensorDescriptor");
      check_cudnn(cudnnSetTensor4dDescriptor(td, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, static_cast<int>(B),
                                             static_cast<int>(a.c), static_cast<int>(a.hw), static_cast<int>(a.hw)),
                  "cudnnSetTensor4dDescriptor");
      check_cudnn(cudnnCreateActivationDescriptor(&act), "cudnnCreateActivationDescriptor");
      check_cudnn(cudnnSetActivationDescriptor(act, CUDNN_ACTIVATION_SWISH, CUDNN_NOT_PROPAGATE_NAN, 0.0),
                  "cudnnSetActivationDescriptor");
      check_cudnn(cudnnSetActivationDescriptorSwishBeta(act, 1.0), "cudnnSetActivationDescriptorSwishBeta");
      const float one = 1.0f, zero = 0.0f;
      Tensor ry = Tensor::empty(s, DType::f32, Device::cuda), rgx = Tensor::empty(s, DType::f32, Device::cuda);
      auto ref_fwd = [&] {
        check_cudnn(cudnnActivationForward(cudnn_, act, &one, td, x.data<float>(), &zero, td, ry.data<float>()),
                    "cudnnActivationForward (swish)");
      };
      auto ref_bwd = [&] {
        check_cudnn(cudnnActivationBackward(cudnn_, act, &one, td, ry.data<float>(), td, g.data<float>(), td,
                                            x.data<float>(), &zero, td, rgx.data<float>()),
                    "cudnnActivationBackward (swish)");
      };
#endif
      // The check reference: the CPU kernel (cuDNN is checked against it too).
      const Tensor xc = x.to(Device::cpu), gc = g.to(Device::cpu);
      for (int pass = 0; pass < 2; ++pass) {
        if ((pass == 0 && !fwd) || (pass == 1 && !bwd)) continue;
        Row r;
        r.op = pass == 0 ? "silu_fwd" : "silu_bwd";
        r.shape = act_label(a);
        r.batch = B;
        r.bytes = (pass == 0 ? 2 : 3) * n * 4;
        r.tol = kTolElementwise;
        r.check_against = "CPU kernel";
        const std::vector<float> exact =
            host(pass == 0 ? kernels::silu_fwd(xc) : kernels::silu_bwd(xc, gc));
#ifdef DDPM_BENCH_CUDNN
        r.ref_kind = RefKind::cudnn;
        r.ref_detail = "cudnnActivation" + std::string(pass == 0 ? "Forward" : "Backward") + " SWISH";
        if (pass == 0)
          run_ref(r, [&] { ref_fwd(); return norm_err(host(ry), exact); }, ref_fwd);
        else
          run_ref(r, [&] { ref_fwd(); ref_bwd(); return norm_err(host(rgx), exact); }, ref_bwd);
#else
        r.ref_kind = RefKind::roofline;
#endif
        Tensor out;
        auto ours = [&] { out = pass == 0 ? kernels::silu_fwd(x) : kernels::silu_bwd(x, g); };
        run_ours(r, [&] { ours(); return norm_err(host(out), exact); }, ours);
        print(r);
        rows.push_back(r);
      }
#ifdef DDPM_BENCH_CUDNN
      cudnnDestroyActivationDescriptor(act);
      cudnnDestroyTensorDescriptor(td);
#endif
    }
}

void Bench::group_norm(bool fwd, bool bwd) {
  const int64_t G = 8;
  for (const ActShape& a : kActShapes)
    for (int64_t B : batches_) {
      const Shape s = {B, a.c, a.hw, a.hw};
      const Tensor x = randn(s, 3, 1, DType::f32, Device::cuda);
      const Tensor g = randn(s, 3, 2, DType::f32, Device::cuda);
      const Tensor gamma = randn({a.c}, 3, 3, DType::f32, Device::cuda);
      const Tensor beta = randn({a.c}, 3, 4, DType::f32, Device::cuda);
      const double n = dbl(x.numel()), c = dbl(a.c), stats = dbl(B * G);
      const Tensor xc = x.to(Device::cpu), gc = g.to(Device::cpu), gmc = gamma.to(Device::cpu),
                   btc = beta.to(Device::cpu);
      const kernels::GroupNormForward cf = kernels::group_norm_fwd(xc, G, gmc, btc, 1e-5);
      for (int pass = 0; pass < 2; ++pass) {
        if ((pass == 0 && !fwd) || (pass == 1 && !bwd)) continue;
        Row r;
        r.op = pass == 0 ? "group_norm_fwd" : "group_norm_bwd";
        r.shape = act_label(a) + " G8";
        r.batch = B;
        // fwd: x in, y out, gamma/beta in, mean/rstd out; bwd: x, g in, gx
        // out, mean/rstd/gamma in, ggamma/gbeta out.
        r.bytes = pass == 0 ? (2 * n + 2 * c + 2 * stats) * 4 : (3 * n + 2 * stats + 3 * c) * 4;
        r.tol = kTolGroupNorm;
        r.ref_kind = RefKind::roofline;
        r.ref_detail = "cuDNN's legacy API has no GroupNorm";
        r.check_against = "CPU kernel";
        if (pass == 0) {
          kernels::GroupNormForward out;
          auto ours = [&] { out = kernels::group_norm_fwd(x, G, gamma, beta, 1e-5); };
          run_ours(r,
                   [&] {
                     ours();
                     return std::max({norm_err(out.y, cf.y), norm_err(out.mean, cf.mean), norm_err(out.rstd, cf.rstd)});
                   },
                   ours);
        } else {
          const kernels::GroupNormGrads cb = kernels::group_norm_bwd(xc, cf.mean, cf.rstd, gmc, gc, G, true, true);
          Tensor mean, rstd;
          kernels::GroupNormGrads out;
          auto ours = [&] { out = kernels::group_norm_bwd(x, mean, rstd, gamma, g, G, true, true); };
          run_ours(r,
                   [&] {
                     const kernels::GroupNormForward f = kernels::group_norm_fwd(x, G, gamma, beta, 1e-5);
                     mean = f.mean;
                     rstd = f.rstd;
                     ours();
                     return std::max({norm_err(out.gx, cb.gx), norm_err(out.ggamma, cb.ggamma),
                                      norm_err(out.gbeta, cb.gbeta)});
                   },
                   ours);
        }
        print(r);
        rows.push_back(r);
      }
    }
}

// Per-sample coefficients a = sqrt(alphabar_t), b = sqrt(1 - alphabar_t) for
// timesteps spread over the linear schedule.
std::pair<std::vector<float>, std::vector<float>> qsample_coefs(int64_t B) {
  const NoiseScheduler sched(BetaSchedule::linear, 1000);
  std::vector<float> a(static_cast<size_t>(B)), b(a.size());
  for (int64_t i = 0; i < B; ++i) {
    const size_t t = static_cast<size_t>((i * 997 + 13) % 1000);
    a[static_cast<size_t>(i)] = static_cast<float>(sched.sqrt_alphas_cumprod[t]);
    b[static_cast<size_t>(i)] = static_cast<float>(sched.sqrt_one_minus_alphas_cumprod[t]);
  }
  return {a, b};
}

void Bench::q_sample() {
  for (int64_t B : batches_) {
    const Shape s = {B, 1, 32, 32};
    const int64_t P = 1024, N = B * P;
    const Tensor x0 = rand_uniform(s, -1, 1, 4, 1, DType::f32, Device::cuda);
    const auto [av, bv] = qsample_coefs(B);
    const Tensor a = device(av, {B}), b = device(bv, {B});
    const kernels::QSampleResult cpu =
        kernels::q_sample(x0.to(Device::cpu), a.to(Device::cpu), b.to(Device::cpu), 7, 11, 0,
                          false);
    Row r;
    r.op = "q_sample";
    r.shape = "1x32x32 eps-target";
    r.batch = B;
    r.bytes = (3 * dbl(N) + 2 * dbl(B)) * 4;  // x0, a, b in; x_t, noise (= target) out
    r.tol = kTolElementwise;
    r.check_against = "CPU kernel (same Philox noise)";
    // Unfused, as the seed's add_noise: noise = randn_like(x0);
    // sqrt_a.view(-1,1,1,1) * x0; sqrt_1ma.view(-1,1,1,1) * noise; add.
    r.ref_kind = RefKind::unfused;
    r.ref_detail = "4 launches: randn, mul, mul, add";
    Tensor noise = Tensor::empty(s, DType::f32, Device::cuda), t1 = Tensor::empty(s, DType::f32, Device::cuda),
           t2 = Tensor::empty(s, DType::f32, Device::cuda), xt = Tensor::empty(s, DType::f32, Device::cuda);
    auto unfused_seq = [&] {
      bench::unfused::randn(noise.data<float>(), N, 7, 0, s_);
      bench::unfused::mul_per_sample(t1.data<float>(), x0.data<float>(), a.data<float>(), P, N, s_);
      bench::unfused::mul_per_sample(t2.data<float>(), noise.data<float>(), b.data<float>(), P, N, s_);
      bench::unfused::add(xt.data<float>(), t1.data<float>(), t2.data<float>(), 1.0f, N, s_);
    };
    run_ref(r,
            [&] {
              unfused_seq();
              const std::vector<float> hx = host(x0), hn = host(noise), got = host(xt);
              std::vector<float> want(hx.size());
              for (size_t i = 0; i < want.size(); ++i)
                want[i] = av[i / P] * hx[i] + bv[i / P] * hn[i];
              return norm_err(got, want);
            },
            unfused_seq);
    kernels::QSampleResult out;
    auto ours = [&] { out = kernels::q_sample(x0, a, b, 7, 11, 0, false); };
    run_ours(r, [&] { ours(); return std::max(norm_err(out.x_t, cpu.x_t), norm_err(out.noise, cpu.noise)); }, ours);
    print(r);
    rows.push_back(r);
  }
}

// Coefficients of a DDPM / DDIM step at t = 500 of the linear schedule, as
// diffusion/sampler.cpp computes them (consecutive steps for DDPM, a 20-step
// stride for DDIM as in a 50-step chain).
kernels::DdpmStepParams ddpm_params() {
  const NoiseScheduler sched(BetaSchedule::linear, 1000);
  const int64_t t = 500, tp = 499;
  const double ab = sched.alphabar(t), abp = sched.alphabar(tp), beta = 1 - ab / abp;
  kernels::DdpmStepParams p;
  p.sqrt_ab = std::sqrt(ab);
  p.sqrt_one_minus_ab = std::sqrt(1 - ab);
  p.c_x0 = std::sqrt(abp) * beta / (1 - ab);
  p.c_xt = std::sqrt(1 - beta) * (1 - abp) / (1 - ab);
  p.sigma = std::sqrt(beta);
  p.clip_x0 = true;
  p.seed = 5;
  p.stream = 9;
  p.offset = 0;
  return p;
}

kernels::DdimStepParams ddim_params() {
  const NoiseScheduler sched(BetaSchedule::linear, 1000);
  const int64_t t = 500, tp = 480;
  const double ab = sched.alphabar(t), abp = sched.alphabar(tp);
  kernels::DdimStepParams p;
  p.sqrt_ab = std::sqrt(ab);
  p.sqrt_one_minus_ab = std::sqrt(1 - ab);
  p.sqrt_ab_prev = std::sqrt(abp);
  p.sigma = 0;  // eta = 0
  p.c_eps = std::sqrt(1 - abp);
  p.clip_x0 = true;
  return p;
}

void Bench::ddpm_step() {
  const kernels::DdpmStepParams p = ddpm_params();
  for (int64_t B : batches_) {
    const Shape s = {B, 1, 32, 32};
    const int64_t N = B * 1024;
    const Tensor x = randn(s, 5, 1, DType::f32, Device::cuda);
    const Tensor eps = randn(s, 5, 2, DType::f32, Device::cuda);
    const std::vector<float> cpu = host(kernels::ddpm_step(x.to(Device::cpu), eps.to(Device::cpu), p));
    Row r;
    r.op = "ddpm_step";
    r.shape = "1x32x32 eps clip";
    r.batch = B;
    r.bytes = 3 * dbl(N) * 4;  // x_t, model output in; x_prev out
    r.tol = kTolElementwise;
    r.check_against = "CPU kernel (same Philox noise)";
    // Unfused, as diffusers' DDPMScheduler.step (epsilon, clip_sample):
    // x0 = (x - b*eps) / a; clamp; mean = c_x0*x0 + c_xt*x; z = randn;
    // x_prev = mean + sigma*z.
    r.ref_kind = RefKind::unfused;
    r.ref_detail = "10 launches: mul, sub, div, clamp, mul, mul, add, randn, mul, add";
    auto buf = [&] { return Tensor::empty(s, DType::f32, Device::cuda); };
    Tensor t1 = buf(), t2 = buf(), x0 = buf(), x0c = buf(), t3 = buf(), t4 = buf(), mean = buf(), z = buf(),
           t5 = buf(), xp = buf();
    const float a = static_cast<float>(p.sqrt_ab), bb = static_cast<float>(p.sqrt_one_minus_ab),
                cx0 = static_cast<float>(p.c_x0), cxt = static_cast<float>(p.c_xt), sg = static_cast<float>(p.sigma);
    auto unfused_seq = [&] {
      namespace u = bench::unfused;
      u::mul_scalar(t1.data<float>(), eps.data<float>(), bb, N, s_);
      u::add(t2.data<float>(), x.data<float>(), t1.data<float>(), -1.0f, N, s_);
      u::mul_scalar(x0.data<float>(), t2.data<float>(), 1.0f / a, N, s_);
      u::clamp(x0c.data<float>(), x0.data<float>(), -1.0f, 1.0f, N, s_);
      u::mul_scalar(t3.data<float>(), x0c.data<float>(), cx0, N, s_);
      u::mul_scalar(t4.data<float>(), x.data<float>(), cxt, N, s_);
      u::add(mean.data<float>(), t3.data<float>(), t4.data<float>(), 1.0f, N, s_);
      u::randn(z.data<float>(), N, 5, 0, s_);
      u::mul_scalar(t5.data<float>(), z.data<float>(), sg, N, s_);
      u::add(xp.data<float>(), mean.data<float>(), t5.data<float>(), 1.0f, N, s_);
    };
    run_ref(r,
            [&] {
              unfused_seq();
              const std::vector<float> hx = host(x), he = host(eps), hz = host(z), got = host(xp);
              std::vector<float> want(hx.size());
              for (size_t i = 0; i < want.size(); ++i) {
                const double x0v = std::clamp((hx[i] - p.sqrt_one_minus_ab * he[i]) / p.sqrt_ab, -1.0, 1.0);
                want[i] = static_cast<float>(p.c_x0 * x0v + p.c_xt * hx[i] + p.sigma * hz[i]);
              }
              return norm_err(got, want);
            },
            unfused_seq);
    Tensor out;
    auto ours = [&] { out = kernels::ddpm_step(x, eps, p); };
    run_ours(r, [&] { ours(); return norm_err(host(out), cpu); }, ours);
    print(r);
    rows.push_back(r);
  }
}

void Bench::ddim_step() {
  const kernels::DdimStepParams p = ddim_params();
  for (int64_t B : batches_) {
    const Shape s = {B, 1, 32, 32};
    const int64_t N = B * 1024;
    const Tensor x = randn(s, 6, 1, DType::f32, Device::cuda);
    const Tensor eps = randn(s, 6, 2, DType::f32, Device::cuda);
    const std::vector<float> cpu = host(kernels::ddim_step(x.to(Device::cpu), eps.to(Device::cpu), p));
    Row r;
    r.op = "ddim_step";
    r.shape = "1x32x32 eta0 clip";
    r.batch = B;
    r.bytes = 3 * dbl(N) * 4;
    r.tol = kTolElementwise;
    r.check_against = "CPU kernel";
    // Unfused, as diffusers' DDIMScheduler.step (eta 0, clip_sample):
    // x0 = (x - b*eps) / a; clamp; eps = (x - a*x0) / b;
    // x_prev = sqrt(ab_prev)*x0 + c_eps*eps.
    r.ref_kind = RefKind::unfused;
    r.ref_detail = "10 launches: mul, sub, div, clamp, mul, sub, div, mul, mul, add";
    auto buf = [&] { return Tensor::empty(s, DType::f32, Device::cuda); };
    Tensor t1 = buf(), t2 = buf(), x0 = buf(), x0c = buf(), t3 = buf(), t4 = buf(), e2 = buf(), dir = buf(),
           t5 = buf(), xp = buf();
    const float a = static_cast<float>(p.sqrt_ab), bb = static_cast<float>(p.sqrt_one_minus_ab),
                ap = static_cast<float>(p.sqrt_ab_prev), ce = static_cast<float>(p.c_eps);
    auto unfused_seq = [&] {
      namespace u = bench::unfused;
      u::mul_scalar(t1.data<float>(), eps.data<float>(), bb, N, s_);
      u::add(t2.data<float>(), x.data<float>(), t1.data<float>(), -1.0f, N, s_);
      u::mul_scalar(x0.data<float>(), t2.data<float>(), 1.0f / a, N, s_);
      u::clamp(x0c.data<float>(), x0.data<float>(), -1.0f, 1.0f, N, s_);
      u::mul_scalar(t3.data<float>(), x0c.data<float>(), a, N, s_);
      u::add(t4.data<float>(), x.data<float>(), t3.data<float>(), -1.0f, N, s_);
      u::mul_scalar(e2.data<float>(), t4.data<float>(), 1.0f / bb, N, s_);
      u::mul_scalar(dir.data<float>(), e2.data<float>(), ce, N, s_);
      u::mul_scalar(t5.data<float>(), x0c.data<float>(), ap, N, s_);
      u::add(xp.data<float>(), t5.data<float>(), dir.data<float>(), 1.0f, N, s_);
    };
    run_ref(r, [&] { unfused_seq(); return norm_err(host(xp), cpu); }, unfused_seq);
    Tensor out;
    auto ours = [&] { out = kernels::ddim_step(x, eps, p); };
    run_ours(r, [&] { ours(); return norm_err(host(out), cpu); }, ours);
    print(r);
    rows.push_back(r);
  }
}

int64_t unet_parameters() {
  nn::UNet m(nn::UNetConfig{}, 0);
  return m.num_parameters();
}

void Bench::adam() {
  const int64_t n = unet_parameters();
  kernels::AdamParams ap;
  ap.lr = 1e-3;
  ap.step = 10;
  const Tensor p0 = randn({n}, 8, 1, DType::f32, Device::cuda);
  const Tensor g = randn({n}, 8, 2, DType::f32, Device::cuda);
  const Tensor m0 = randn({n}, 8, 3, DType::f32, Device::cuda);
  const Tensor v0 = rand_uniform({n}, 0, 1, 8, 4, DType::f32, Device::cuda);
  Tensor pc = p0.to(Device::cpu), mc = m0.to(Device::cpu), vc = v0.to(Device::cpu);
  kernels::adam_update(pc, g.to(Device::cpu), mc, vc, ap);
  Row r;
  r.op = "adam_update";
  r.shape = "UNet params " + std::to_string(n);
  r.bytes = 7 * dbl(n) * 4;  // p, g, m, v in; p, m, v out
  r.tol = kTolElementwise;
  r.check_against = "CPU kernel";
  // Unfused, as torch.optim.Adam's single-tensor path on one flat tensor:
  // m.mul_(b1).add_(g, 1-b1); v.mul_(b2).addcmul_(g, g, 1-b2);
  // denom = (v.sqrt() / sqrt(bc2)).add_(eps); p.addcdiv_(m, denom, -lr/bc1).
  r.ref_kind = RefKind::unfused;
  r.ref_detail = "8 launches: mul, add, mul, addcmul, sqrt, div, add, addcdiv (one flat buffer)";
  const double bc1 = 1 - std::pow(ap.beta1, static_cast<double>(ap.step));
  const double bc2 = 1 - std::pow(ap.beta2, static_cast<double>(ap.step));
  Tensor up = p0.clone(), um = m0.clone(), uv = v0.clone(), denom = Tensor::empty({n}, DType::f32, Device::cuda);
  auto unfused_seq = [&] {
    namespace u = bench::unfused;
    float* P = up.data<float>();
    float* M = um.data<float>();
    float* V = uv.data<float>();
    float* D = denom.data<float>();
    const float* G = g.data<float>();
    u::mul_scalar(M, M, static_cast<float>(ap.beta1), n, s_);
    u::add(M, M, G, static_cast<float>(1 - ap.beta1), n, s_);
    u::mul_scalar(V, V, static_cast<float>(ap.beta2), n, s_);
    u::addcmul(V, V, G, G, static_cast<float>(1 - ap.beta2), n, s_);
    u::sqrt(D, V, n, s_);
    u::mul_scalar(D, D, static_cast<float>(1 / std::sqrt(bc2)), n, s_);
    u::add_scalar(D, D, static_cast<float>(ap.eps), n, s_);
    u::addcdiv(P, P, M, D, static_cast<float>(-ap.lr / bc1), n, s_);
  };
  run_ref(r,
          [&] {
            unfused_seq();
            return std::max({norm_err(up, pc), norm_err(um, mc), norm_err(uv, vc)});
          },
          unfused_seq);
  Tensor p = p0.clone(), m = m0.clone(), v = v0.clone();
  auto ours = [&] { kernels::adam_update(p, g, m, v, ap); };
  run_ours(r,
           [&] {
             ours();
             return std::max({norm_err(p, pc), norm_err(m, mc), norm_err(v, vc)});
           },
           ours);
  print(r);
  rows.push_back(r);
}

void Bench::ema() {
  const int64_t n = unet_parameters();
  const double decay = 0.995;
  const Tensor e0 = randn({n}, 9, 1, DType::f32, Device::cuda);
  const Tensor p = randn({n}, 9, 2, DType::f32, Device::cuda);
  Tensor ec = e0.to(Device::cpu);
  kernels::ema_update(ec, p.to(Device::cpu), decay);
  Row r;
  r.op = "ema_update";
  r.shape = "UNet params " + std::to_string(n);
  r.bytes = 3 * dbl(n) * 4;  // ema, param in; ema out
  r.tol = kTolElementwise;
  r.check_against = "CPU kernel";
  // Unfused: ema.mul_(decay); ema.add_(param, alpha=1-decay).
  r.ref_kind = RefKind::unfused;
  r.ref_detail = "2 launches: mul, add";
  Tensor ue = e0.clone();
  auto unfused_seq = [&] {
    bench::unfused::mul_scalar(ue.data<float>(), ue.data<float>(), static_cast<float>(decay), n, s_);
    bench::unfused::add(ue.data<float>(), ue.data<float>(), p.data<float>(), static_cast<float>(1 - decay), n, s_);
  };
  run_ref(r, [&] { unfused_seq(); return norm_err(ue, ec); }, unfused_seq);
  Tensor e = e0.clone();
  auto ours = [&] { kernels::ema_update(e, p, decay); };
  run_ours(r, [&] { ours(); return norm_err(e, ec); }, ours);
  print(r);
  rows.push_back(r);
}

Machine g_machine;

std::string ref_kind_name(RefKind k) {
  switch (k) {
    case RefKind::cudnn: return "cudnn";
    case RefKind::unfused: return "unfused";
    case RefKind::roofline: return "roofline";
    case RefKind::none: break;
  }
  return "none";
}

void print_header() {
  std::printf("%-18s %-22s %5s %-4s %9s %9s %-8s %6s %9s %6s %9s %s\n", "op", "shape", "batch", "prec", "ours ms",
              "ref ms", "ref", "ratio", "TFLOP/s", "%roof", "err", "");
  std::printf("%-18s %-22s %5s %-4s %9s %9s %-8s %6s %9s %6s %9s\n", "", "", "", "", "", "", "", "ref/ours",
              "or GB/s", "", "");
}

void Bench::print(const Row& r) {
  const double ours = r.ours.median_ms, ref = r.ref.median_ms;
  std::string perf = "-", roof = "-";
  if (r.flops > 0 && !std::isnan(ours)) {
    const double tf = r.flops / (ours * 1e9);
    perf = fmt("%.2f TF", tf);
    const double peak = r.precision == "tf32" ? g_machine.peak_tf32_tflops : g_machine.peak_fp32_tflops;
    if (!std::isnan(peak)) roof = fmt("%.0f%%", 100 * tf / peak);
  } else if (r.bytes > 0 && !std::isnan(ours)) {
    perf = fmt("%.0f GB/s", r.bytes / (ours * 1e6));
    roof = fmt("%.0f%%", 100 * roofline_ms(r, g_machine) / ours);
  }
  const std::string batch = r.batch > 0 ? std::to_string(r.batch) : "-";
  const std::string ratio = !std::isnan(ours) && !std::isnan(ref) ? fmt("%.2f", ref / ours) : "-";
  const std::string flag = std::isnan(r.err) ? "" : (err_ok(r) ? "" : "  ** ABOVE TOLERANCE");
  std::printf("%-18s %-22s %5s %-4s %9s %9s %-8s %6s %9s %6s %9s%s\n", r.op.c_str(), r.shape.c_str(), batch.c_str(),
              r.precision.c_str(), std::isnan(ours) ? "-" : fmt("%.4f", ours).c_str(),
              std::isnan(ref) ? "-" : fmt("%.4f", ref).c_str(), ref_kind_name(r.ref_kind).c_str(), ratio.c_str(),
              perf.c_str(), roof.c_str(), std::isnan(r.err) ? "-" : fmt("%.1e", r.err).c_str(), flag.c_str());
  if (!r.error.empty()) std::printf("    ! %s\n", r.error.c_str());
  std::fflush(stdout);
}

json num(double v) { return std::isnan(v) ? json(nullptr) : json(v); }

json row_json(const Row& r) {
  json j;
  j["op"] = r.op;
  j["shape"] = r.shape;
  j["batch"] = r.batch > 0 ? json(r.batch) : json(nullptr);
  j["precision"] = r.precision;
  j["ours_ms"] = num(r.ours.median_ms);
  j["ours_min_ms"] = num(r.ours.min_ms);
  j["ref_kind"] = ref_kind_name(r.ref_kind);
  j["ref_ms"] = num(r.ref.median_ms);
  j["ref_min_ms"] = num(r.ref.min_ms);
  j["ref_detail"] = r.ref_detail;
  j["ratio_ref_over_ours"] = num(r.ref.median_ms / r.ours.median_ms);
  j["flops"] = r.flops > 0 ? json(r.flops) : json(nullptr);
  j["bytes"] = r.bytes > 0 ? json(r.bytes) : json(nullptr);
  if (r.flops > 0) {
    const double tf = r.flops / (r.ours.median_ms * 1e9);
    const double peak = r.precision == "tf32" ? g_machine.peak_tf32_tflops : g_machine.peak_fp32_tflops;
    j["tflops"] = num(tf);
    j["ref_tflops"] = num(r.flops / (r.ref.median_ms * 1e9));
    j["pct_peak"] = num(100 * tf / peak);
  }
  if (r.bytes > 0) {
    j["gbps"] = num(r.bytes / (r.ours.median_ms * 1e6));
    j["ref_gbps"] = num(r.bytes / (r.ref.median_ms * 1e6));
    j["roofline_ms"] = num(roofline_ms(r, g_machine));
    j["pct_roofline"] = num(100 * roofline_ms(r, g_machine) / r.ours.median_ms);
    j["ref_pct_roofline"] = num(100 * roofline_ms(r, g_machine) / r.ref.median_ms);
  }
  j["err"] = num(r.err);
  j["ref_err"] = num(r.ref_err);
  j["tol"] = num(r.tol);
  j["check_against"] = r.check_against;
  j["ok"] = std::isnan(r.err) ? json(nullptr) : json(err_ok(r));
  if (!r.error.empty()) j["error"] = r.error;
  return j;
}

std::string driver_version() {
  std::ifstream in("/proc/driver/nvidia/version");
  std::string line;
  if (std::getline(in, line)) {
    const auto k = line.find("Kernel Module");
    if (k != std::string::npos) {
      std::istringstream s(line.substr(k + 13));
      std::string v;
      s >> v;
      return v;
    }
    return line;
  }
  return "unknown";
}

std::string cuda_version_text(int v) { return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10); }

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ddpm-bench: our CUDA kernels at the seed UNet's shapes against cuDNN, unfused kernels and the "
               "memory roofline"};
  std::string ops_flag, json_path, batch_flag = "1,16,128", note;
  int repeats = 20, warmup = 3;
  bool tf32 = false, no_flush = false, list = false;
  app.add_option("--op", ops_flag,
                 "comma-separated ops (a prefix such as conv2d selects conv2d_*); all by default");
  app.add_option("--json", json_path, "write the results as JSON to this file");
  app.add_option("--batch", batch_flag, "comma-separated batch sizes")->capture_default_str();
  app.add_option("--repeats", repeats, "timed calls per case (median reported)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--warmup", warmup, "untimed calls before timing")->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_flag("--tf32", tf32, "also run the convolutions with TF32 allowed on both sides");
  app.add_flag("--no-l2-flush", no_flush, "do not flush L2 between timed calls");
  app.add_option("--note", note, "free text stored in the JSON (e.g. nvidia-smi clocks)");
  app.add_flag("--list", list, "print the op names and exit");
  CLI11_PARSE(app, argc, argv);

  if (list) {
    for (const auto& o : kOps) std::printf("%s\n", o.c_str());
    return 0;
  }
  std::vector<std::string> wanted = split(ops_flag);
  for (const auto& w : wanted) {
    const bool known = std::any_of(kOps.begin(), kOps.end(), [&](const std::string& o) {
      return o == w || o.rfind(w + "_", 0) == 0;
    });
    if (!known) {
      std::fprintf(stderr, "ddpm-bench: unknown --op '%s' (see --list)\n", w.c_str());
      return 2;
    }
  }
  auto selected = [&](const std::string& op) {
    if (wanted.empty()) return true;
    return std::any_of(wanted.begin(), wanted.end(),
                       [&](const std::string& w) { return op == w || op.rfind(w + "_", 0) == 0; });
  };
  std::vector<int64_t> batches;
  try {
    for (const auto& b : split(batch_flag)) {
      size_t used = 0;
      const long long v = std::stoll(b, &used);
      if (used != b.size() || v < 1) throw std::invalid_argument(b);
      batches.push_back(v);
    }
  } catch (const std::exception&) {
    std::fprintf(stderr, "ddpm-bench: --batch '%s' is not a comma-separated list of positive integers\n",
                 batch_flag.c_str());
    return 2;
  }
  if (batches.empty()) {
    std::fprintf(stderr, "ddpm-bench: --batch is empty\n");
    return 2;
  }

  const CudaDeviceInfo info = cuda_device_info();
  if (info.device_count == 0) {
    std::fprintf(stderr, "ddpm-bench: no usable GPU (%s)\n", info.why_none.c_str());
    return 77;
  }

  try {
    cudaDeviceProp prop{};
    check_cuda(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
    int sm_khz = 0, mem_khz = 0, bus_bits = 0, drv = 0, rt = 0;
    cudaDeviceGetAttribute(&sm_khz, cudaDevAttrClockRate, 0);
    cudaDeviceGetAttribute(&mem_khz, cudaDevAttrMemoryClockRate, 0);
    cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, 0);
    cudaDriverGetVersion(&drv);
    cudaRuntimeGetVersion(&rt);
    const cudaStream_t s = ddpm::cuda::stream();

    g_machine.copy_gbps = copy_bandwidth(s);
    const double sms = prop.multiProcessorCount, ghz = sm_khz * 1e-6;
    if (prop.major == 9) {
      g_machine.peak_fp32_tflops = sms * 128 * 2 * ghz / 1e3;
      g_machine.peak_tf32_tflops = sms * 1024 * 2 * ghz / 1e3;
    } else if (prop.major == 8 && prop.minor == 0) {
      g_machine.peak_fp32_tflops = sms * 64 * 2 * ghz / 1e3;
      g_machine.peak_tf32_tflops = sms * 512 * 2 * ghz / 1e3;
    }
    const double theo_gbps = 2.0 * mem_khz * 1e3 * (bus_bits / 8.0) / 1e9;

    std::string tf32_state = "not requested";
#ifdef DDPM_BENCH_MATH_MODE
    if (tf32) tf32_state = "run";
#else
    if (tf32) {
      tf32_state = "not supported (this build's kernels have no TF32 math mode: kernels/math_mode.h is absent)";
      tf32 = false;
    }
#endif
#ifdef DDPM_BENCH_CUDNN
    const std::string cudnn_header = std::to_string(CUDNN_MAJOR) + "." + std::to_string(CUDNN_MINOR) + "." +
                                     std::to_string(CUDNN_PATCHLEVEL);
    const size_t cv = cudnnGetVersion();
    const std::string cudnn_runtime =
        std::to_string(cv / 10000) + "." + std::to_string(cv % 10000 / 100) + "." + std::to_string(cv % 100);
#else
    const std::string cudnn_header = "not built with cuDNN", cudnn_runtime = "none";
#endif
    const char* tf32_env = std::getenv("NVIDIA_TF32_OVERRIDE");

    std::printf("ddpm-bench: %s (sm_%d%d, %d SMs, L2 %d MiB), driver %s, CUDA runtime %s, cuDNN %s\n", prop.name,
                prop.major, prop.minor, prop.multiProcessorCount, prop.l2CacheSize >> 20, driver_version().c_str(),
                cuda_version_text(rt).c_str(), cudnn_runtime.c_str());
    std::printf("clocks: SM max %d MHz, memory %d MHz x %d bit (%.0f GB/s nominal); copy bandwidth %.0f GB/s "
                "measured; nominal peak FP32 %.1f TFLOP/s, TF32 %.1f TFLOP/s\n",
                sm_khz / 1000, mem_khz / 1000, bus_bits, theo_gbps, g_machine.copy_gbps, g_machine.peak_fp32_tflops,
                g_machine.peak_tf32_tflops);
    std::printf("method: median of %d after %d warm-up, CUDA events, L2 %s; precision FP32 (TF32 off), TF32 rows: "
                "%s\n\n",
                repeats, warmup, no_flush ? "NOT flushed" : "flushed (256 MiB memset) before each call",
                tf32_state.c_str());

    GpuTimer timer(s, !no_flush, size_t{256} << 20, warmup, repeats);
    Bench bench(timer, s, tf32, batches);
    json j;
    j["benchmark"] = "ddpm-bench";
    j["machine"] = {{"gpu", prop.name},
                    {"compute_capability", std::to_string(prop.major) + "." + std::to_string(prop.minor)},
                    {"sms", prop.multiProcessorCount},
                    {"l2_bytes", prop.l2CacheSize},
                    {"memory_bytes", prop.totalGlobalMem},
                    {"sm_clock_max_mhz", sm_khz / 1000},
                    {"memory_clock_mhz", mem_khz / 1000},
                    {"memory_bus_bits", bus_bits},
                    {"nominal_bandwidth_gbps", theo_gbps},
                    {"driver", driver_version()},
                    {"cuda_driver_api", cuda_version_text(drv)},
                    {"cuda_runtime", cuda_version_text(rt)},
                    {"cudnn_header", cudnn_header},
                    {"cudnn_runtime", cudnn_runtime},
                    {"nvidia_tf32_override", tf32_env ? tf32_env : ""}};
    j["copy_bandwidth_gbps"] = g_machine.copy_gbps;
    j["peak_fp32_tflops"] = num(g_machine.peak_fp32_tflops);
    j["peak_tf32_tflops"] = num(g_machine.peak_tf32_tflops);
    j["precision"] = "fp32 (TF32 off: CUDNN_FMA_MATH, MathMode::fp32); tf32 rows: TF32 allowed on both sides";
    j["tf32"] = tf32_state;
    j["l2_flushed"] = !no_flush;
    j["l2_flush_bytes"] = timer.flush_bytes();
    j["repeats"] = repeats;
    j["warmup"] = warmup;
    j["statistic"] = "median";
    j["batches"] = batches;
    j["note"] = note;
    // Rewritten after every op group, so a run cut short keeps what it measured.
    auto write_json = [&](bool complete) {
      if (json_path.empty()) return;
      j["complete"] = complete;
      j["rows"] = json::array();
      for (const Row& r : bench.rows) j["rows"].push_back(row_json(r));
      const std::string tmp = json_path + ".tmp";
      {
        std::ofstream out(tmp);
        if (!out) throw std::runtime_error("cannot write " + tmp);
        out << j.dump(1) << "\n";
      }
      if (std::rename(tmp.c_str(), json_path.c_str()) != 0) throw std::runtime_error("cannot write " + json_path);
    };

    print_header();
    std::vector<std::string> conv_passes;
    for (const char* p : {"conv2d_fwd", "conv2d_bwd_data", "conv2d_bwd_weight"})
      if (selected(p)) conv_passes.push_back(p);
    const std::vector<std::pair<bool, std::function<void()>>> groups = {
        {!conv_passes.empty(), [&] { bench.conv(conv_passes); }},
        {selected("silu_fwd") || selected("silu_bwd"),
         [&] { bench.silu(selected("silu_fwd"), selected("silu_bwd")); }},
        {selected("group_norm_fwd") || selected("group_norm_bwd"),
         [&] { bench.group_norm(selected("group_norm_fwd"), selected("group_norm_bwd")); }},
        {selected("q_sample"), [&] { bench.q_sample(); }},
        {selected("ddpm_step"), [&] { bench.ddpm_step(); }},
        {selected("ddim_step"), [&] { bench.ddim_step(); }},
        {selected("adam_update"), [&] { bench.adam(); }},
        {selected("ema_update"), [&] { bench.ema(); }},
    };
    for (const auto& [on, run] : groups) {
      if (!on) continue;
      run();
      write_json(false);
    }
    write_json(true);

    int flagged = 0, failed = 0;
    for (const Row& r : bench.rows) {
      if (!std::isnan(r.err) && !err_ok(r)) ++flagged;
      if (!r.error.empty()) ++failed;
    }
    std::printf("\n%zu cases, %d above tolerance, %d with errors\n", bench.rows.size(), flagged, failed);
    if (!json_path.empty()) std::printf("wrote %s\n", json_path.c_str());
    return flagged > 0 ? 1 : 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ddpm-bench: %s\n", e.what());
    return 1;
  }
}
