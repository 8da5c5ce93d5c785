// ddpm-bench --device cpu: our CPU kernels at the ops' bench shapes
// (tests/ops/<op>.cpp), in every build. What bench_conv2d_cpu and
// bench_layers printed, plus the other fused ops:
//
//   conv2d fwd / bwd-data / bwd-weight   the raw CPU kernels (kernels::cpu::,
//       with bias, as conv2d_torch.py), nominal GFLOP/s (2*N*Cout*Hout*Wout*
//       Cin*K*K, padding taps included); one line per shape with the best
//       wall time, GFLOP/s and best process CPU time of each pass, then the
//       UNet totals weighted by how often each shape occurs. With --torch
//       FILE (conv2d_torch.py's JSON, same shapes, same rules) PyTorch's time
//       and the ratio torch / ours (above 1: we are faster).
//   group_norm fwd / bwd                 the Tensor-level kernels, GB/s.
//   group_norm_silu fwd, fwd+bwd         the fused group_norm_silu(x, 8) and its
//       backward through autograd at the first and last group_norm bench
//       shapes, against the unfused silu(group_norm(x, 8)) (the twin:
//       bench_layers_torch.py).
//   silu, q_sample, ddpm_step, ddim_step, dpm_solver_step, euler_ancestral_step, adam_update, ema_update
//       the Tensor-level kernels, GB/s against the copy roofline.
//   attention fwd, bwd, fwd+bwd          the fused kernels (Tensor level)
//       against the unfused sequence of our own ops (bmm, softmax, bmm;
//       backward: their backward kernels from the saved p), GFLOP/s by
//       attention_flops (common.h), both checked against the fused kernel
//       in float64; with --torch FILE (attention_torch.py's JSON, same
//       shapes and timing rules) PyTorch's time and the ratio torch / ours.
//   bmm fwd / bwd                        the Tensor-level kernels at the
//       attention products (q^T k, v p^T; B = batch x heads), GFLOP/s by
//       bmm_flops (common.h).
//   softmax fwd / bwd, dropout fwd       the Tensor-level kernels at the
//       attention weights (scale 1 / sqrt(D), no mask) and the activation
//       shapes (p = kBenchDropoutP), GB/s against the copy roofline.
//       For these three, --torch FILE (bench_layers_torch.py --json: the
//       same shapes and timing rules) adds PyTorch's time and the ratio torch
//       / ours under each row.
//
// Method: --warmup untimed calls, then --repeats timed calls (defaults 1 and
// 7, batch 32); each case records the median and best wall time and the best
// process CPU time (all threads: on a machine shared with other jobs the
// steadier measure). Tables print the median, except the conv lines, which
// keep bench_conv2d_cpu's best-of figures (conv2d_torch.py's rule); the JSON
// has both. Roofline: bytes moved / the best bandwidth of a 256 MiB copy
// split over the OpenMP threads (small cases fit in cache and pass 100%).
// OMP_NUM_THREADS sets the threads; OMP_WAIT_POLICY=passive keeps idle
// threads from spinning into CPU time.
#include <omp.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <fstream>

#include "autograd/functions.h"
#include "benchmarks/kernel_bench/common.h"
#include "kernels/adam_update.h"
#include "kernels/attention.h"
#include "kernels/bmm.h"
#include "kernels/conv2d.h"
#include "kernels/cpu/parallel.h"
#include "kernels/dropout.h"
#include "kernels/ema_update.h"
#include "kernels/group_norm.h"
#include "kernels/q_sample.h"
#include "kernels/silu.h"
#include "kernels/softmax.h"
#include "tensor/rng.h"

namespace ddpm::bench {

using json = nlohmann::json;

namespace {

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

double now_ms() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

struct CpuTiming {
  Timing wall;
  double cpu_ms = NAN;
};

class CpuTimer {
 public:
  CpuTimer(int warmup, int repeats) : warmup_(warmup), repeats_(repeats) {}
  CpuTiming time(const std::function<void()>& fn) const {
    for (int i = 0; i < warmup_; ++i) fn();
    std::vector<double> wall;
    double cpu = INFINITY;
    for (int i = 0; i < repeats_; ++i) {
      const double c0 = process_cpu_ms(), t0 = now_ms();
      fn();
      wall.push_back(now_ms() - t0);
      cpu = std::min(cpu, process_cpu_ms() - c0);
    }
    return {{median(wall), *std::min_element(wall.begin(), wall.end())}, cpu};
  }
  int repeats() const { return repeats_; }
  int warmup() const { return warmup_; }

 private:
  int warmup_, repeats_;
};

// Copy bandwidth (GB/s, read + write) of a 256 MiB buffer split over the
// OpenMP threads, as STREAM's copy kernel with a runtime addend (so the loop
// is not turned into a memcpy call: glibc's large memcpy is slow on some
// AMD parts); the best of 7 after one warm-up (a roofline is the best the
// machine did, and on a shared machine the median drifts with the load).
double copy_bandwidth_cpu() {
  const int64_t n = int64_t{64} << 20;  // floats
  std::vector<float> src(static_cast<size_t>(n), 1.0f), dst(static_cast<size_t>(n), 0.0f);
  volatile float zero = 0.0f;
  const float k = zero;
  const float* in = src.data();
  float* out = dst.data();
  std::vector<double> ms;
  for (int r = 0; r < 8; ++r) {
    const double t0 = now_ms();
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < n; ++i) out[i] = in[i] + k;
    if (r > 0) ms.push_back(now_ms() - t0);
  }
  return 2.0 * static_cast<double>(n) * sizeof(float) / (*std::min_element(ms.begin(), ms.end()) * 1e6);
}

void print_header() {
  std::printf("%-24s %-22s %5s %9s %9s %9s %11s %6s\n", "op", "shape", "batch", "median ms", "best ms",
              "cpu ms", "GFLOP/s", "%roof");
  std::printf("%-24s %-22s %5s %9s %9s %9s %11s %6s\n", "", "", "", "", "", "(best)", "or GB/s", "");
}

void print_row(const Row& r) {
  const double ms = r.ours.median_ms;
  std::string perf = "-", roof = "-";
  if (r.flops > 0 && !std::isnan(ms)) {
    perf = fmt("%.1f GF", r.flops / (ms * 1e6));
  } else if (r.bytes > 0 && !std::isnan(ms)) {
    perf = fmt("%.1f GB/s", r.bytes / (ms * 1e6));
    roof = fmt("%.0f%%", 100 * roofline_ms(r, g_machine) / ms);
  }
  const std::string batch = r.batch > 0 ? std::to_string(r.batch) : "-";
  auto f = [](double v) { return std::isnan(v) ? std::string("-") : fmt("%.3f", v); };
  std::printf("%-24s %-22s %5s %9s %9s %9s %11s %6s\n", r.op.c_str(), r.shape.c_str(), batch.c_str(),
              f(ms).c_str(), f(r.ours.min_ms).c_str(), f(r.cpu_ms).c_str(), perf.c_str(), roof.c_str());
  if (!r.error.empty()) std::printf("    ! %s\n", r.error.c_str());
  std::fflush(stdout);
}

class CpuBench {
 public:
  CpuBench(const Options& o, const CpuTimer& timer, const json& torch)
      : o_(o), timer_(timer), torch_(torch) {}

  std::vector<Row> rows;
  json conv_totals;
  json attention_cmp;  // per attention row: ours, unfused and (--torch) PyTorch times
  json torch_cmp;      // bmm, softmax, dropout rows with --torch: ours and PyTorch's times

  // The --torch JSON when it is the twin of `op` (conv2d_torch.py's has no
  // "op" key), else null.
  const json& torch_for(const std::string& op) const {
    static const json none;
    return !torch_.is_null() && torch_.value("op", std::string("conv2d")) == op ? torch_ : none;
  }

  // Times fn into r (recording a failure in r.error) and appends r.
  void run(Row r, const std::function<void()>& fn, bool print = true) {
    r.device = "cpu";
    if (r.ref_kind == RefKind::none) r.ref_kind = r.bytes > 0 ? RefKind::roofline : RefKind::none;
    try {
      const CpuTiming t = timer_.time(fn);
      r.ours = t.wall;
      r.cpu_ms = t.cpu_ms;
    } catch (const std::exception& e) {
      r.error = std::string("ours: ") + e.what();
    }
    if (print) print_row(r);
    rows.push_back(r);
  }

  void conv() {
    const char* const passes[3] = {"conv2d_fwd", "conv2d_bwd_data", "conv2d_bwd_weight"};
    const char* const short_name[3] = {"fwd", "bwd_data", "bwd_weight"};
    bool on[3];
    for (int p = 0; p < 3; ++p) on[p] = o_.selected(passes[p]);
    const std::vector<test::BenchShape>& shapes = bench_shapes("conv2d");
    const json& torch_conv = torch_for("conv2d");
    for (int64_t B : o_.batches) {
      // conv2d_torch.py times batch 32 only.
      const bool torch = !torch_conv.is_null() && B == 32;
      if (!torch_conv.is_null() && !torch) std::printf("(--torch: conv2d_torch.py times batch 32 only)\n");
      std::printf("conv2d CPU (%s), float32, batch %lld, %d threads, best of %d (JSON: median and best)\n",
                  cpu_model().c_str(), static_cast<long long>(B), kernels::cpu::num_threads(),
                  timer_.repeats());
      double ours_wall[3] = {0, 0, 0}, ours_cpu[3] = {0, 0, 0}, torch_wall[3] = {0, 0, 0},
             torch_cpu[3] = {0, 0, 0};
      for (size_t si = 0; si < shapes.size(); ++si) {
        const test::BenchShape& s = shapes[si];
        const int64_t cin = s.sample[0], hw = s.sample[1], pad = s.k / 2;
        const Tensor x = randn({B, cin, hw, hw}, 1, 1);
        const Tensor w = randn({s.cout, cin, s.k, s.k}, 1, 2);
        const Tensor b = randn({s.cout}, 1, 3);
        const kernels::Conv2dDims d = kernels::conv2d_dims(x, w, b, 1, pad);
        const Tensor gy = randn({B, s.cout, d.Hout, d.Wout}, 1, 4);
        Tensor y = Tensor::empty(gy.shape()), gx = Tensor::empty(x.shape()), gw = Tensor::empty(w.shape()),
               gb = Tensor::empty(b.shape());
        const double flops =
            2.0 * dbl(B) * dbl(s.cout) * dbl(d.Hout) * dbl(d.Wout) * dbl(cin) * dbl(s.k * s.k);
        const json* tr = nullptr;
        if (torch) {
          tr = &torch_conv.at("rows").at(si);
          if (tr->at("shape").get<std::string>() != s.name)
            throw std::runtime_error("--torch: row " + std::to_string(si) + " is '" +
                                     tr->at("shape").get<std::string>() + "', tests/ops/conv2d.cpp has '" +
                                     s.name + "' (conv2d_torch.py's SHAPES must follow its bench shapes)");
        }
        const std::function<void()> fns[3] = {
            [&] {
              kernels::cpu::conv2d_fwd(x.data<float>(), w.data<float>(), b.data<float>(), y.data<float>(), d);
            },
            [&] { kernels::cpu::conv2d_bwd_data(gy.data<float>(), w.data<float>(), gx.data<float>(), d); },
            [&] {
              kernels::cpu::conv2d_bwd_weight(x.data<float>(), gy.data<float>(), gw.data<float>(),
                                              gb.data<float>(), d);
            }};
        std::string line = s.name;
        line.resize(std::max<size_t>(line.size(), 20), ' ');
        line += " x" + std::to_string(s.uses);
        for (int p = 0; p < 3; ++p) {
          if (!on[p]) continue;
          Row r;
          r.op = passes[p];
          r.shape = s.label;
          r.batch = B;
          r.flops = flops;
          r.ref_detail = "layer " + s.name + ", x" + std::to_string(s.uses) + " in the UNet; with bias";
          run(r, fns[p], false);
          const Row& done = rows.back();
          const double n = dbl(s.uses), best = done.ours.min_ms;
          ours_wall[p] += n * best;
          ours_cpu[p] += n * done.cpu_ms;
          char buf[160];
          std::snprintf(buf, sizeof buf, "  %s %6.2f ms %5.1f GF/s cpu %6.2f", short_name[p], best,
                        flops / best / 1e6, done.cpu_ms);
          line += buf;
          if (tr) {
            const double tw = tr->at(std::string(short_name[p]) + "_ms").get<double>();
            torch_wall[p] += n * tw;
            torch_cpu[p] += n * tr->at(std::string(short_name[p]) + "_cpu_ms").get<double>();
            std::snprintf(buf, sizeof buf, " | torch %6.2f x%.2f", tw, tw / best);
            line += buf;
          }
          if (!done.error.empty()) line += "  ! " + done.error;
        }
        std::printf("%s\n", line.c_str());
        std::fflush(stdout);
      }
      const double ow = ours_wall[0] + ours_wall[1] + ours_wall[2],
                   oc = ours_cpu[0] + ours_cpu[1] + ours_cpu[2];
      std::printf(
          "ours, UNet total (weighted by count): fwd %.1f  bwd-data %.1f  bwd-weight %.1f  all %.1f ms wall"
          " (%.1f ms CPU)\n",
          ours_wall[0], ours_wall[1], ours_wall[2], ow, oc);
      json tot = {{"batch", B},
                  {"ours_fwd_ms", ours_wall[0]},
                  {"ours_bwd_data_ms", ours_wall[1]},
                  {"ours_bwd_weight_ms", ours_wall[2]},
                  {"ours_total_ms", ow},
                  {"ours_total_cpu_ms", oc}};
      if (torch) {
        const double tw = torch_wall[0] + torch_wall[1] + torch_wall[2],
                     tc = torch_cpu[0] + torch_cpu[1] + torch_cpu[2];
        std::printf(
            "torch, UNet total (weighted by count): fwd %.1f  bwd-data %.1f  bwd-weight %.1f  all %.1f ms "
            "wall"
            " (%.1f ms CPU)\n",
            torch_wall[0], torch_wall[1], torch_wall[2], tw, tc);
        std::printf("speed ratio torch/ours: wall %.2f, CPU time %.2f (above 1: we are faster)\n", tw / ow,
                    tc / oc);
        tot["torch_total_ms"] = tw;
        tot["torch_total_cpu_ms"] = tc;
      }
      conv_totals.push_back(tot);
      std::printf("\n");
    }
  }

  void silu() {
    for (const test::BenchShape& a : bench_shapes("silu"))
      for (int64_t B : o_.batches) {
        const Shape s = {B, a.sample[0], a.sample[1], a.sample[1]};
        const Tensor x = randn(s, 2, 1), g = randn(s, 2, 2);
        const double n = dbl(x.numel());
        for (int pass = 0; pass < 2; ++pass) {
          Row r;
          r.op = pass == 0 ? "silu_fwd" : "silu_bwd";
          if (!o_.selected(r.op)) continue;
          r.shape = a.label;
          r.batch = B;
          r.bytes = (pass == 0 ? 2 : 3) * n * 4;
          Tensor out;
          run(r, [&] { out = pass == 0 ? kernels::silu_fwd(x) : kernels::silu_bwd(x, g); });
        }
      }
  }

  void group_norm() {
    const std::vector<test::BenchShape>& shapes = bench_shapes("group_norm");
    for (const test::BenchShape& a : shapes)
      for (int64_t B : o_.batches) {
        const int64_t G = a.groups;
        const Shape s = {B, a.sample[0], a.sample[1], a.sample[1]};
        const Tensor x = randn(s, 3, 1), g = randn(s, 3, 2);
        const Tensor gamma = randn({a.sample[0]}, 3, 3), beta = randn({a.sample[0]}, 3, 4);
        const double n = dbl(x.numel()), c = dbl(a.sample[0]), stats = dbl(B * G);
        const kernels::GroupNormForward f = kernels::group_norm_fwd(x, G, gamma, beta, 1e-5);
        for (int pass = 0; pass < 2; ++pass) {
          Row r;
          r.op = pass == 0 ? "group_norm_fwd" : "group_norm_bwd";
          if (!o_.selected(r.op)) continue;
          r.shape = a.label;
          r.batch = B;
          r.bytes = pass == 0 ? (2 * n + 2 * c + 2 * stats) * 4 : (3 * n + 2 * stats + 3 * c) * 4;
          kernels::GroupNormForward fo;
          kernels::GroupNormGrads go;
          if (pass == 0)
            run(r, [&] { fo = kernels::group_norm_fwd(x, G, gamma, beta, 1e-5); });
          else
            run(r, [&] { go = kernels::group_norm_bwd(x, f.mean, f.rstd, gamma, g, G, true, true); });
        }
      }
    // GroupNorm + SiLU through autograd (bench_layers; twin bench_layers_torch.py):
    // the fused group_norm_silu, and as the reference the unfused pair
    // silu(group_norm(x)) it replaced.
    const bool fwd = o_.selected("group_norm_silu_fwd"), both = o_.selected("group_norm_silu_fwd_bwd");
    if (!fwd && !both) return;
    std::vector<std::string> lines;
    for (const test::BenchShape* a : {&shapes.front(), &shapes.back()})
      for (int64_t B : o_.batches) {
        Shape s = a->sample;
        s.insert(s.begin(), B);
        const int64_t c = s[1];
        Tensor x = randn(s, 1, 1).set_requires_grad();
        Tensor w = randn({c}, 1, 2).set_requires_grad();
        Tensor b = randn({c}, 1, 3).set_requires_grad();
        const Tensor g = randn(s, 1, 4);
        const double n = dbl(shape_numel(s));
        auto forward = [&](bool fused) {
          x.zero_grad();
          w.zero_grad();
          b.zero_grad();
          return fused ? ddpm::group_norm_silu(x, a->groups, w, b)
                       : ddpm::silu(ddpm::group_norm(x, a->groups, w, b));
        };
        Row r;
        r.shape = a->label;
        r.batch = B;
        std::string line = "group_norm_silu(" + std::to_string(a->groups) + ") f32 " + shape_str(s);
        line.resize(std::max<size_t>(line.size(), 42), ' ');
        line += "threads " + std::to_string(kernels::cpu::num_threads());
        for (int pass = 0; pass < 2; ++pass) {
          if (!(pass == 0 ? fwd : both)) continue;
          r.op = pass == 0 ? "group_norm_silu_fwd" : "group_norm_silu_fwd_bwd";
          r.bytes = (pass == 0 ? 2 : 5) * n * 4;  // x in, y out; + x, g in, gx out (the fused minimum)
          auto call = [&](bool fused) {
            return std::function<void()>([&, fused, pass] {
              if (pass == 0)
                (void)forward(fused);
              else
                autograd::backward(forward(fused), g);
            });
          };
          r.ref = timer_.time(call(false)).wall;
          r.ref_kind = RefKind::unfused;
          run(r, call(true));
          const Row& done = rows.back();
          line += fmt(pass == 0 ? "  fwd %7.2f ms" : "  fwd+bwd %7.2f ms", done.ours.median_ms) +
                  fmt(" (unfused %7.2f ms", done.ref.median_ms) +
                  fmt(", x%.2f)", done.ref.median_ms / done.ours.median_ms);
        }
        lines.push_back(line + " (median of " + std::to_string(timer_.repeats()) + ")");
      }
    for (const std::string& l : lines) std::printf("%s\n", l.c_str());
  }

  void q_sample() {
    for (const test::BenchShape& bs : bench_shapes("q_sample"))
      for (int64_t B : o_.batches) {
        Shape s = bs.sample;
        s.insert(s.begin(), B);
        const int64_t N = B * shape_numel(bs.sample);
        const Tensor x0 = rand_uniform(s, -1, 1, 4, 1);
        const auto [av, bv] = qsample_coefs(B);
        const Tensor a = Tensor::from_vector(av, {B}), b = Tensor::from_vector(bv, {B});
        Row r;
        r.op = "q_sample";
        r.shape = bs.label;
        r.batch = B;
        r.bytes = (3 * dbl(N) + 2 * dbl(B)) * 4;
        kernels::QSampleResult out;
        run(r, [&] { out = kernels::q_sample(x0, a, b, 7, 11, 0, false); });
      }
  }

  template <class F>
  void step(const char* op, uint64_t stream, F&& fn) {
    for (const test::BenchShape& bs : bench_shapes(op))
      for (int64_t B : o_.batches) {
        Shape s = bs.sample;
        s.insert(s.begin(), B);
        const Tensor x = randn(s, stream, 1), eps = randn(s, stream, 2);
        Row r;
        r.op = op;
        r.shape = bs.label;
        r.batch = B;
        r.bytes = 3 * dbl(B * shape_numel(bs.sample)) * 4;  // x_t, model output in; x_prev out
        Tensor out;
        run(r, [&] { out = fn(x, eps); });
      }
  }

  // x_t, the model output and the previous x0 in; x_prev and x0 out.
  void dpm_solver_step() {
    const kernels::DpmSolverStepParams p = dpm_solver_params();
    for (const test::BenchShape& bs : bench_shapes("dpm_solver_step"))
      for (int64_t B : o_.batches) {
        Shape s = bs.sample;
        s.insert(s.begin(), B);
        const Tensor x = randn(s, 8, 1), eps = randn(s, 8, 2), prev = randn(s, 8, 3);
        Row r;
        r.op = "dpm_solver_step";
        r.shape = bs.label;
        r.batch = B;
        r.bytes = 5 * dbl(B * shape_numel(bs.sample)) * 4;
        kernels::DpmSolverStepResult out;
        run(r, [&] { out = kernels::dpm_solver_step(x, eps, prev, p); });
      }
  }

  // attention_fwd, attention_bwd, attention_fwd_bwd: ours (the fused kernels)
  // and the unfused sequence of our ops, timed one after the other per case;
  // PyTorch's times from the --torch JSON (attention_torch.py) by shape label
  // and batch. Checked against the fused kernel run in float64.
  void attention() {
    const char* const ops[3] = {"attention_fwd", "attention_bwd", "attention_fwd_bwd"};
    const char* const torch_key[3] = {"fwd", "bwd", "fwd_bwd"};
    const json& tj = torch_for("attention");
    std::printf(
        "attention CPU (%s), float32, %d threads, median of %d after %d warm-up; ratios are "
        "reference time / ours (above 1: we are faster)\n",
        cpu_model().c_str(), kernels::cpu::num_threads(), timer_.repeats(), timer_.warmup());
    if (!torch_.is_null() && tj.is_null())
      std::printf("(--torch: not attention_torch.py's JSON, no PyTorch column)\n");
    for (const test::BenchShape& bs : bench_shapes("attention"))
      for (int64_t batch : o_.batches) {
        const AttentionCase a = attention_case(bs, batch);
        const Tensor q = randn({a.b, a.d, a.lq}, 12, 1), k = randn({a.b, a.d, a.lk}, 12, 2),
                     v = randn({a.b, a.d, a.lk}, 12, 3), go = randn({a.b, a.d, a.lq}, 12, 4);
        // The check reference: the fused kernel in float64, rounded to float.
        Tensor lse64, g64[3];
        const Tensor q64 = q.to(DType::f64), k64 = k.to(DType::f64), v64 = v.to(DType::f64);
        const Tensor o64 = kernels::attention_fwd(q64, k64, v64, a.scale, &lse64);
        kernels::attention_bwd(q64, k64, v64, o64, lse64, a.scale, go.to(DType::f64), &g64[0], &g64[1],
                               &g64[2]);
        const std::vector<float> exact_o = host(o64.to(DType::f32));
        std::vector<float> exact_g[3];
        for (int i = 0; i < 3; ++i) exact_g[i] = host(g64[i].to(DType::f32));
        auto grads_err = [&](const Tensor& gq, const Tensor& gk, const Tensor& gv) {
          return std::max({norm_err(host(gq), exact_g[0]), norm_err(host(gk), exact_g[1]),
                           norm_err(host(gv), exact_g[2])});
        };
        // Ours and the unfused sequence, each writing its outputs here.
        Tensor o, lse, gq, gk, gv, p, ro, rgq, rgk, rgv, rgp;
        auto ours_fwd = [&] { o = kernels::attention_fwd(q, k, v, a.scale, &lse); };
        auto ours_bwd = [&] { kernels::attention_bwd(q, k, v, o, lse, a.scale, go, &gq, &gk, &gv); };
        auto ref_fwd = [&] {
          p = kernels::softmax_fwd(kernels::bmm_fwd(q, k, true, false), a.scale, Tensor());
          ro = kernels::bmm_fwd(v, p, false, true);
        };
        auto ref_bwd = [&] {
          kernels::bmm_bwd(v, p, false, true, go, &rgv, &rgp);
          kernels::bmm_bwd(q, k, true, false, kernels::softmax_bwd(p, rgp, a.scale), &rgq, &rgk);
        };
        const json* tr = nullptr;
        if (!tj.is_null()) {
          for (const json& t : tj.at("rows"))
            if (t.at("shape").get<std::string>() == bs.label && t.at("batch").get<int64_t>() == batch)
              tr = &t;
          if (!tr)
            std::printf(
                "(--torch: no row for '%s' batch %lld; attention_torch.py's SHAPES must follow "
                "tests/ops/attention.cpp)\n",
                bs.label.c_str(), static_cast<long long>(batch));
        }
        for (int pass = 0; pass < 3; ++pass) {
          if (!o_.selected(ops[pass])) continue;
          Row r;
          r.op = ops[pass];
          r.shape = bs.label;
          r.batch = batch;
          r.flops = pass == 2 ? attention_flops(a, false) + attention_flops(a, true)
                              : attention_flops(a, pass == 1);
          r.tol = kTolAttention;
          r.check_against = "fused CPU kernel in float64";
          r.ref_detail = pass == 0   ? "bmm(q, k, trans_a), softmax(scale), bmm(v, p, trans_b)"
                         : pass == 1 ? "from the forward's p: bmm backward (gv, gp), softmax backward, "
                                       "bmm backward (gq, gk)"
                                     : "the unfused forward, then its backward";
          try {
            ours_fwd();
            ref_fwd();
            if (pass == 0) {
              r.err = norm_err(host(o), exact_o);
              r.ref_err = norm_err(host(ro), exact_o);
            } else {
              ours_bwd();
              ref_bwd();
              r.err = grads_err(gq, gk, gv);
              r.ref_err = grads_err(rgq, rgk, rgv);
            }
            const CpuTiming ref = timer_.time(pass == 0   ? std::function<void()>(ref_fwd)
                                              : pass == 1 ? std::function<void()>(ref_bwd)
                                                          : std::function<void()>([&] {
                                                              ref_fwd();
                                                              ref_bwd();
                                                            }));
            r.ref = ref.wall;
            r.ref_kind = RefKind::unfused;
          } catch (const std::exception& e) {
            r.error = std::string("check or reference: ") + e.what();
          }
          run(r,
              pass == 0   ? std::function<void()>(ours_fwd)
              : pass == 1 ? std::function<void()>(ours_bwd)
                          : std::function<void()>([&] {
                              ours_fwd();
                              ours_bwd();
                            }),
              false);
          const Row& done = rows.back();
          const double ms = done.ours.median_ms;
          json cmp = {{"op", done.op},
                      {"shape", done.shape},
                      {"batch", batch},
                      {"B", a.b},
                      {"D", a.d},
                      {"Lq", a.lq},
                      {"Lk", a.lk},
                      {"flops", done.flops},
                      {"ours_ms", num(ms)},
                      {"ours_best_ms", num(done.ours.min_ms)},
                      {"unfused_ms", num(done.ref.median_ms)},
                      {"unfused_best_ms", num(done.ref.min_ms)},
                      {"err", num(done.err)},
                      {"unfused_err", num(done.ref_err)}};
          char buf[256];
          std::snprintf(buf, sizeof buf,
                        "%-18s %-20s B %4lld  ours %8.3f ms %6.1f GF/s | unfused %8.3f ms x%.2f",
                        done.op.c_str(), done.shape.c_str(), static_cast<long long>(a.b), ms,
                        done.flops / (ms * 1e6), done.ref.median_ms, done.ref.median_ms / ms);
          std::string line = buf;
          if (tr) {
            const double tw = tr->at(std::string(torch_key[pass]) + "_ms").get<double>();
            cmp["torch_ms"] = tw;
            cmp["torch_best_ms"] = tr->at(std::string(torch_key[pass]) + "_best_ms").get<double>();
            std::snprintf(buf, sizeof buf, " | torch %8.3f ms x%.2f", tw, tw / ms);
            line += buf;
          }
          line += fmt("  err %.1e", done.err) + fmt(" (unfused %.1e)", done.ref_err);
          if (!err_ok(done)) line += "  ** ABOVE TOLERANCE";
          if (!done.error.empty()) line += "  ! " + done.error;
          std::printf("%s\n", line.c_str());
          std::fflush(stdout);
          attention_cmp.push_back(cmp);
        }
      }
    std::printf("\n");
  }

  // Runs r as run() does; then, with bench_layers_torch.py's JSON as
  // --torch, prints PyTorch's median for the same op, shape and batch and
  // the ratio torch / ours under the row.
  void run_vs_torch(const Row& r, const std::function<void()>& fn) {
    run(r, fn);
    const json& tj = torch_for("layers");
    if (tj.is_null()) return;
    const Row& done = rows.back();
    const json* tr = nullptr;
    for (const json& t : tj.at("rows"))
      if (t.at("op").get<std::string>() == done.op && t.at("shape").get<std::string>() == done.shape &&
          t.at("batch").get<int64_t>() == done.batch)
        tr = &t;
    if (!tr) {
      std::printf(
          "    (--torch: no row for %s '%s' batch %lld; bench_layers_torch.py's shapes must follow "
          "tests/ops/)\n",
          done.op.c_str(), done.shape.c_str(), static_cast<long long>(done.batch));
      return;
    }
    const double tw = tr->at("ms").get<double>(), ms = done.ours.median_ms;
    std::printf("    torch %s: %.3f ms (best %.3f), torch / ours x%.2f\n",
                tj.value("torch", std::string("?")).c_str(), tw, tr->at("best_ms").get<double>(), tw / ms);
    torch_cmp.push_back({{"op", done.op},
                         {"shape", done.shape},
                         {"batch", done.batch},
                         {"ours_ms", num(ms)},
                         {"ours_best_ms", num(done.ours.min_ms)},
                         {"torch_ms", tw},
                         {"torch_best_ms", tr->at("best_ms").get<double>()},
                         {"torch_cpu_ms", tr->at("cpu_ms").get<double>()}});
  }

  // bmm_fwd, bmm_bwd at the attention products, GFLOP/s.
  void bmm() {
    for (const test::BenchShape& bs : bench_shapes("bmm"))
      for (int64_t batch : o_.batches) {
        const BmmCase c = bmm_case(bs, batch);
        const Tensor a = randn(c.a_shape(), 14, 1), b = randn(c.b_shape(), 14, 2),
                     gc = randn(c.c_shape(), 14, 3);
        for (int pass = 0; pass < 2; ++pass) {
          Row r;
          r.op = pass == 0 ? "bmm_fwd" : "bmm_bwd";
          if (!o_.selected(r.op)) continue;
          r.shape = bs.label;
          r.batch = batch;
          r.flops = bmm_flops(c, pass == 1);
          r.ref_detail = "B = batch x heads = " + std::to_string(c.b);
          Tensor out, ga, gb;
          if (pass == 0)
            run_vs_torch(r, [&] { out = kernels::bmm_fwd(a, b, c.trans_a, c.trans_b); });
          else
            run_vs_torch(r, [&] { kernels::bmm_bwd(a, b, c.trans_a, c.trans_b, gc, &ga, &gb); });
        }
      }
  }

  // softmax_fwd, softmax_bwd (from the forward's y) at the attention
  // weights, scale 1 / sqrt(D), no mask; GB/s.
  void softmax() {
    for (const test::BenchShape& bs : bench_shapes("softmax"))
      for (int64_t batch : o_.batches) {
        const AttentionCase a = attention_case(bs, batch);
        const Shape s = {a.b, a.lq, a.lk};
        const Tensor x = Tensor::from_vector(scores(s, a.d, 1), s), g = randn(s, 13, 2);
        const Tensor y = kernels::softmax_fwd(x, a.scale, Tensor());
        const double n = dbl(x.numel());
        for (int pass = 0; pass < 2; ++pass) {
          Row r;
          r.op = pass == 0 ? "softmax_fwd" : "softmax_bwd";
          if (!o_.selected(r.op)) continue;
          r.shape = bs.label;
          r.batch = batch;
          r.bytes = (pass == 0 ? 2 : 3) * n * 4;
          Tensor out;
          run_vs_torch(r, [&] {
            out =
                pass == 0 ? kernels::softmax_fwd(x, a.scale, Tensor()) : kernels::softmax_bwd(y, g, a.scale);
          });
        }
      }
  }

  // dropout_fwd at the activation shapes, p = kBenchDropoutP; GB/s.
  void dropout() {
    for (const test::BenchShape& bs : bench_shapes("dropout"))
      for (int64_t B : o_.batches) {
        Shape s = bs.sample;
        s.insert(s.begin(), B);
        const Tensor x = randn(s, 15, 1);
        Row r;
        r.op = "dropout_fwd";
        r.shape = bs.label;
        r.batch = B;
        r.bytes = 2 * dbl(x.numel()) * 4;
        r.ref_detail = "p " + fmt("%g", kBenchDropoutP);
        Tensor out;
        run_vs_torch(r, [&] {
          out = kernels::dropout_fwd(x, kBenchDropoutP, kBenchDropoutSeed, kBenchDropoutStream,
                                     kBenchDropoutOffset);
        });
      }
  }

  void adam() {
    const int64_t n = unet_parameters();
    kernels::AdamParams ap;
    ap.lr = 1e-3;
    ap.step = 10;
    Tensor p = randn({n}, 8, 1), m = randn({n}, 8, 3), v = rand_uniform({n}, 0, 1, 8, 4);
    const Tensor g = randn({n}, 8, 2);
    Row r;
    r.op = "adam_update";
    r.shape = bench_shapes("adam_update").front().label + " " + std::to_string(n);
    r.bytes = 7 * dbl(n) * 4;
    run(r, [&] { kernels::adam_update(p, g, m, v, ap); });
    // What the trainer runs: the same step with the EMA of the new
    // parameters in the same pass (compare with this row + ema_update's).
    Tensor e = randn({n}, 8, 5);
    ap.ema_decay = 0.995;
    Row f;
    f.op = "adam_update";
    f.shape = r.shape + " + ema";
    f.bytes = 8 * dbl(n) * 4;
    run(f, [&] { kernels::adam_update(p, g, m, v, ap, &e); });
  }

  void ema() {
    const int64_t n = unet_parameters();
    Tensor e = randn({n}, 9, 1);
    const Tensor p = randn({n}, 9, 2);
    Row r;
    r.op = "ema_update";
    r.shape = bench_shapes("ema_update").front().label + " " + std::to_string(n);
    r.bytes = 3 * dbl(n) * 4;
    run(r, [&] { kernels::ema_update(e, p, 0.995); });
  }

 private:
  const Options& o_;
  const CpuTimer& timer_;
  const json& torch_;
};

}  // namespace

int run_cpu(const Options& o) {
  try {
    json torch;
    if (!o.torch_json.empty()) {
      std::ifstream in(o.torch_json);
      if (!in) throw std::runtime_error("cannot open " + o.torch_json);
      torch = json::parse(in);
    }
    g_machine.copy_gbps = copy_bandwidth_cpu();
    const int threads = kernels::cpu::num_threads();
    const char* wait = std::getenv("OMP_WAIT_POLICY");
    std::printf("ddpm-bench --device cpu: %s, %d threads (OMP_WAIT_POLICY=%s), copy bandwidth %.1f GB/s\n",
                cpu_model().c_str(), threads, wait ? wait : "unset", g_machine.copy_gbps);
    std::printf(
        "method: median (and best) of %d after %d warm-up, wall clock; process CPU time (best); float32\n\n",
        o.repeats, o.warmup);
    const CpuTimer timer(o.warmup, o.repeats);
    CpuBench bench(o, timer, torch);
    if (const json& tl = bench.torch_for("layers"); !tl.is_null()) {
      const int tr = tl.value("repeats", 0), tw = tl.value("warmup", -1);
      std::printf(
          "--torch %s: PyTorch %s, %d threads, median of %d after %d warm-up%s\n\n", o.torch_json.c_str(),
          tl.value("torch", std::string("?")).c_str(), tl.value("threads", 0), tr, tw,
          tr == o.repeats && tw == o.warmup ? "" : " (NOT our rules: pass the same --repeats and --warmup)");
    }
    json j;
    j["benchmark"] = "ddpm-bench";
    j["device"] = "cpu";
    j["machine"] = {{"cpu", cpu_model()}, {"threads", threads}, {"omp_wait_policy", wait ? wait : ""}};
    j["copy_bandwidth_gbps"] = g_machine.copy_gbps;
    j["precision"] = "fp32";
    j["repeats"] = o.repeats;
    j["warmup"] = o.warmup;
    j["statistic"] = "median";
    j["batches"] = o.batches;
    j["note"] = o.note;
    auto save = [&](bool complete) {
      if (!bench.conv_totals.is_null()) j["conv2d_totals"] = bench.conv_totals;
      if (!bench.attention_cmp.is_null()) {
        j["attention"] = bench.attention_cmp;
        if (!bench.torch_for("attention").is_null()) j["attention_torch"] = o.torch_json;
      }
      if (!bench.torch_cmp.is_null()) {
        j["torch_comparison"] = bench.torch_cmp;
        j["torch_json"] = o.torch_json;
      }
      write_json(j, bench.rows, o.json_path, complete);
    };

    const bool attention =
        o.selected("attention_fwd") || o.selected("attention_bwd") || o.selected("attention_fwd_bwd");
    const bool conv =
        o.selected("conv2d_fwd") || o.selected("conv2d_bwd_data") || o.selected("conv2d_bwd_weight");
    bool header = false;
    auto table = [&] {
      if (!header) print_header();
      header = true;
    };
    const std::vector<std::pair<bool, std::function<void()>>> groups = {
        {conv, [&] { bench.conv(); }},
        {o.selected("silu_fwd") || o.selected("silu_bwd"),
         [&] {
           table();
           bench.silu();
         }},
        {o.selected("group_norm_fwd") || o.selected("group_norm_bwd") || o.selected("group_norm_silu_fwd") ||
             o.selected("group_norm_silu_fwd_bwd"),
         [&] {
           table();
           bench.group_norm();
         }},
        {o.selected("q_sample"),
         [&] {
           table();
           bench.q_sample();
         }},
        {o.selected("ddpm_step"),
         [&] {
           table();
           const kernels::DdpmStepParams p = ddpm_params();
           bench.step("ddpm_step", 5,
                      [&](const Tensor& x, const Tensor& e) { return kernels::ddpm_step(x, e, p); });
         }},
        {o.selected("ddim_step"),
         [&] {
           table();
           const kernels::DdimStepParams p = ddim_params();
           bench.step("ddim_step", 6,
                      [&](const Tensor& x, const Tensor& e) { return kernels::ddim_step(x, e, p); });
         }},
        {o.selected("dpm_solver_step"),
         [&] {
           table();
           bench.dpm_solver_step();
         }},
        {o.selected("euler_ancestral_step"),
         [&] {
           table();
           const kernels::EulerAncestralStepParams p = euler_ancestral_params();
           bench.step("euler_ancestral_step", 7, [&](const Tensor& x, const Tensor& e) {
             return kernels::euler_ancestral_step(x, e, p);
           });
         }},
        {attention, [&] { bench.attention(); }},
        {o.selected("bmm_fwd") || o.selected("bmm_bwd"),
         [&] {
           table();
           bench.bmm();
         }},
        {o.selected("softmax_fwd") || o.selected("softmax_bwd"),
         [&] {
           table();
           bench.softmax();
         }},
        {o.selected("dropout_fwd"),
         [&] {
           table();
           bench.dropout();
         }},
        {o.selected("adam_update"),
         [&] {
           table();
           bench.adam();
         }},
        {o.selected("ema_update"),
         [&] {
           table();
           bench.ema();
         }},
    };
    for (const auto& [on, run] : groups) {
      if (!on) continue;
      run();
      save(false);
    }
    save(true);
    int failed = 0;
    for (const Row& r : bench.rows) failed += r.error.empty() ? 0 : 1;
    std::printf("\n%zu cases, %d with errors\n", bench.rows.size(), failed);
    if (!o.json_path.empty()) std::printf("wrote %s\n", o.json_path.c_str());
    return failed > 0 ? 1 : 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ddpm-bench: %s\n", e.what());
    return 1;
  }
}

}  // namespace ddpm::bench
