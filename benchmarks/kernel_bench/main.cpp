// ddpm-bench: our kernels at the seed UNet's real shapes (the bench shapes
// each op declares in tests/ops/<op>.cpp), in one of two modes:
//
//   --device cuda   our CUDA kernels against cuDNN, the unfused launches and
//                   the memory roofline, each checked before it is timed
//                   (cuda_main.cpp and one file per op family; compiled only
//                   with CUDA; the default of a CUDA build).
//   --device cpu    our CPU kernels (cpu.cpp; every build, the default of a
//                   build without CUDA): conv2d fwd / bwd-data / bwd-weight in
//                   GFLOP/s, GroupNorm(+SiLU), SiLU, q_sample, the DDPM/DDIM
//                   steps, softmax, dropout, Adam and EMA in GB/s against
//                   the copy roofline; attention and bmm in GFLOP/s.
//
// This file: the flags, the op names, the dispatch and the JSON rows both
// modes write (`device` tells which).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "benchmarks/kernel_bench/common.h"
#include "kernels/dispatch.h"
#include "kernels/precision.h"

using namespace ddpm;
using namespace ddpm::bench;
using json = nlohmann::json;

namespace ddpm::bench {

Machine g_machine;

const std::vector<OpName> kOps = {{"conv2d_fwd", true, true},
                                  {"conv2d_bwd_data", true, true},
                                  {"conv2d_bwd_weight", true, true},
                                  {"silu_fwd", true, true},
                                  {"silu_bwd", true, true},
                                  {"group_norm_fwd", true, true},
                                  {"group_norm_bwd", true, true},
                                  {"group_norm_silu_fwd", true, true},
                                  {"group_norm_silu_bwd", true, false},
                                  {"group_norm_silu_fwd_bwd", false, true},
                                  {"q_sample", true, true},
                                  {"ddpm_step", true, true},
                                  {"ddim_step", true, true},
                                  {"dpm_solver_step", true, true},
                                  {"euler_ancestral_step", true, true},
                                  {"attention_fwd", true, true},
                                  {"attention_bwd", true, true},
                                  {"attention_fwd_bwd", false, true},
                                  {"bmm_fwd", true, true},
                                  {"bmm_bwd", true, true},
                                  {"softmax_fwd", true, true},
                                  {"softmax_bwd", true, true},
                                  {"dropout_fwd", true, true},
                                  {"adam_update", true, true},
                                  {"ema_update", true, true}};

std::string ref_kind_name(RefKind k) {
  switch (k) {
    case RefKind::cudnn:
      return "cudnn";
    case RefKind::unfused:
      return "unfused";
    case RefKind::roofline:
      return "roofline";
    case RefKind::none:
      break;
  }
  return "none";
}

json num(double v) { return std::isnan(v) ? json(nullptr) : json(v); }

json row_json(const Row& r) {
  json j;
  j["op"] = r.op;
  j["shape"] = r.shape;
  j["device"] = r.device;
  j["batch"] = r.batch > 0 ? json(r.batch) : json(nullptr);
  j["precision"] = r.precision;
  j["ours_ms"] = num(r.ours.median_ms);
  j["ours_min_ms"] = num(r.ours.min_ms);
  if (!std::isnan(r.cpu_ms)) j["ours_cpu_ms"] = num(r.cpu_ms);
  j["ref_kind"] = ref_kind_name(r.ref_kind);
  j["ref_ms"] = num(r.ref.median_ms);
  j["ref_min_ms"] = num(r.ref.min_ms);
  j["ref_detail"] = r.ref_detail;
  j["ratio_ref_over_ours"] = num(r.ref.median_ms / r.ours.median_ms);
  j["flops"] = r.flops > 0 ? json(r.flops) : json(nullptr);
  j["bytes"] = r.bytes > 0 ? json(r.bytes) : json(nullptr);
  if (r.flops > 0) {
    const double tf = r.flops / (r.ours.median_ms * 1e9);
    const double peak = peak_tflops(r.precision, g_machine);
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
  if (!r.variant.empty()) j["variant"] = r.variant;
  if (!r.variants.empty()) {
    j["variants_ms"] = json::object();
    for (const auto& [name, t] : r.variants) j["variants_ms"][name] = num(t.median_ms);
  }
  return j;
}

void write_json(json& j, const std::vector<Row>& rows, const std::string& path, bool complete) {
  if (path.empty()) return;
  j["complete"] = complete;
  j["rows"] = json::array();
  for (const Row& r : rows) j["rows"].push_back(row_json(r));
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    if (!out) throw std::runtime_error("cannot write " + tmp);
    out << j.dump(1) << "\n";
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) throw std::runtime_error("cannot write " + path);
}

}  // namespace ddpm::bench

namespace {

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

bool matches(const std::string& op, const std::string& w) { return op == w || op.rfind(w + "_", 0) == 0; }

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "ddpm-bench: our kernels at the seed UNet's shapes; CUDA: against cuDNN, unfused kernels and the "
      "memory roofline; CPU (--device cpu): GFLOP/s and GB/s against the copy roofline"};
  Options o;
  o.device = kernels::kHaveCuda ? "cuda" : "cpu";
  std::string ops_flag, batch_flag = "1,16,128";
  bool list = false;
  app.add_option("--device", o.device, "cuda or cpu (default: cuda in a CUDA build, else cpu)")
      ->check(CLI::IsMember({"cuda", "cpu"}))
      ->capture_default_str();
  app.add_option("--op", ops_flag,
                 "comma-separated ops (a prefix such as conv2d selects conv2d_*); all by default");
  app.add_option("--json", o.json_path, "write the results as JSON to this file");
  app.add_option("--batch", batch_flag, "comma-separated batch sizes (CPU default: 32)")
      ->capture_default_str();
  app.add_option("--repeats", o.repeats, "timed calls per case (median reported; CPU default: 7)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--warmup", o.warmup, "untimed calls before timing (CPU default: 1)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  std::string precision_flag = "fp32";
  app.add_option(
         "--precision", precision_flag,
         "comma-separated: fp32 (always run), tf32 (CUDA: also the convolutions with TF32 allowed on "
         "both sides), bf16 (CUDA: also the convolutions on BF16 tensor cores, against cuDNN with BF16 "
         "tensors; refused on the CPU, whose BF16 convolutions ddpm-bench-e2e times)")
      ->capture_default_str();
  app.add_flag("--tf32", o.tf32, "the same as --precision fp32,tf32 (kept for older scripts)");
  app.add_flag("--no-l2-flush", o.no_flush, "do not flush L2 between timed calls (CUDA)");
  app.add_option("--torch", o.torch_json,
                 "CPU: the JSON of benchmarks/conv2d_torch.py (--op conv2d), attention_torch.py (--op "
                 "attention) or bench_layers_torch.py --json (--op bmm,softmax,dropout), to print PyTorch's "
                 "times and ratios");
  app.add_option("--note", o.note, "free text stored in the JSON (e.g. nvidia-smi clocks)");
  app.add_flag("--list", list, "print the op names of the chosen --device and exit");
  CLI11_PARSE(app, argc, argv);

  for (const std::string& p : split(precision_flag)) {
    try {
      // Only the name is checked here: the math mode is per row.
      if (kernels::parse_precision(p) == kernels::Precision::bf16 && o.device == "cpu")
        throw std::runtime_error(
            "--precision bf16 --device cpu: this bench's CPU mode times the FP32 kernels only; the CPU's "
            "BF16 convolutions are timed end to end by ddpm-bench-e2e --device cpu --precision bf16");
    } catch (const std::exception& e) {
      std::fprintf(stderr, "ddpm-bench: %s\n", e.what());
      return 2;
    }
    if (p == "tf32") o.tf32 = true;
    if (p == "bf16") o.bf16 = true;
  }
  const bool cpu = o.device == "cpu";
  auto in_mode = [&](const OpName& n) { return cpu ? n.cpu : n.cuda; };
  if (list) {
    for (const auto& n : kOps)
      if (in_mode(n)) std::printf("%s\n", n.name);
    return 0;
  }
  const std::vector<std::string> wanted = split(ops_flag);
  for (const auto& w : wanted) {
    const bool known = std::any_of(kOps.begin(), kOps.end(),
                                   [&](const OpName& n) { return in_mode(n) && matches(n.name, w); });
    if (!known) {
      std::fprintf(stderr, "ddpm-bench: unknown --op '%s' for --device %s (see --list)\n", w.c_str(),
                   o.device.c_str());
      return 2;
    }
  }
  o.selected = [wanted](const std::string& op) {
    return wanted.empty() ||
           std::any_of(wanted.begin(), wanted.end(), [&](const std::string& w) { return matches(op, w); });
  };
  if (cpu) {
    // The CPU benches' habits: the seed's batch 32, fewer, longer calls.
    if (app.count("--batch") == 0) batch_flag = "32";
    if (app.count("--repeats") == 0) o.repeats = 7;
    if (app.count("--warmup") == 0) o.warmup = 1;
  }
  try {
    for (const auto& b : split(batch_flag)) {
      size_t used = 0;
      const long long v = std::stoll(b, &used);
      if (used != b.size() || v < 1) throw std::invalid_argument(b);
      o.batches.push_back(v);
    }
  } catch (const std::exception&) {
    std::fprintf(stderr, "ddpm-bench: --batch '%s' is not a comma-separated list of positive integers\n",
                 batch_flag.c_str());
    return 2;
  }
  if (o.batches.empty()) {
    std::fprintf(stderr, "ddpm-bench: --batch is empty\n");
    return 2;
  }

  if (cpu) return run_cpu(o);
  if constexpr (kernels::kHaveCuda) {
    return run_cuda(o);
  } else {
    std::fprintf(stderr,
                 "ddpm-bench: this build has no CUDA backend (configured with DDPM_WITH_CUDA=OFF or without "
                 "nvcc); --device cuda is not available, use --device cpu\n");
    return 77;
  }
}
