// ddpm-bench-e2e: end-to-end throughput of the seed UNet with our engine.
//
//   --what train   images/s of Trainer::step (diffusion/trainer.h): batch
//                  copy, timesteps, fused q_sample, UNet forward, MSE,
//                  backward, gradient-norm clip, Adam, EMA (the default
//                  recipe) on random images in [-1, 1]. Each step ends with
//                  the loss on the host (a sync), so per-step wall times are
//                  exact; the median of --iters steps after --warmup steps.
//   --what sample  images/s of sample() (diffusion/sampler.h), DDPM or DDIM
//                  with --steps of the T = 1000 schedule, from a freshly
//                  initialised UNet (the cost does not depend on the weights):
//                  --batch / (wall time of the whole chain), the median of
//                  --repeats chains after a 2-step warm-up chain.
//
// Precision: --precision fp32 (default: TF32 off), tf32 (CUDA: dense kernels
// on TF32 tensor cores; the CPU runs FP32) or bf16 (BF16 convolutions with
// FP32 accumulation: kernels/cpu/conv2d_bf16.h, on CUDA the BF16 tensor-core
// GEMMs of kernels/cuda/conv2d.cu); --tf32 is kept as --precision tf32 for older scripts. A
// build of older sources without kernels/precision.h knows only --tf32 (when
// its kernels have a math mode). CPU: --threads OpenMP threads (Eigen uses
// the same pool).
// benchmarks/torch_e2e.py is the PyTorch twin with the same flags; the two
// write the same JSON fields (--json FILE), which benchmarks/report.py pairs.
#include <CLI/CLI.hpp>
#include <Eigen/Core>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "diffusion/sampler.h"
#include "diffusion/scheduler.h"
#include "diffusion/trainer.h"
#include "kernels/conv2d.h"
#include "kernels/op_profile.h"
#include "nn/unet.h"
#include "tensor/cuda_backend.h"
#include "tensor/device_query.h"
#include "tensor/rng.h"

#if __has_include("kernels/math_mode.h")
#include "kernels/math_mode.h"
#define DDPM_BENCH_MATH_MODE 1
#endif
#if __has_include("kernels/precision.h")
#include "kernels/precision.h"
#define DDPM_BENCH_PRECISION 1
#endif

using namespace ddpm;
using json = nlohmann::json;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

std::string first_line_field(const char* path, const char* key) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key, 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(colon + 2);
    }
  return "unknown";
}

std::string loadavg() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

void sync(Device d) {
  if (d == Device::cuda) cuda::synchronize();
}

// Prints the op profile of `iters` steps that took `ms` in all as a table
// (ms per step, share of the step) and returns it as JSON rows.
json print_profile(const std::vector<double>& ms, int iters) {
  double total_ms = 0;
  for (double v : ms) total_ms += v;
  const double per_step = total_ms / iters;
  std::printf(
      "profile: %d steps, %.1f ms per step (CPU kernels by op; \"other\": autograd, allocation, host work)\n",
      iters, per_step);
  std::printf("  %-34s %8s %10s %7s\n", "op", "calls", "ms/step", "share");
  json rows = json::array();
  double timed = 0;
  for (const kernels::OpTime& t : kernels::op_profile()) {
    const double op_ms = t.seconds * 1e3 / iters;
    timed += op_ms;
    std::printf("  %-34s %8.1f %10.2f %6.1f%%\n", t.op.c_str(), static_cast<double>(t.calls) / iters, op_ms,
                100.0 * op_ms / per_step);
    rows.push_back(
        {{"op", t.op}, {"calls_per_step", static_cast<double>(t.calls) / iters}, {"ms_per_step", op_ms}});
  }
  std::printf("  %-34s %8s %10.2f %6.1f%%\n", "other", "", per_step - timed,
              100.0 * (per_step - timed) / per_step);
  rows.push_back({{"op", "other"}, {"ms_per_step", per_step - timed}});
  return rows;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ddpm-bench-e2e: training and sampling images/s of the seed UNet with our engine"};
  std::string device_flag = "cpu", what = "train", sampler = "ddpm", json_path, note;
  int64_t batch = 0, steps = 0, base = 64, size = 32, channels = 1, embed = 256;
  int iters = 0, warmup = -1, repeats = 1, threads = 2;
  bool tf32 = false, profile = false;
  std::string cpu_conv = "automatic";
  app.add_option("--device", device_flag, "cpu or cuda")
      ->check(CLI::IsMember({"cpu", "cuda"}))
      ->capture_default_str();
  app.add_option("--what", what, "train or sample")
      ->check(CLI::IsMember({"train", "sample"}))
      ->capture_default_str();
  app.add_option("--sampler", sampler, "ddpm or ddim (sampling)")
      ->check(CLI::IsMember({"ddpm", "ddim"}))
      ->capture_default_str();
  app.add_option("--steps", steps, "sampling steps of the T=1000 schedule (default 1000 ddpm, 50 ddim)")
      ->check(CLI::Range(int64_t{1}, int64_t{1000}));
  app.add_option("--batch", batch, "images per step or chain (default 128 train, 256 sample)")
      ->check(CLI::PositiveNumber);
  app.add_option("--iters", iters, "timed training steps (default 20 cuda, 3 cpu)")
      ->check(CLI::PositiveNumber);
  app.add_option("--warmup", warmup, "untimed training steps first (default 5 cuda, 1 cpu)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--repeats", repeats, "timed sampling chains (median)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--threads", threads, "CPU threads (OpenMP and Eigen)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--base", base, "UNet base channels")->check(CLI::PositiveNumber)->capture_default_str();
  std::string arch = "simple";
  app.add_option("--arch", arch,
                 "UNet layout: simple, or ddpm (nn/unet_ddpm.h with UNetConfig's defaults: channel_mult "
                 "1,2,2, 2 ResBlocks, attention 16,8, 32 channels per head; sinusoidal time embedding)")
      ->check(CLI::IsMember({"simple", "ddpm"}))
      ->capture_default_str();
  app.add_option("--size", size, "image height and width (multiple of 8)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--channels", channels, "image channels")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--time-embed", embed, "time embedding width")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  std::string precision = "fp32";
#ifdef DDPM_BENCH_PRECISION
  app.add_option("--precision", precision,
                 "fp32; tf32 (CUDA: dense kernels on TF32 tensor cores; the CPU runs FP32); bf16 (BF16 "
                 "convolutions with FP32 accumulation, on CUDA on tensor cores)")
      ->check(CLI::IsMember({"fp32", "tf32", "bf16"}))
      ->capture_default_str();
  app.add_flag("--tf32", tf32, "the same as --precision tf32 (kept for older scripts)");
#else
  app.add_flag("--tf32", tf32, "CUDA: TF32 tensor cores for the dense kernels (when supported)");
#endif
  app.add_option(
         "--cpu-conv", cpu_conv,
         "CPU conv2d path: automatic (the rule), or force im2col, shifted or winograd where it applies")
      ->check(CLI::IsMember({"automatic", "im2col", "shifted", "winograd"}))
      ->capture_default_str();
  app.add_flag(
      "--profile", profile,
      "CPU training: time per op over the timed steps (kernels/op_profile.h), printed and in the JSON");
  app.add_option("--json", json_path, "write the result as JSON to this file");
  app.add_option("--note", note, "free text stored in the JSON");
  CLI11_PARSE(app, argc, argv);

  const Device device = device_flag == "cuda" ? Device::cuda : Device::cpu;
  kernels::set_conv2d_cpu_algo(cpu_conv == "im2col"     ? kernels::Conv2dCpuAlgo::im2col
                               : cpu_conv == "shifted"  ? kernels::Conv2dCpuAlgo::shifted
                               : cpu_conv == "winograd" ? kernels::Conv2dCpuAlgo::winograd
                                                        : kernels::Conv2dCpuAlgo::automatic);
  const bool gpu = device == Device::cuda;
  if (gpu && !cuda_available()) {
    std::fprintf(stderr, "ddpm-bench-e2e: --device cuda but no usable GPU (%s)\n",
                 cuda_device_info().why_none.c_str());
    return 77;
  }
  if (batch == 0) batch = what == "train" ? 128 : 256;
  if (steps == 0) steps = sampler == "ddpm" ? 1000 : 50;
  if (iters == 0) iters = gpu ? 20 : 3;
  if (warmup < 0) warmup = gpu ? 5 : 1;
#ifdef _OPENMP
  omp_set_num_threads(threads);
#endif
  Eigen::setNbThreads(threads);
#ifdef DDPM_BENCH_PRECISION
  if (tf32) precision = "tf32";
  try {
    const std::string precision_note =
        kernels::apply_precision(kernels::parse_precision(precision), gpu ? Device::cuda : Device::cpu);
    if (!precision_note.empty()) std::fprintf(stderr, "ddpm-bench-e2e: %s\n", precision_note.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ddpm-bench-e2e: %s\n", e.what());
    return 2;
  }
  if (precision == "tf32" && !gpu) precision = "fp32";  // what actually ran
#elif defined(DDPM_BENCH_MATH_MODE)
  if (tf32) {
    kernels::set_math_mode(kernels::MathMode::tf32);
    precision = "tf32";
  }
#else
  if (tf32) {
    std::fprintf(stderr, "ddpm-bench-e2e: --tf32 not supported (this build's kernels have no math mode)\n");
    return 2;
  }
#endif
  const std::string precision_text = precision == "fp32" ? "fp32 (TF32 off)"
                                     : precision == "bf16"
                                         ? "bf16 (BF16 convolutions, FP32 accumulation and weights)"
                                         : "tf32 (dense ops on TF32 tensor cores)";

  json j;
  j["benchmark"] = "e2e";
  j["impl"] = "ours";
  j["device"] = device_flag;
  j["what"] = what;
  j["batch"] = batch;
  j["precision"] = precision_text;
  j["model"] = {{"arch", arch},
                {"base_channels", base},
                {"in_channels", channels},
                {"size", size},
                {"time_embed_dim", embed}};
  j["note"] = note;
  if (!gpu) j["cpu_conv"] = cpu_conv;
  j["load_before"] = loadavg();
  std::string machine = first_line_field("/proc/cpuinfo", "model name") + ", " +
                        std::to_string(std::thread::hardware_concurrency()) + " cpus";
  if (gpu) machine = cuda_device_info().name + " (host " + machine + ")";
  j["machine"] = machine;
  j["threads"] = gpu ? json(nullptr) : json(threads);

  nn::UNetConfig mc{channels, base, embed, nn::TimeEmbedding::linear, 8};
  if (arch == "ddpm") {
    mc.arch = nn::UNetArch::ddpm;
    mc.time_embedding = nn::TimeEmbedding::sinusoidal;
  }
  std::printf("ddpm-bench-e2e: ours, %s on %s, %s, %s\n", what.c_str(), machine.c_str(),
              precision_text.c_str(), gpu ? "" : ("threads " + std::to_string(threads)).c_str());
  try {
    if (what == "train") {
      TrainConfig cfg;
      cfg.model = mc;
      cfg.batch_size = batch;
      const Tensor images = rand_uniform({4 * batch, channels, size, size}, -1.0, 1.0, 1, 1);
      Trainer trainer(cfg, images, device);
      std::printf(
          "train: batch %lld, %lldx%lldx%lld, base %lld, time_embed %lld, %lld parameters; Adam lr %g, "
          "clip %g, EMA %g; %d warm-up + %d timed steps\n",
          static_cast<long long>(batch), static_cast<long long>(channels), static_cast<long long>(size),
          static_cast<long long>(size), static_cast<long long>(base), static_cast<long long>(embed),
          static_cast<long long>(trainer.model().num_parameters()), cfg.lr, cfg.grad_clip, cfg.ema_decay,
          warmup, iters);
      for (int i = 0; i < warmup; ++i) trainer.step();
      sync(device);
      std::vector<double> ms;
      double loss = 0;
      if (profile && !gpu) {
        kernels::reset_op_profile();
        kernels::set_op_profiling(true);
      }
      for (int i = 0; i < iters; ++i) {
        const auto t0 = Clock::now();
        loss = trainer.step().loss;
        sync(device);
        ms.push_back(seconds_since(t0) * 1e3);
        std::printf("step %d: %.2f ms (loss %.4f)\n", i + 1, ms.back(), loss);
        std::fflush(stdout);
      }
      kernels::set_op_profiling(false);
      const double med = median(ms);
      const double ips = static_cast<double>(batch) * 1e3 / med;
      if (profile && !gpu) j["profile"] = print_profile(ms, iters);
      std::printf("median %.2f ms/step, %.1f images/s\n", med, ips);
      j["iters"] = iters;
      j["warmup"] = warmup;
      j["step_ms"] = med;
      j["step_ms_all"] = ms;
      j["images_per_s"] = ips;
      j["recipe"] = "Adam lr 1e-3 (warm-up 100), clip 1.0, EMA 0.995, eps target, linear schedule T=1000";
    } else {
      nn::UNet model(mc, 0);
      if (gpu) model.to(device);
      const NoiseScheduler sched(BetaSchedule::linear, 1000);
      SamplerConfig sc;
      sc.kind = parse_sampler_kind(sampler);
      sc.steps = steps;
      const DenoiseFn fn = [&](const Tensor& x, const Tensor& t) { return model.forward(x, t); };
      const Shape shape = {batch, channels, size, size};
      std::printf("sample: %s %lld steps, batch %lld, %lldx%lldx%lld, base %lld; %d timed chain(s)\n",
                  sampler.c_str(), static_cast<long long>(steps), static_cast<long long>(batch),
                  static_cast<long long>(channels), static_cast<long long>(size),
                  static_cast<long long>(size), static_cast<long long>(base), repeats);
      {
        SamplerConfig w = sc;
        w.steps = 2;
        sample(sched, fn, shape, w, DType::f32, device);
        sync(device);
      }
      std::vector<double> secs;
      for (int r = 0; r < repeats; ++r) {
        const auto t0 = Clock::now();
        const Tensor x = sample(sched, fn, shape, sc, DType::f32, device);
        sync(device);
        secs.push_back(seconds_since(t0));
        std::printf("chain %d: %.2f s (%.2f ms/step)\n", r + 1, secs.back(),
                    secs.back() * 1e3 / static_cast<double>(steps));
        std::fflush(stdout);
      }
      const double med = median(secs);
      const double ips = static_cast<double>(batch) / med;
      std::printf("median %.3f s per chain, %.2f images/s\n", med, ips);
      j["sampler"] = sampler;
      j["steps"] = steps;
      j["repeats"] = repeats;
      j["chain_s"] = med;
      j["chain_s_all"] = secs;
      j["step_ms"] = med * 1e3 / static_cast<double>(steps);
      j["images_per_s"] = ips;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ddpm-bench-e2e: %s\n", e.what());
    j["error"] = e.what();
    if (!json_path.empty()) std::ofstream(json_path) << j.dump(1) << "\n";
    return 1;
  }
  j["load_after"] = loadavg();
  std::printf("RESULT images_per_s=%.4f\n", j["images_per_s"].get<double>());
  if (!json_path.empty()) {
    std::ofstream out(json_path);
    if (!out) {
      std::fprintf(stderr, "ddpm-bench-e2e: cannot write %s\n", json_path.c_str());
      return 1;
    }
    out << j.dump(1) << "\n";
  }
  return 0;
}
