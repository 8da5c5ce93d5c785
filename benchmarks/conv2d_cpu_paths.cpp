// ddpm-bench-conv-paths: every CPU conv2d path (kernels::Conv2dCpuAlgo:
// im2col, shifted, winograd, and the rule, "automatic") at the convolutions
// of the seed UNet, forward / backward-data / backward-weight, in one process
// and interleaved (each round times every path once), so that the ratios
// between paths hold on a machine whose speed drifts. Prints the best of
// --repeats rounds in ms and the totals weighted by how often the UNet uses
// each shape; docs/conv2d_cpu.md quotes it to justify the rule. With
// --precision bf16 the same under MathMode::bf16: im2col and shifted then
// both mean the direct BF16 convolution (AMX's or im2col's), winograd the
// BF16 Winograd (kernels/cpu/conv2d_bf16.cpp).
//
//   ddpm-bench-conv-paths [--batch 128] [--base 32] [--repeats 5] [--threads 2]
//                         [--precision fp32|bf16]
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "kernels/conv2d.h"
#include "kernels/math_mode.h"
#include "tensor/rng.h"

using namespace ddpm;
using kernels::Conv2dCpuAlgo;

namespace {

struct ConvShape {
  int64_t cin, cout, size, uses;
};

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ddpm-bench-conv-paths: every CPU conv2d path at the seed UNet's convolutions"};
  int64_t batch = 128, base = 32;
  int repeats = 5, threads = 2;
  app.add_option("--batch", batch, "images per call")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--base", base, "UNet base channels (32: the quick start's model)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--repeats", repeats, "interleaved rounds (best of)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--threads", threads, "OpenMP threads")->check(CLI::PositiveNumber)->capture_default_str();
  std::string precision = "fp32";
  app.add_option("--precision", precision, "fp32, or bf16 (MathMode::bf16: BF16 operands, FP32 sums)")
      ->check(CLI::IsMember({"fp32", "bf16"}))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  const kernels::MathModeScope mode(precision == "bf16" ? kernels::MathMode::bf16 : kernels::MathMode::fp32);
#ifdef _OPENMP
  omp_set_num_threads(threads);
#endif
  const int64_t b = base;
  // The SimpleUNet's 3x3 convolutions (nn/unet.cpp): encoder, bottleneck and
  // decoder blocks of two convs each, 1 input channel.
  const std::vector<ConvShape> shapes = {{1, b, 32, 1},         {b, b, 32, 2},        {b, 2 * b, 16, 1},
                                         {2 * b, 2 * b, 16, 2}, {2 * b, 4 * b, 8, 1}, {4 * b, 4 * b, 8, 2},
                                         {4 * b, 8 * b, 4, 1},  {8 * b, 8 * b, 4, 1}, {12 * b, 4 * b, 8, 1},
                                         {6 * b, 2 * b, 16, 1}, {3 * b, b, 32, 1}};
  const Conv2dCpuAlgo algos[] = {Conv2dCpuAlgo::im2col, Conv2dCpuAlgo::shifted, Conv2dCpuAlgo::winograd,
                                 Conv2dCpuAlgo::automatic};
  constexpr int kAlgos = 4;
  double total[kAlgos][3] = {};
  std::printf(
      "batch %lld, base %lld, %s, %d threads, best of %d interleaved rounds, ms; per direction: im2col, "
      "shifted, winograd, the rule (automatic)\n",
      static_cast<long long>(batch), static_cast<long long>(base), precision.c_str(), threads, repeats);
  uint64_t stream = 1;
  for (const ConvShape& s : shapes) {
    const Tensor x = randn({batch, s.cin, s.size, s.size}, 3, stream++);
    const Tensor w = randn({s.cout, s.cin, 3, 3}, 3, stream++);
    const Tensor bias = randn({s.cout}, 3, stream++);
    const Tensor gy = randn({batch, s.cout, s.size, s.size}, 3, stream++);
    double best[kAlgos][3];
    for (auto& row : best) std::fill(row, row + 3, 1e300);
    for (int r = 0; r < repeats; ++r)
      for (int a = 0; a < kAlgos; ++a) {
        const kernels::Conv2dCpuAlgoScope scope(algos[a]);
        auto t0 = std::chrono::steady_clock::now();
        (void)kernels::conv2d_fwd(x, w, bias, 1, 1);
        best[a][0] = std::min(best[a][0], ms_since(t0));
        t0 = std::chrono::steady_clock::now();
        (void)kernels::conv2d_bwd_data(gy, w, x.shape(), 1, 1);
        best[a][1] = std::min(best[a][1], ms_since(t0));
        Tensor gb;
        t0 = std::chrono::steady_clock::now();
        (void)kernels::conv2d_bwd_weight(x, gy, w.shape(), 1, 1, &gb);
        best[a][2] = std::min(best[a][2], ms_since(t0));
      }
    std::printf("%4lld->%-4lld @%-2lld x%lld", static_cast<long long>(s.cin), static_cast<long long>(s.cout),
                static_cast<long long>(s.size), static_cast<long long>(s.uses));
    for (int dir = 0; dir < 3; ++dir) {
      std::printf(" |");
      for (int a = 0; a < kAlgos; ++a) {
        std::printf(" %7.2f", best[a][dir]);
        total[a][dir] += best[a][dir] * static_cast<double>(s.uses);
      }
    }
    std::printf("\n");
    std::fflush(stdout);
  }
  for (int a = 0; a < kAlgos; ++a)
    std::printf("%-9s weighted total: fwd %7.1f  bwd-data %7.1f  bwd-weight %7.1f  all %7.1f ms\n",
                kernels::conv2d_cpu_algo_name(algos[a]), total[a][0], total[a][1], total[a][2],
                total[a][0] + total[a][1] + total[a][2]);
  return 0;
}
