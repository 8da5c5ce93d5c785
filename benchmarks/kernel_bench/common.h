// ddpm-bench's device-neutral parts: the options, the rows, the statistics
// and the helpers both modes share. The CUDA mode (bench.h: the timer, the
// Bench class whose methods live one file per op family, run_cuda in
// cuda_main.cpp) is compiled only with CUDA; the CPU mode (cpu.cpp, run_cpu)
// and main.cpp (flags, dispatch, JSON) in every build.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "kernels/ddim_step.h"
#include "kernels/ddpm_step.h"
#include "kernels/dpm_solver_step.h"
#include "kernels/euler_ancestral_step.h"
#include "tensor/rng.h"
#include "tensor/tensor.h"
#include "tests/ops/op_cases.h"

namespace ddpm::bench {

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

enum class RefKind { cudnn, unfused, roofline, none };

struct Row {
  std::string op, shape, precision = "fp32";
  std::string device = "cuda";  // where ours ran: cuda or cpu
  int64_t batch = 0;            // 0: the case does not depend on the batch (Adam, EMA)
  double flops = 0, bytes = 0;
  Timing ours, ref;
  double cpu_ms = NAN;  // CPU mode: the best process CPU time of a call (all threads)
  RefKind ref_kind = RefKind::none;
  std::string ref_detail;       // cuDNN algorithm and workspace, or the unfused launches
  double err = NAN, tol = NAN;  // ours against the check reference
  double ref_err = NAN;         // the timed reference against the check reference
  std::string check_against;    // what err was measured against
  std::string error;            // why a side did not run
  // Ops with variants (conv2d): the one `ours` ran (the autotuner's pick) and
  // each variant's own timing, forced.
  std::string variant;
  std::vector<std::pair<std::string, Timing>> variants;
};

struct Machine {
  double copy_gbps = 0;  // CUDA: device-to-device copy; CPU: a STREAM-style copy over all threads
  double peak_fp32_tflops = NAN, peak_tf32_tflops = NAN;
};

// The nominal tensor-core / FP32 peak of a row's precision (BF16 dense: twice TF32's).
inline double peak_tflops(const std::string& precision, const Machine& m) {
  if (precision == "tf32") return m.peak_tf32_tflops;
  if (precision == "bf16") return 2 * m.peak_tf32_tflops;
  return m.peak_fp32_tflops;
}

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
// BF16 convs against cuDNN's FP32 result: operands rounded to 8 significant
// bits (up to 2^-8 each), ~2e-3 rms relative per sum.
constexpr double kTolConvBf16 = 2e-2;
// Elementwise kernels: a few float operations per element whose rounding may
// differ (expf, sqrtf, division vs reciprocal): a few ulp, ~1e-7 normalised.
constexpr double kTolElementwise = 1e-5;
// GroupNorm: float statistics over groups of up to 8192 elements against the
// CPU's double sums; the backward subtracts two such sums.
constexpr double kTolGroupNorm = 1e-4;

// Attention (kernels/attention.h), fused or unfused, FP32 against the CPU
// kernel (CUDA mode) or its float64 run (CPU mode): sums over D (scores) and
// Lk (softmax, p v^T) terms in different orders, expf within 2 ulp, and the
// backward's ds = p (dp - delta) subtracting two such sums: ~1e-6 normalised.
constexpr double kTolAttention = 1e-4;

// An attention bench shape (tests/ops/attention.cpp: sample {heads, D, Lq,
// Lk}) at a batch: q [B, D, Lq], k [B, D, Lk], v [B, D, Lk] with B = batch *
// heads, E = D, scale 1 / sqrt(D).
struct AttentionCase {
  int64_t b, d, lq, lk;
  double scale;
};
inline AttentionCase attention_case(const test::BenchShape& s, int64_t batch) {
  if (s.sample.size() != 4) throw std::logic_error("attention bench shape " + s.label + ": expected 4 sizes");
  return {batch * s.sample[0], s.sample[1], s.sample[2], s.sample[3], 1.0 / std::sqrt(dbl(s.sample[1]))};
}
// Nominal FLOPs, the same count for the fused kernel and the unfused ops:
// forward s = q^T k and o = v p^T, 2 B Lq Lk (D + E) (= 4 B Lq Lk D);
// backward dp = go^T v, gv = go p, gq = k ds^T, gk = q ds, 4 B Lq Lk (D + E)
// (the fused backward also recomputes s, 2 B Lq Lk D more, not counted);
// the exponentials and the softmax are not counted.
inline double attention_flops(const AttentionCase& a, bool bwd) {
  return (bwd ? 4.0 : 2.0) * dbl(a.b) * dbl(a.lq) * dbl(a.lk) * 2.0 * dbl(a.d);
}

// A bmm bench shape (tests/ops/bmm.cpp: sample {heads, M, K, N, trans_a,
// trans_b}) at a batch: a [B, M, K] ([B, K, M] when trans_a), b [B, K, N]
// ([B, N, K] when trans_b) -> c [B, M, N] with B = batch * heads.
struct BmmCase {
  int64_t b, m, k, n;
  bool trans_a, trans_b;
  Shape a_shape() const { return trans_a ? Shape{b, k, m} : Shape{b, m, k}; }
  Shape b_shape() const { return trans_b ? Shape{b, n, k} : Shape{b, k, n}; }
  Shape c_shape() const { return {b, m, n}; }
};
inline BmmCase bmm_case(const test::BenchShape& s, int64_t batch) {
  const Shape& v = s.sample;
  if (v.size() != 6 || v[4] < 0 || v[4] > 1 || v[5] < 0 || v[5] > 1)
    throw std::logic_error("bmm bench shape " + s.label +
                           ": expected {heads, M, K, N, trans_a, trans_b} with flags 0 or 1");
  return {batch * v[0], v[1], v[2], v[3], v[4] == 1, v[5] == 1};
}
// Nominal FLOPs: forward 2 B M N K; backward 4 B M N K (gA and gB, one GEMM each).
inline double bmm_flops(const BmmCase& c, bool bwd) {
  return (bwd ? 4.0 : 2.0) * dbl(c.b) * dbl(c.m) * dbl(c.n) * dbl(c.k);
}
// Bytes a bmm must move: forward A, B read and C written once; backward
// A, B and gC read, gA and gB written once (the two GEMMs together).
inline double bmm_bytes(const BmmCase& c, bool bwd) {
  const double a = dbl(c.b * c.m * c.k), b = dbl(c.b * c.k * c.n), cc = dbl(c.b * c.m * c.n);
  return (bwd ? 2 * (a + b) + cc : a + b + cc) * 4;
}
// bmm in FP32 (cuBLAS without TF32) against the CPU kernel (Eigen, FP32):
// dot products of up to 256 terms (K, or M and N in the backward) summed in
// different orders, ~sqrt(256) * 2^-24 ~ 1e-6 normalised; 1e-5 leaves 10x.
constexpr double kTolBmm = 1e-5;

// Softmax (kernels/softmax.h): both of our backends compute in double and
// round each output once (<= 1 ulp apart); cuDNN's accurate softmax in float
// on an input pre-scaled in float (one more rounding of s x): a few ulp per
// element, ~1e-7 normalised.
constexpr double kTolSoftmax = 1e-5;

// The drop probability of the dropout rows (DDPM's CIFAR-10 rate; the
// parity cases of tests/ops/dropout.cpp use it too) and its Philox seed and
// stream (diffusion/streams.h kDropout = 8).
constexpr double kBenchDropoutP = 0.1;
constexpr uint64_t kBenchDropoutSeed = 1234, kBenchDropoutStream = 8;
// An offset past 2^32, as late in a training run (the counter's high word in use).
constexpr uint64_t kBenchDropoutOffset = (uint64_t{1} << 32) + 12345;

// The fraction of elements whose bits differ (0: bit-identical), for kernels
// that must match the CPU exactly (dropout: the same Philox bits and one
// IEEE multiply); 1 when the sizes differ.
inline double bits_err(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return 1;
  size_t differ = 0;
  for (size_t i = 0; i < a.size(); ++i) differ += std::memcmp(&a[i], &b[i], sizeof(float)) != 0 ? 1 : 0;
  return a.empty() ? 0 : static_cast<double>(differ) / static_cast<double>(a.size());
}

// Scores-like values for the softmax rows: randn times sqrt(d), the spread
// of q^T k for unit q, k of head dim d (so scale 1 / sqrt(d) gives unit logits).
inline std::vector<float> scores(const Shape& s, int64_t d, uint64_t stream) {
  std::vector<float> v = randn(s, 13, stream).to_vector<float>();
  const float k = static_cast<float>(std::sqrt(dbl(d)));
  for (float& x : v) x *= k;
  return v;
}

// The flags of both modes (main.cpp parses them).
struct Options {
  std::string device;                                // "cuda" or "cpu"
  std::function<bool(const std::string&)> selected;  // --op: is this row name wanted?
  std::vector<int64_t> batches;
  int repeats = 20, warmup = 3;
  bool tf32 = false, bf16 = false, no_flush = false;
  std::string json_path, note, torch_json;
};

// Every row name, with the modes that time it (--list, --op).
struct OpName {
  const char* name;
  bool cuda, cpu;
};
extern const std::vector<OpName> kOps;

std::string ref_kind_name(RefKind k);
nlohmann::json num(double v);
nlohmann::json row_json(const Row& r);
// Writes j (with its rows replaced by `rows`) to path through a temporary
// file; nothing when path is empty.
void write_json(nlohmann::json& j, const std::vector<Row>& rows, const std::string& path, bool complete);

// The modes: each returns the process exit status.
int run_cuda(const Options& o);  // cuda_main.cpp, only in a CUDA build
int run_cpu(const Options& o);   // cpu.cpp

// Shared case parameters (params.cpp): per-sample q_sample coefficients,
// DDPM/DDIM step coefficients at t = 500, the UNet's parameter count.
std::pair<std::vector<float>, std::vector<float>> qsample_coefs(int64_t B);
kernels::DdpmStepParams ddpm_params();
kernels::DdimStepParams ddim_params();
kernels::DpmSolverStepParams dpm_solver_params();
kernels::EulerAncestralStepParams euler_ancestral_params();
int64_t unet_parameters();

}  // namespace ddpm::bench
