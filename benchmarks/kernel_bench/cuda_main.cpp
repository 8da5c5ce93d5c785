// ddpm-bench --device cuda (the default of a CUDA build; compiled only with
// CUDA): our CUDA kernels at the seed UNet's real shapes, each raced against
// the best reference we can run on the same GPU, checked before it is timed.
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
//   group_norm_silu fwd / bwd            the fused op vs the unfused
//       group_norm + silu kernels it replaces (group_norm.cpp).
//   q_sample, ddpm_step, ddim_step, dpm_solver_step, euler_ancestral_step,      vs the unfused sequence of
//   one-op adam_update, ema_update                 kernels an eager framework launches
//       (benchmarks/unfused_kernels.h; the sequences are spelled out below)
//       and vs the memory roofline.
//   attention fwd / bwd                  vs the unfused sequence of our own
//       ops (bmm on cuBLAS, softmax, bmm; backward: their backward kernels
//       from the saved p; attention.cpp), TFLOP/s by attention_flops.
//   bmm fwd / bwd                        cuBLAS strided-batched itself (ours),
//       at the attention products: TFLOP/s, the memory roofline in the JSON.
//   softmax fwd / bwd                    vs cuDNN's accurate softmax over the
//       last dim and the memory roofline.
//   dropout fwd                          vs the memory roofline; checked bit
//       for bit (the same Philox stream on both devices).
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
// (rows in common.h's format, written by main.cpp's write_json).
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "benchmarks/kernel_bench/bench.h"
#include "tensor/cuda/launch.cuh"
#include "tensor/cuda_backend.h"
#include "tensor/device_query.h"

namespace ddpm::bench {

using json = nlohmann::json;

namespace {

void print_header() {
  std::printf("%-18s %-22s %5s %-4s %9s %9s %-8s %6s %9s %6s %9s %s\n", "op", "shape", "batch", "prec",
              "ours ms", "ref ms", "ref", "ratio", "TFLOP/s", "%roof", "err", "");
  std::printf("%-18s %-22s %5s %-4s %9s %9s %-8s %6s %9s %6s %9s\n", "", "", "", "", "", "", "", "ref/ours",
              "or GB/s", "", "");
}

}  // namespace

void Bench::print(const Row& r) {
  const double ours = r.ours.median_ms, ref = r.ref.median_ms;
  std::string perf = "-", roof = "-";
  if (r.flops > 0 && !std::isnan(ours)) {
    const double tf = r.flops / (ours * 1e9);
    perf = fmt("%.2f TF", tf);
    const double peak = peak_tflops(r.precision, g_machine);
    if (!std::isnan(peak)) roof = fmt("%.0f%%", 100 * tf / peak);
  } else if (r.bytes > 0 && !std::isnan(ours)) {
    perf = fmt("%.0f GB/s", r.bytes / (ours * 1e6));
    roof = fmt("%.0f%%", 100 * roofline_ms(r, g_machine) / ours);
  }
  const std::string batch = r.batch > 0 ? std::to_string(r.batch) : "-";
  const std::string ratio = !std::isnan(ours) && !std::isnan(ref) ? fmt("%.2f", ref / ours) : "-";
  const std::string flag = std::isnan(r.err) ? "" : (err_ok(r) ? "" : "  ** ABOVE TOLERANCE");
  std::printf("%-18s %-22s %5s %-4s %9s %9s %-8s %6s %9s %6s %9s%s\n", r.op.c_str(), r.shape.c_str(),
              batch.c_str(), r.precision.c_str(), std::isnan(ours) ? "-" : fmt("%.4f", ours).c_str(),
              std::isnan(ref) ? "-" : fmt("%.4f", ref).c_str(), ref_kind_name(r.ref_kind).c_str(),
              ratio.c_str(), perf.c_str(), roof.c_str(), std::isnan(r.err) ? "-" : fmt("%.1e", r.err).c_str(),
              flag.c_str());
  if (!r.error.empty()) std::printf("    ! %s\n", r.error.c_str());
  if (!r.variants.empty()) {
    std::string v = "    variants:";
    for (const auto& [name, t] : r.variants)
      v += " " + name + (name == r.variant ? " (picked) " : " ") + fmt("%.4f", t.median_ms) + " ms;";
    std::printf("%s\n", v.c_str());
  }
  std::fflush(stdout);
}

namespace {

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

std::string cuda_version_text(int v) {
  return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10);
}

}  // namespace

int run_cuda(const Options& o) {
  const CudaDeviceInfo info = cuda_device_info();
  if (info.device_count == 0) {
    std::fprintf(stderr, "ddpm-bench: no usable GPU (%s)\n", info.why_none.c_str());
    return 77;
  }

  bool tf32 = o.tf32;
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
      tf32_state =
          "not supported (this build's kernels have no TF32 math mode: kernels/math_mode.h is absent)";
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

    std::printf("ddpm-bench: %s (sm_%d%d, %d SMs, L2 %d MiB), driver %s, CUDA runtime %s, cuDNN %s\n",
                prop.name, prop.major, prop.minor, prop.multiProcessorCount, prop.l2CacheSize >> 20,
                driver_version().c_str(), cuda_version_text(rt).c_str(), cudnn_runtime.c_str());
    std::printf(
        "clocks: SM max %d MHz, memory %d MHz x %d bit (%.0f GB/s nominal); copy bandwidth %.0f GB/s "
        "measured; nominal peak FP32 %.1f TFLOP/s, TF32 %.1f TFLOP/s\n",
        sm_khz / 1000, mem_khz / 1000, bus_bits, theo_gbps, g_machine.copy_gbps, g_machine.peak_fp32_tflops,
        g_machine.peak_tf32_tflops);
    std::printf(
        "method: median of %d after %d warm-up, CUDA events, L2 %s; precision FP32 (TF32 off), TF32 rows: "
        "%s\n\n",
        o.repeats, o.warmup, o.no_flush ? "NOT flushed" : "flushed (256 MiB memset) before each call",
        tf32_state.c_str());

    GpuTimer timer(s, !o.no_flush, size_t{256} << 20, o.warmup, o.repeats);
    Bench bench(timer, s, tf32, o.batches);
#if __has_include("kernels/autotune.h")
    bench.set_bf16(o.bf16);  // the BF16 conv core exists since the autotuner does
#else
    if (o.bf16)
      std::fprintf(stderr, "ddpm-bench: --precision bf16: these sources have no BF16 conv kernels\n");
#endif
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
    j["l2_flushed"] = !o.no_flush;
    j["l2_flush_bytes"] = timer.flush_bytes();
    j["repeats"] = o.repeats;
    j["warmup"] = o.warmup;
    j["statistic"] = "median";
    j["batches"] = o.batches;
    j["note"] = o.note;
    // Rewritten after every op group, so a run cut short keeps what it measured.
    j["device"] = "cuda";
    auto save = [&](bool complete) { write_json(j, bench.rows, o.json_path, complete); };

    print_header();
    std::vector<std::string> conv_passes;
    for (const char* p : {"conv2d_fwd", "conv2d_bwd_data", "conv2d_bwd_weight"})
      if (o.selected(p)) conv_passes.push_back(p);
    const std::vector<std::pair<bool, std::function<void()>>> groups = {
        {!conv_passes.empty(), [&] { bench.conv(conv_passes); }},
        {o.selected("silu_fwd") || o.selected("silu_bwd"),
         [&] { bench.silu(o.selected("silu_fwd"), o.selected("silu_bwd")); }},
        {o.selected("group_norm_fwd") || o.selected("group_norm_bwd") || o.selected("group_norm_silu_fwd") ||
             o.selected("group_norm_silu_bwd"),
         [&] {
           bench.group_norm(o.selected("group_norm_fwd"), o.selected("group_norm_bwd"),
                            o.selected("group_norm_silu_fwd"), o.selected("group_norm_silu_bwd"));
         }},
        {o.selected("q_sample"), [&] { bench.q_sample(); }},
        {o.selected("ddpm_step"), [&] { bench.ddpm_step(); }},
        {o.selected("ddim_step"), [&] { bench.ddim_step(); }},
        {o.selected("dpm_solver_step"), [&] { bench.dpm_solver_step(); }},
        {o.selected("euler_ancestral_step"), [&] { bench.euler_ancestral_step(); }},
        {o.selected("attention_fwd") || o.selected("attention_bwd"),
         [&] { bench.attention(o.selected("attention_fwd"), o.selected("attention_bwd")); }},
        {o.selected("bmm_fwd") || o.selected("bmm_bwd"),
         [&] { bench.bmm(o.selected("bmm_fwd"), o.selected("bmm_bwd")); }},
        {o.selected("softmax_fwd") || o.selected("softmax_bwd"),
         [&] { bench.softmax(o.selected("softmax_fwd"), o.selected("softmax_bwd")); }},
        {o.selected("dropout_fwd"), [&] { bench.dropout(); }},
        {o.selected("adam_update"),
         [&] {
           bench.adam();
           bench.adam_ema();
         }},
        {o.selected("ema_update"), [&] { bench.ema(); }},
    };
    for (const auto& [on, run] : groups) {
      if (!on) continue;
      run();
      save(false);
    }
    save(true);

    int flagged = 0, failed = 0;
    for (const Row& r : bench.rows) {
      if (!std::isnan(r.err) && !err_ok(r)) ++flagged;
      if (!r.error.empty()) ++failed;
    }
    std::printf("\n%zu cases, %d above tolerance, %d with errors\n", bench.rows.size(), flagged, failed);
    if (!o.json_path.empty()) std::printf("wrote %s\n", o.json_path.c_str());
    return flagged > 0 ? 1 : 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ddpm-bench: %s\n", e.what());
    return 1;
  }
}

}  // namespace ddpm::bench
