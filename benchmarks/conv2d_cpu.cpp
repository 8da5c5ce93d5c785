// conv2d CPU benchmark: forward, backward-data and backward-weight (+bias) at
// the seed UNet's shapes (base 64, batch 32, 1x32x32 input), float32, through
// the raw CPU kernels. Prints ms and GFLOP/s per shape and pass (flops are the
// nominal 2*N*Cout*Hout*Wout*Cin*K*K, padding taps included), and the total
// over the UNet's convs weighted by how often each shape occurs.
//
//   OMP_NUM_THREADS=2 ./benchmarks/bench_conv2d_cpu [torch.json] [out.json]
//
// torch.json: the output of benchmarks/conv2d_torch.py (the PyTorch twin,
// same shapes); when given, each line also shows PyTorch's time and the ratio
// torch_ms / our_ms (above 1: we are faster). Times are the best of 5 runs.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "kernels/conv2d.h"
#include "kernels/cpu/parallel.h"
#include "tensor/rng.h"

using namespace ddpm;

namespace {

struct ConvShape {
  const char* label;
  int64_t cin, cout, h, k, pad, count;
};

// Must list the same shapes, in the same order, as conv2d_torch.py.
const std::vector<ConvShape> kShapes = {
    {"enc1a 1->64 @32", 1, 64, 32, 3, 1, 1},         {"64->64 @32", 64, 64, 32, 3, 1, 2},
    {"enc2a 64->128 @16", 64, 128, 16, 3, 1, 1},     {"128->128 @16", 128, 128, 16, 3, 1, 2},
    {"enc3a 128->256 @8", 128, 256, 8, 3, 1, 1},     {"256->256 @8", 256, 256, 8, 3, 1, 2},
    {"bota 256->512 @4", 256, 512, 4, 3, 1, 1},      {"botb 512->512 @4", 512, 512, 4, 3, 1, 1},
    {"dec3a 768->256 @8", 768, 256, 8, 3, 1, 1},     {"dec2a 384->128 @16", 384, 128, 16, 3, 1, 1},
    {"dec1a 192->64 @32", 192, 64, 32, 3, 1, 1},     {"final 64->1 1x1 @32", 64, 1, 32, 1, 0, 1},
};
constexpr int64_t kBatch = 32;
constexpr int kReps = 5;

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown CPU";
}

template <class F>
double best_ms(F&& f) {
  f();
  double best = 1e30;
  for (int r = 0; r < kReps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    best = std::min(best, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  nlohmann::json torch;
  if (argc > 1) {
    std::ifstream in(argv[1]);
    if (!in) {
      std::fprintf(stderr, "bench_conv2d_cpu: cannot open %s\n", argv[1]);
      return 1;
    }
    torch = nlohmann::json::parse(in);
  }
  std::printf("conv2d CPU (%s), float32, batch %lld, %d threads, best of %d\n", cpu_model().c_str(),
              static_cast<long long>(kBatch), kernels::cpu::num_threads(), kReps);
  const char* passes[3] = {"fwd", "bwd_data", "bwd_weight"};
  double ours_total[3] = {0, 0, 0}, torch_total[3] = {0, 0, 0};
  nlohmann::json rows = nlohmann::json::array();
  for (size_t si = 0; si < kShapes.size(); ++si) {
    const ConvShape& s = kShapes[si];
    const Tensor x = randn({kBatch, s.cin, s.h, s.h}, 1, 1);
    const Tensor w = randn({s.cout, s.cin, s.k, s.k}, 1, 2);
    const Tensor b = randn({s.cout}, 1, 3);
    const kernels::Conv2dDims d = kernels::conv2d_dims(x, w, b, 1, s.pad);
    const Tensor gy = randn({kBatch, s.cout, d.Hout, d.Wout}, 1, 4);
    Tensor y = Tensor::empty(gy.shape()), gx = Tensor::empty(x.shape()), gw = Tensor::empty(w.shape()),
           gb = Tensor::empty(b.shape());
    const double flops = 2.0 * static_cast<double>(kBatch * s.cout * d.Hout * d.Wout * s.cin * s.k * s.k);
    double ms[3];
    ms[0] = best_ms([&] { kernels::cpu::conv2d_fwd(x.data<float>(), w.data<float>(), b.data<float>(), y.data<float>(), d); });
    ms[1] = best_ms([&] { kernels::cpu::conv2d_bwd_data(gy.data<float>(), w.data<float>(), gx.data<float>(), d); });
    ms[2] = best_ms([&] {
      kernels::cpu::conv2d_bwd_weight(x.data<float>(), gy.data<float>(), gw.data<float>(), gb.data<float>(), d);
    });
    nlohmann::json row = {{"shape", s.label}, {"count", s.count}, {"gflop", flops / 1e9}};
    std::printf("%-22s x%lld", s.label, static_cast<long long>(s.count));
    for (int p = 0; p < 3; ++p) {
      ours_total[p] += static_cast<double>(s.count) * ms[p];
      row[std::string(passes[p]) + "_ms"] = ms[p];
      std::printf("  %s %7.2f ms (%5.1f GF/s)", passes[p], ms[p], flops / ms[p] / 1e6);
      if (!torch.is_null()) {
        const double t = torch.at("rows").at(si).at(std::string(passes[p]) + "_ms").get<double>();
        torch_total[p] += static_cast<double>(s.count) * t;
        std::printf(" torch %7.2f x%.2f", t, t / ms[p]);
      }
    }
    std::printf("\n");
    std::fflush(stdout);
    rows.push_back(row);
  }
  const double ours = ours_total[0] + ours_total[1] + ours_total[2];
  std::printf("UNet total (weighted by count): fwd %.1f ms, bwd-data %.1f ms, bwd-weight %.1f ms, all %.1f ms\n",
              ours_total[0], ours_total[1], ours_total[2], ours);
  if (!torch.is_null()) {
    const double t = torch_total[0] + torch_total[1] + torch_total[2];
    std::printf("PyTorch total: fwd %.1f ms, bwd-data %.1f ms, bwd-weight %.1f ms, all %.1f ms; speed ratio "
                "(torch/ours) %.2f\n",
                torch_total[0], torch_total[1], torch_total[2], t, t / ours);
  }
  if (argc > 2) {
    std::ofstream out(argv[2]);
    out << nlohmann::json{{"cpu", cpu_model()}, {"threads", kernels::cpu::num_threads()}, {"dtype", "float32"},
                          {"batch", kBatch},
                          {"rows", rows}, {"total_ms", ours}}
               .dump(1)
        << "\n";
  }
  return 0;
}
