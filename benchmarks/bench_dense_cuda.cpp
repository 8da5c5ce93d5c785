// GPU timings of the dense CUDA kernels at the seed UNet's shapes (base 64,
// 1 x 32 x 32 input): conv2d forward, backward-data and backward-weight (+
// bias) in FP32 (SIMT implicit GEMM) and TF32 (tensor cores), and GroupNorm(8)
// forward and backward. The PyTorch/cuDNN twin is benchmarks/bench_dense_torch.py,
// which reads this program's JSON and prints the ratios.
//
// Timing: each measurement queues `iters` calls on the engine's stream and
// waits once (cuda::synchronize), after two untimed calls; the median of 5
// such runs is reported. conv2d: TFLOP/s = 2 N Cout Hout Wout Cin K^2 per pass.
// GroupNorm: GB/s of the bytes the kernels must move (fwd: x twice, y once;
// bwd: x and gy twice, gx once), to set against the copy bandwidth.
//
// Usage: bench-dense-cuda [--batch N] [--iters N] [--json FILE]; exits 77 without a GPU.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "kernels/conv2d.h"
#include "kernels/group_norm.h"
#include "tensor/cuda_backend.h"
#include "tensor/device_query.h"
#include "tensor/rng.h"

using namespace ddpm;

namespace {

struct Record {
  std::string op, pass, shape, precision;
  double ms, rate;  // rate: TFLOP/s (conv2d) or GB/s (group_norm)
};

double time_ms(int iters, const std::function<void()>& f) {
  for (int i = 0; i < 2; ++i) f();
  cuda::synchronize();
  std::vector<double> runs;
  for (int r = 0; r < 5; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < iters; ++i) f();
    cuda::synchronize();
    const auto t1 = std::chrono::steady_clock::now();
    runs.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count() / iters);
  }
  std::sort(runs.begin(), runs.end());
  return runs[runs.size() / 2];
}

Tensor input(const Shape& s, uint64_t stream) { return rand_uniform(s, -1, 1, 7, stream).to(Device::cuda); }

void bench_conv(int64_t n, int64_t cin, int64_t cout, int64_t hw, int64_t k, int iters, std::vector<Record>& out) {
  const int64_t pad = k / 2;
  Tensor x = input({n, cin, hw, hw}, 1), w = input({cout, cin, k, k}, 2), b = input({cout}, 3);
  Tensor gy = input({n, cout, hw, hw}, 4);
  const double flops = 2.0 * static_cast<double>(n * cout * hw * hw * cin * k * k);
  const std::string shape = "x " + shape_str(x.shape()) + " w " + shape_str(w.shape());
  for (const auto algo : {kernels::Conv2dCudaAlgo::implicit_gemm_fp32, kernels::Conv2dCudaAlgo::implicit_gemm_tf32}) {
    kernels::Conv2dCudaAlgoScope use(algo);
    const std::string prec = algo == kernels::Conv2dCudaAlgo::implicit_gemm_tf32 ? "tf32" : "fp32";
    const double fwd = time_ms(iters, [&] { kernels::conv2d_fwd(x, w, b, 1, pad); });
    const double data = time_ms(iters, [&] { kernels::conv2d_bwd_data(gy, w, x.shape(), 1, pad); });
    const double weight = time_ms(iters, [&] {
      Tensor gb;
      kernels::conv2d_bwd_weight(x, gy, w.shape(), 1, pad, &gb);
    });
    out.push_back({"conv2d", "fwd", shape, prec, fwd, flops / fwd * 1e-9});
    out.push_back({"conv2d", "bwd_data", shape, prec, data, flops / data * 1e-9});
    out.push_back({"conv2d", "bwd_weight", shape, prec, weight, flops / weight * 1e-9});
  }
}

void bench_group_norm(const Shape& s, int iters, std::vector<Record>& out) {
  Tensor x = input(s, 5), gamma = input({s[1]}, 6), beta = input({s[1]}, 7), gy = input(s, 8);
  const kernels::GroupNormForward f = kernels::group_norm_fwd(x, 8, gamma, beta, 1e-5);
  const double bytes = static_cast<double>(x.nbytes());
  const double fwd = time_ms(iters, [&] { kernels::group_norm_fwd(x, 8, gamma, beta, 1e-5); });
  const double bwd = time_ms(iters, [&] { kernels::group_norm_bwd(x, f.mean, f.rstd, gamma, gy, 8, true, true); });
  out.push_back({"group_norm", "fwd", "x " + shape_str(s), "fp32", fwd, 3 * bytes / fwd * 1e-6});
  out.push_back({"group_norm", "bwd", "x " + shape_str(s), "fp32", bwd, 5 * bytes / bwd * 1e-6});
}

}  // namespace

int main(int argc, char** argv) {
  int64_t batch = 128;
  int iters = 20;
  std::string json;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--batch")) batch = std::max(1L, std::atol(argv[i + 1]));
    else if (!std::strcmp(argv[i], "--iters")) iters = std::max(1, std::atoi(argv[i + 1]));
    else if (!std::strcmp(argv[i], "--json")) json = argv[i + 1];
  }
  const CudaDeviceInfo info = cuda_device_info();
  if (info.device_count == 0) {
    std::printf("bench-dense-cuda: skipped: %s\n", info.why_none.c_str());
    return 77;
  }
  std::printf("bench-dense-cuda: %s (sm_%d%d), batch %ld, %d calls per timing\n", info.name.c_str(), info.cc_major,
              info.cc_minor, static_cast<long>(batch), iters);
  std::vector<Record> recs;
  // (Cin, Cout, H = W, K): every distinct conv of the seed UNet.
  const int64_t convs[][4] = {{1, 64, 32, 3},   {64, 64, 32, 3},   {64, 128, 16, 3},  {128, 128, 16, 3},
                              {128, 256, 8, 3}, {256, 256, 8, 3},  {256, 512, 4, 3},  {512, 512, 4, 3},
                              {768, 256, 8, 3}, {384, 128, 16, 3}, {192, 64, 32, 3},  {64, 1, 32, 1}};
  for (const auto& c : convs) bench_conv(batch, c[0], c[1], c[2], c[3], iters, recs);
  for (const Shape& s : {Shape{batch, 64, 32, 32}, Shape{batch, 128, 16, 16}, Shape{batch, 256, 8, 8},
                         Shape{batch, 512, 4, 4}})
    bench_group_norm(s, iters, recs);
  for (const Record& r : recs)
    std::printf("%-10s %-10s %-42s %s %9.4f ms %9.2f %s\n", r.op.c_str(), r.pass.c_str(), r.shape.c_str(),
                r.precision.c_str(), r.ms, r.rate, r.op == "conv2d" ? "TFLOP/s" : "GB/s");
  if (!json.empty()) {
    std::ofstream f(json);
    f << "{\"device\": \"" << info.name << "\", \"batch\": " << batch << ", \"results\": [\n";
    for (size_t i = 0; i < recs.size(); ++i) {
      const Record& r = recs[i];
      f << "  {\"op\": \"" << r.op << "\", \"pass\": \"" << r.pass << "\", \"shape\": \"" << r.shape
        << "\", \"precision\": \"" << r.precision << "\", \"ms\": " << r.ms << ", \"rate\": " << r.rate << "}"
        << (i + 1 < recs.size() ? ",\n" : "\n");
    }
    f << "]}\n";
  }
  return 0;
}
