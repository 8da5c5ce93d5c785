// conv2d CPU benchmark: forward, backward-data and backward-weight (+bias) at
// the seed UNet's shapes (base 64, batch 32, 1x32x32 input), float32, through
// the raw CPU kernels. Prints, per shape and pass, the best wall time of
// kReps runs with its GFLOP/s (flops are the nominal 2*N*Cout*Hout*Wout*Cin*K*K,
// padding taps included) and the best process CPU time (all threads; on a
// machine shared with other jobs it is the steadier measure of the work
// done). Then the totals over the UNet's convs, weighted by how often each
// shape occurs.
//
//   OMP_NUM_THREADS=2 OMP_WAIT_POLICY=passive ./benchmarks/bench_conv2d_cpu [torch.json] [out.json]
//
// torch.json: the output of benchmarks/conv2d_torch.py (the PyTorch twin,
// same shapes and timing rules); when given, each pass also shows PyTorch's
// wall time and the speed ratio torch_ms / our_ms (above 1: we are faster),
// and the totals both ratios (wall and CPU time). OMP_WAIT_POLICY=passive
// keeps idle OpenMP threads from spinning, which would count as CPU time.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "kernels/conv2d.h"
#include "kernels/cpu/parallel.h"
#include "tensor/rng.h"
#include "tests/ops/op_cases.h"

using namespace ddpm;

namespace {

struct ConvShape {
  std::string label;
  int64_t cin, cout, h, k, pad, count;
};

// The UNet's convs as tests/ops/conv2d.cpp declares them for the benchmarks
// (conv2d_torch.py must list the same shapes, in the same order).
std::vector<ConvShape> conv_shapes() {
  std::vector<ConvShape> shapes;
  for (const test::BenchShape& b : test::find_op_cases("conv2d")->bench)
    shapes.push_back({b.name, b.sample[0], b.cout, b.sample[1], b.k, b.k / 2, b.uses});
  return shapes;
}
constexpr int64_t kBatch = 32;
constexpr int kReps = 7;
const char* const kPasses[3] = {"fwd", "bwd_data", "bwd_weight"};

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown CPU";
}

double process_cpu_ms() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_nsec) * 1e-6;
}

struct Timing {
  double wall_ms = 1e30, cpu_ms = 1e30;
};

// Best wall and best CPU time over kReps runs, after one warm-up run.
template <class F>
Timing best_of(F&& f) {
  f();
  Timing best;
  for (int r = 0; r < kReps; ++r) {
    const double c0 = process_cpu_ms();
    const auto t0 = std::chrono::steady_clock::now();
    f();
    best.wall_ms =
        std::min(best.wall_ms,
                 std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    best.cpu_ms = std::min(best.cpu_ms, process_cpu_ms() - c0);
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
  double ours_wall[3] = {0, 0, 0}, ours_cpu[3] = {0, 0, 0}, torch_wall[3] = {0, 0, 0},
         torch_cpu[3] = {0, 0, 0};
  nlohmann::json rows = nlohmann::json::array();
  const std::vector<ConvShape> kShapes = conv_shapes();
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
    Timing t[3];
    t[0] = best_of([&] {
      kernels::cpu::conv2d_fwd(x.data<float>(), w.data<float>(), b.data<float>(), y.data<float>(), d);
    });
    t[1] = best_of(
        [&] { kernels::cpu::conv2d_bwd_data(gy.data<float>(), w.data<float>(), gx.data<float>(), d); });
    t[2] = best_of([&] {
      kernels::cpu::conv2d_bwd_weight(x.data<float>(), gy.data<float>(), gw.data<float>(), gb.data<float>(),
                                      d);
    });
    nlohmann::json row = {{"shape", s.label}, {"count", s.count}, {"gflop", flops / 1e9}};
    std::printf("%-20s x%lld", s.label.c_str(), static_cast<long long>(s.count));
    for (int p = 0; p < 3; ++p) {
      const double n = static_cast<double>(s.count);
      ours_wall[p] += n * t[p].wall_ms;
      ours_cpu[p] += n * t[p].cpu_ms;
      row[std::string(kPasses[p]) + "_ms"] = t[p].wall_ms;
      row[std::string(kPasses[p]) + "_cpu_ms"] = t[p].cpu_ms;
      std::printf("  %s %6.2f ms %5.1f GF/s cpu %6.2f", kPasses[p], t[p].wall_ms, flops / t[p].wall_ms / 1e6,
                  t[p].cpu_ms);
      if (!torch.is_null()) {
        const nlohmann::json& tr = torch.at("rows").at(si);
        const double tw = tr.at(std::string(kPasses[p]) + "_ms").get<double>();
        torch_wall[p] += n * tw;
        torch_cpu[p] += n * tr.at(std::string(kPasses[p]) + "_cpu_ms").get<double>();
        std::printf(" | torch %6.2f x%.2f", tw, tw / t[p].wall_ms);
      }
    }
    std::printf("\n");
    std::fflush(stdout);
    rows.push_back(row);
  }
  const double ow = ours_wall[0] + ours_wall[1] + ours_wall[2], oc = ours_cpu[0] + ours_cpu[1] + ours_cpu[2];
  std::printf(
      "ours, UNet total (weighted by count): fwd %.1f  bwd-data %.1f  bwd-weight %.1f  all %.1f ms wall"
      " (%.1f ms CPU)\n",
      ours_wall[0], ours_wall[1], ours_wall[2], ow, oc);
  if (!torch.is_null()) {
    const double tw = torch_wall[0] + torch_wall[1] + torch_wall[2],
                 tc = torch_cpu[0] + torch_cpu[1] + torch_cpu[2];
    std::printf(
        "torch, UNet total (weighted by count): fwd %.1f  bwd-data %.1f  bwd-weight %.1f  all %.1f ms wall"
        " (%.1f ms CPU)\n",
        torch_wall[0], torch_wall[1], torch_wall[2], tw, tc);
    std::printf("speed ratio torch/ours: wall %.2f, CPU time %.2f (above 1: we are faster)\n", tw / ow,
                tc / oc);
  }
  if (argc > 2) {
    std::ofstream out(argv[2]);
    out << nlohmann::json{{"cpu", cpu_model()}, {"threads", kernels::cpu::num_threads()},
                          {"dtype", "float32"}, {"batch", kBatch},
                          {"rows", rows},       {"total_ms", ow},
                          {"total_cpu_ms", oc}}
               .dump(1)
        << "\n";
  }
  return 0;
}
