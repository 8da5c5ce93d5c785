// ddpm-bench-cpu: one UNet training step (forward + MSE loss + backward) on the
// CPU, timed as the median of --iters steps after one warm-up step.
//
// Default shapes are the issue's: base 64, in_channels 1, 32x32, batch 32,
// time_embed_dim 256, float32, OpenMP threads 2 (Eigen's GEMMs use the same
// OpenMP pool). benchmarks/unet_torch_cpu.py times the PyTorch twin on the
// same shapes; benchmarks/run_cpu_bench.sh runs both and prints the ratio.
// The last line is machine-readable: "RESULT ms_per_step=<ms> images_per_s=<n>".
#include <CLI/CLI.hpp>
#include <Eigen/Core>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "autograd/functions.h"
#include "nn/unet.h"
#include "tensor/rng.h"

using namespace ddpm;

namespace {

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(colon + 2);
    }
  return "unknown";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Time one UNet training step (forward + backward) on the CPU"};
  int iters = 5, threads = 2;
  int64_t batch = 32, size = 32, base = 64, channels = 1, embed = 256;
  std::string embedding = "linear";
  app.add_option("--iters", iters, "timed steps (median reported)")->check(CLI::PositiveNumber);
  app.add_option("--threads", threads, "OpenMP threads")->check(CLI::PositiveNumber);
  app.add_option("--batch", batch, "images per step")->check(CLI::PositiveNumber);
  app.add_option("--size", size, "image height and width (multiple of 8)")->check(CLI::PositiveNumber);
  app.add_option("--base", base, "UNet base channels")->check(CLI::PositiveNumber);
  app.add_option("--channels", channels, "image channels")->check(CLI::PositiveNumber);
  app.add_option("--time-embed", embed, "time embedding width")->check(CLI::PositiveNumber);
  app.add_option("--time-embedding", embedding, "linear or sinusoidal")
      ->check(CLI::IsMember({"linear", "sinusoidal"}));
  CLI11_PARSE(app, argc, argv);

#ifdef _OPENMP
  omp_set_num_threads(threads);
#endif
  Eigen::setNbThreads(threads);

  const nn::UNetConfig cfg{channels, base, embed, nn::parse_time_embedding(embedding), 8};
  nn::UNet model(cfg, 0);
  const Tensor x = randn({batch, channels, size, size}, 1, 1);
  const Tensor target = randn({batch, channels, size, size}, 1, 2);
  Tensor t = rand_uniform({batch}, 0.0, 1000.0, 1, 3);
  {
    float* p = t.data<float>();
    for (int64_t i = 0; i < batch; ++i) p[i] = static_cast<float>(static_cast<int>(p[i]));  // integer timesteps
  }

  std::printf("ddpm-bench-cpu: UNet train step (fwd + bwd, MSE), f32, cpu '%s', %d threads\n",
              cpu_model().c_str(), threads);
  std::printf("shapes: batch %lld, %lldx%lldx%lld, base %lld, time_embed %lld (%s), %lld parameters\n",
              static_cast<long long>(batch), static_cast<long long>(channels), static_cast<long long>(size),
              static_cast<long long>(size), static_cast<long long>(base), static_cast<long long>(embed),
              embedding.c_str(), static_cast<long long>(model.num_parameters()));

  auto step = [&] {
    model.zero_grad();
    const Tensor loss = mse_loss(model(x, t), target);
    autograd::backward(loss);
    return loss.item();
  };
  using clock = std::chrono::steady_clock;
  const auto w0 = clock::now();
  const double loss = step();
  const double warm_ms = std::chrono::duration<double, std::milli>(clock::now() - w0).count();
  std::printf("warm-up: %.1f ms (loss %.6f)\n", warm_ms, loss);

  std::vector<double> ms;
  for (int i = 0; i < iters; ++i) {
    const auto s = clock::now();
    step();
    ms.push_back(std::chrono::duration<double, std::milli>(clock::now() - s).count());
    std::printf("step %d: %.1f ms\n", i + 1, ms.back());
  }
  std::sort(ms.begin(), ms.end());
  const size_t n = ms.size();
  const double median = n % 2 ? ms[n / 2] : 0.5 * (ms[n / 2 - 1] + ms[n / 2]);
  const double ips = static_cast<double>(batch) * 1000.0 / median;
  std::printf("median of %d: %.1f ms/step, %.1f images/s\n", iters, median, ips);
  std::printf("RESULT ms_per_step=%.3f images_per_s=%.3f\n", median, ips);
  return 0;
}
