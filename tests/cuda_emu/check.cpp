// Runs the CUDA launchers of the elementwise ops on the CPU emulation
// (include/cuda_runtime.h) against the CPU kernels: index arithmetic, the
// float4 and scalar variants, tails, broadcast plans, split reductions and
// buffer bounds (built with AddressSanitizer) are checked without a GPU.
// Float rounding of the emulation equals the host compiler's, so most
// results must match the CPU kernels exactly; reductions differ in summation
// order (double accumulation) and SiLU in its exp (the CPU uses a polynomial),
// which get a tolerance.
#include <cuda_runtime.h>  // the emulation's (tests/cuda_emu/include)

#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <tuple>
#include <vector>

#include "kernels/adam_update.h"
#include "kernels/binary.h"
#include "kernels/concat.h"
#include "kernels/cross_entropy.h"
#include "kernels/ddim_step.h"
#include "kernels/ddpm_step.h"
#include "kernels/ema_update.h"
#include "kernels/global_avg_pool2d.h"
#include "kernels/max_pool2d.h"
#include "kernels/mse_loss.h"
#include "kernels/q_sample.h"
#include "kernels/silu.h"
#include "kernels/softmax.h"
#include "kernels/sum.h"
#include "kernels/unary.h"
#include "kernels/upsample_bilinear2d.h"
#include "tensor/cuda_backend.h"
#include "tensor/philox.h"

using namespace ddpm;
using namespace ddpm::kernels;
namespace kc = ddpm::kernels::cuda;  // the launchers under test
namespace dc = ddpm::cuda;           // the device fills

namespace {

int g_checks = 0, g_failures = 0;

// A buffer of n floats whose data pointer is 16-byte aligned, or 4 bytes past
// that (misaligned = true: the scalar variants). Exactly sized, so ASan sees
// any access past element n - 1.
struct Buf {
  std::vector<float> store;
  float* p = nullptr;
  int64_t n = 0;
  Buf(int64_t count, bool misaligned) : n(count) {
    store.assign(static_cast<size_t>(count + (misaligned ? 1 : 0)), 0.0f);
    p = store.data() + (misaligned ? 1 : 0);
    if (count == 0) p = nullptr;
  }
  std::vector<float> vec() const { return std::vector<float>(p, p + n); }
};

std::vector<float> random_vec(int64_t n, uint64_t stream, double lo = -1, double hi = 1) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    v[static_cast<size_t>(i)] =
        static_cast<float>(lo + (hi - lo) * philox::uniform(77, stream, static_cast<uint64_t>(i)));
  return v;
}

Buf make(const std::vector<float>& v, bool misaligned) {
  Buf b(static_cast<int64_t>(v.size()), misaligned);
  for (size_t i = 0; i < v.size(); ++i) b.p[i] = v[i];
  return b;
}

// |a - b| <= tol * max(1, |b|) element by element (tol 0: bitwise, NaN == NaN).
void expect(const std::string& what, const std::vector<float>& got, const std::vector<float>& want,
            double tol = 0) {
  ++g_checks;
  if (got.size() != want.size()) {
    ++g_failures;
    std::printf("FAIL %s: %zu values, expected %zu\n", what.c_str(), got.size(), want.size());
    return;
  }
  for (size_t i = 0; i < got.size(); ++i) {
    const double a = got[i], b = want[i];
    const bool same = (std::isnan(a) && std::isnan(b)) || a == b ||
                      (tol > 0 && std::fabs(a - b) <= tol * std::max(1.0, std::fabs(b)));
    if (!same) {
      ++g_failures;
      std::printf("FAIL %s: element %zu is %.9g, expected %.9g\n", what.c_str(), i, a, b);
      return;
    }
  }
}

std::string str(const Shape& s) { return shape_str(s); }

// ---- binary, binary_inplace, sum_to ----
void check_binary() {
  const std::vector<std::pair<Shape, Shape>> pairs = {{{3, 5, 7}, {3, 5, 7}},
                                                      {{3, 5, 7}, {}},
                                                      {{}, {3, 5, 7}},
                                                      {{2, 3, 4, 4}, {2, 3, 1, 1}},
                                                      {{2, 3, 5, 7}, {2, 3, 1, 1}},
                                                      {{4, 6}, {6}},
                                                      {{4, 6}, {4, 1}},
                                                      {{2, 3, 4}, {2, 1, 4}},
                                                      {{3, 1, 5}, {1, 4, 5}},
                                                      {{16, 8}, {16, 8}},
                                                      {{1001}, {1001}},
                                                      {{1, 1}, {1}},
                                                      {{2, 1, 3, 1, 5}, {1, 4, 1, 6, 1}},
                                                      {{2, 8, 4}, {2, 8, 1}},
                                                      {{3}, {2, 1}},
                                                      {{2, 3, 8}, {3, 8}}};
  for (const auto& [sa, sb] : pairs)
    for (bool mis : {false, true})
      for (BinaryOp op : {BinaryOp::add, BinaryOp::sub, BinaryOp::mul, BinaryOp::div}) {
        const Shape so = broadcast_shapes(sa, sb, "test");
        const BroadcastPlan plan = make_broadcast_plan(so, sa, sb);
        const auto va = random_vec(shape_numel(sa), 1), vb = random_vec(shape_numel(sb), 2, 0.5, 2);
        Buf a = make(va, mis), b = make(vb, mis), out(shape_numel(so), mis);
        std::vector<float> want(static_cast<size_t>(shape_numel(so)));
        cpu::binary_fwd<float>(op, va.data(), vb.data(), want.data(), plan);
        kc::binary_fwd(op, a.p, b.p, out.p, plan);
        const std::string name = std::string("binary ") + binary_op_name(op) + " " + str(sa) + str(sb) +
                                 (mis ? " misaligned" : "");
        expect(name, out.vec(), want);
        if (so == sa) {  // in place
          Buf ai = make(va, mis);
          const BroadcastPlan ip = make_broadcast_plan(sa, sa, sb);
          kc::binary_fwd(op, ai.p, b.p, ai.p, ip);
          expect(name + " in place", ai.vec(), want);
        }
      }
}

void check_sum_to() {
  const std::vector<std::pair<Shape, Shape>> cases = {{{2, 3, 4, 5}, {1, 3, 1, 1}},
                                                      {{2, 3, 4, 5}, {3, 1, 1}},
                                                      {{2, 3, 4, 5}, {2, 3, 1, 1}},
                                                      {{2, 3, 4, 5}, {}},
                                                      {{2, 3, 4, 5}, {1, 1, 4, 5}},
                                                      {{300, 7}, {7}},
                                                      {{5000}, {}},
                                                      {{2, 9000}, {2, 1}},
                                                      {{3, 41, 53}, {1}},
                                                      {{2, 3, 20, 20}, {2, 3, 1, 1}},
                                                      {{2, 5, 3}, {2, 1, 3}},
                                                      {{1, 1}, {}},
                                                      {{4, 300}, {4, 1}},
                                                      {{7, 3, 2}, {7, 1, 2}}};
  for (const auto& [sx, so] : cases)
    for (bool mis : {false, true}) {
      const BroadcastPlan plan = make_broadcast_plan(sx, sx, so);
      const auto vx = random_vec(shape_numel(sx), 3);
      Buf x = make(vx, mis), out(shape_numel(so), mis);
      std::vector<float> want(static_cast<size_t>(shape_numel(so)));
      cpu::sum_to<float>(vx.data(), want.data(), shape_numel(so), plan);
      kc::sum_to(x.p, out.p, shape_numel(so), plan);
      // CPU: float accumulation in order; emulated GPU: double, another order.
      expect("sum_to " + str(sx) + "->" + str(so), out.vec(), want, 2e-4);
    }
}

// ---- unary, silu ----
void check_unary() {
  for (UnaryOp op : {UnaryOp::neg, UnaryOp::exp, UnaryOp::log, UnaryOp::sqrt, UnaryOp::sin, UnaryOp::cos})
    for (int64_t n : {1, 3, 4, 7, 1001})
      for (bool mis : {false, true}) {
        const bool positive = op == UnaryOp::log || op == UnaryOp::sqrt;
        const auto vx = random_vec(n, 4, positive ? 0.1 : -3, 3), vg = random_vec(n, 5);
        std::vector<float> wy(static_cast<size_t>(n)), wg(static_cast<size_t>(n));
        cpu::unary_fwd<float>(op, vx.data(), wy.data(), n);
        cpu::unary_bwd<float>(op, vx.data(), wy.data(), vg.data(), wg.data(), n);
        Buf x = make(vx, mis), y(n, mis), g = make(vg, mis), gx(n, mis);
        kc::unary_fwd(op, x.p, y.p, n);
        kc::unary_bwd(op, x.p, y.p, g.p, gx.p, n);
        const std::string name =
            std::string(unary_op_name(op)) + " n=" + std::to_string(n) + (mis ? " mis" : "");
        expect(name + " fwd", y.vec(), wy);
        expect(name + " bwd", gx.vec(), wg);
      }
}

void check_silu() {
  for (int64_t n : {1, 5, 8, 1003})
    for (bool mis : {false, true}) {
      auto vx = random_vec(n, 6, -12, 12);
      if (n > 4) vx[2] = -100.0f;
      const auto vg = random_vec(n, 7);
      std::vector<float> wy(static_cast<size_t>(n)), wg(static_cast<size_t>(n));
      cpu::silu_fwd<float>(vx.data(), wy.data(), n);
      cpu::silu_bwd<float>(vx.data(), vg.data(), wg.data(), n);
      Buf x = make(vx, mis), y(n, mis), g = make(vg, mis), gx(n, mis);
      kc::silu_fwd(x.p, y.p, n);
      kc::silu_bwd(x.p, g.p, gx.p, n);
      // The CPU float kernel uses a polynomial exp (about 1 ulp).
      expect("silu fwd n=" + std::to_string(n), y.vec(), wy, 1e-6);
      expect("silu bwd n=" + std::to_string(n), gx.vec(), wg, 1e-6);
    }
}

// ---- sum, mean, mse_loss ----
void check_reductions() {
  for (int64_t n : {1, 3, 5, 4096, 100003, 300000})
    for (bool mis : {false, true}) {
      const auto vx = random_vec(n, 8), vt = random_vec(n, 9);
      Buf x = make(vx, mis), t = make(vt, mis), out(1, false);
      const double total = cpu::sum<float>(vx.data(), n);
      kc::sum_fwd(x.p, out.p, n, 1.0);
      expect("sum n=" + std::to_string(n), out.vec(), {static_cast<float>(total)}, 1e-6);
      kc::sum_fwd(x.p, out.p, n, 1.0 / static_cast<double>(n));
      expect("mean n=" + std::to_string(n), out.vec(),
             {static_cast<float>(total * (1.0 / static_cast<double>(n)))}, 1e-6);
      const MseLossDims d{n};
      kc::mse_loss_fwd(x.p, t.p, out.p, d);
      expect("mse_loss n=" + std::to_string(n), out.vec(),
             {static_cast<float>(cpu::mse_loss_fwd<float>(vx.data(), vt.data(), d))}, 1e-6);
      const float g0 = 0.75f;
      Buf g = make({g0}, false), gp(n, mis), gt(n, mis), back(n, mis);
      std::vector<float> wp(static_cast<size_t>(n)), wt(static_cast<size_t>(n)), wb(static_cast<size_t>(n));
      cpu::mse_loss_bwd<float>(vx.data(), vt.data(), &g0, wp.data(), wt.data(), d);
      kc::mse_loss_bwd(x.p, t.p, g.p, gp.p, gt.p, d);
      expect("mse_loss bwd pred n=" + std::to_string(n), gp.vec(), wp);
      expect("mse_loss bwd target n=" + std::to_string(n), gt.vec(), wt);
      Buf only_t(n, mis);
      kc::mse_loss_bwd(x.p, t.p, g.p, nullptr, only_t.p, d);
      expect("mse_loss bwd target only", only_t.vec(), wt);
      cpu::fill_scaled<float>(&g0, wb.data(), n, 0.25);
      kc::sum_bwd(g.p, back.p, n, 0.25);
      expect("sum bwd n=" + std::to_string(n), back.vec(), wb);
    }
}

// ---- concat ----
void check_concat() {
  struct Case {
    std::vector<Shape> shapes;
    int64_t dim;
  };
  std::vector<Case> cases = {{{{2, 3, 4, 5}, {2, 1, 4, 5}}, 1},
                             {{{2, 4, 4, 4}, {2, 8, 4, 4}}, 1},
                             {{{2, 3, 4, 5}, {2, 3, 4, 2}, {2, 3, 4, 1}}, 3},
                             {{{3, 5}, {1, 5}}, 0},
                             {{{2, 3, 2}, {2, 3, 0}, {2, 3, 3}}, 2},
                             {{{2, 2, 2},
                               {2, 2, 2},
                               {2, 2, 2},
                               {2, 2, 2},
                               {2, 2, 2},
                               {2, 2, 2},
                               {2, 2, 2},
                               {2, 2, 2},
                               {2, 2, 2},
                               {2, 1, 2}},
                              1}};
  for (const Case& c : cases)
    for (bool mis : {false, true}) {
      const int64_t d = c.dim;
      ConcatDims cd;
      std::vector<int64_t> sizes;
      for (int64_t i = 0; i < d; ++i) cd.outer *= c.shapes[0][static_cast<size_t>(i)];
      for (size_t i = static_cast<size_t>(d) + 1; i < c.shapes[0].size(); ++i) cd.inner *= c.shapes[0][i];
      for (const Shape& s : c.shapes) {
        sizes.push_back(s[static_cast<size_t>(d)]);
        cd.total += s[static_cast<size_t>(d)];
      }
      std::vector<std::vector<float>> vs;
      std::vector<Buf> bufs;
      std::vector<const float*> host_ptrs, dev_ptrs;
      for (size_t i = 0; i < c.shapes.size(); ++i) vs.push_back(random_vec(shape_numel(c.shapes[i]), 10 + i));
      for (size_t i = 0; i < c.shapes.size(); ++i) bufs.push_back(make(vs[i], mis));
      for (size_t i = 0; i < c.shapes.size(); ++i) {
        host_ptrs.push_back(vs[i].data());
        dev_ptrs.push_back(bufs[i].p);
      }
      const int64_t total = cd.outer * cd.total * cd.inner;
      std::vector<float> want(static_cast<size_t>(total));
      Buf out(total, mis);
      const auto count = static_cast<int64_t>(c.shapes.size());
      cpu::concat_fwd<float>(host_ptrs.data(), sizes.data(), count, want.data(), cd);
      kc::concat_fwd(dev_ptrs.data(), sizes.data(), count, out.p, cd);
      expect("concat fwd dim " + std::to_string(d) + " " + str(c.shapes[0]), out.vec(), want);
      // backward: every other piece needed
      const auto vg = random_vec(total, 30);
      Buf g = make(vg, mis);
      std::vector<std::vector<float>> wg;
      std::vector<Buf> gb;
      std::vector<float*> wptr, gptr;
      for (size_t i = 0; i < c.shapes.size(); ++i) {
        wg.emplace_back(static_cast<size_t>(shape_numel(c.shapes[i])), -7.0f);
        gb.emplace_back(shape_numel(c.shapes[i]), mis);
      }
      for (size_t i = 0; i < c.shapes.size(); ++i) {
        for (int64_t k = 0; k < gb[i].n; ++k) gb[i].p[k] = -7.0f;
        const bool need = i % 2 == 0;
        wptr.push_back(need ? wg[i].data() : nullptr);
        gptr.push_back(need ? gb[i].p : nullptr);
      }
      cpu::concat_bwd<float>(vg.data(), wptr.data(), sizes.data(), count, cd);
      kc::concat_bwd(g.p, gptr.data(), sizes.data(), count, cd);
      for (size_t i = 0; i < c.shapes.size(); ++i)
        expect("concat bwd piece " + std::to_string(i), gb[i].vec(), wg[i]);
    }
}

// ---- max_pool2d, upsample_bilinear2d ----
void check_pool() {
  for (const auto& [shape, k] : std::vector<std::pair<Shape, int64_t>>{
           {{2, 3, 7, 9}, 2}, {{1, 2, 8, 8}, 2}, {{2, 1, 7, 8}, 3}, {{1, 1, 2, 2}, 2}, {{3, 2, 5, 4}, 1}}) {
    MaxPool2dDims d;
    d.planes = shape[0] * shape[1];
    d.h = shape[2];
    d.w = shape[3];
    d.k = k;
    d.oh = d.h / k;
    d.ow = d.w / k;
    // small integers: many ties, so the first-maximum rule is exercised; one NaN
    auto vx = random_vec(shape_numel(shape), 40, 0, 3);
    for (float& v : vx) v = std::floor(v);
    vx[vx.size() / 2] = NAN;
    const int64_t no = d.planes * d.oh * d.ow;
    const auto vg = random_vec(no, 41);
    std::vector<float> wy(static_cast<size_t>(no)), wg(vx.size());
    cpu::max_pool2d_fwd<float>(vx.data(), wy.data(), d);
    cpu::max_pool2d_bwd<float>(vx.data(), vg.data(), wg.data(), d);
    Buf x = make(vx, false), y(no, false), g = make(vg, false), gx(shape_numel(shape), false);
    kc::max_pool2d_fwd(x.p, y.p, d);
    kc::max_pool2d_bwd(x.p, g.p, gx.p, d);
    expect("max_pool2d fwd " + str(shape) + " k" + std::to_string(k), y.vec(), wy);
    expect("max_pool2d bwd " + str(shape) + " k" + std::to_string(k), gx.vec(), wg);
  }
}

// ---- cross_entropy, softmax, global_avg_pool2d (the classifier ops) ----
void check_classifier() {
  // K = 1, K = 10, odd K, K > the 128 threads per row; logits ~ 1e4 last.
  for (const auto& [n, k, scale] : std::vector<std::tuple<int64_t, int64_t, double>>{
           {3, 1, 1.0}, {4, 10, 3.0}, {5, 7, 1.0}, {2, 300, 2.0}, {3, 10, 1e4}}) {
    const std::string what = std::to_string(n) + "x" + std::to_string(k);
    const auto vz = random_vec(n * k, 50, -scale, scale);
    std::vector<float> vy(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) vy[static_cast<size_t>(i)] = static_cast<float>((7 * i + 3) % k);
    const CrossEntropyDims d{n, k};
    const float g0 = 0.75f;
    Buf z = make(vz, false), y = make(vy, false), g = make({g0}, false), out(1, false), gz(n * k, false);
    kc::cross_entropy_fwd(z.p, y.p, out.p, d);
    expect("cross_entropy fwd " + what, out.vec(),
           {static_cast<float>(cpu::cross_entropy_fwd<float>(vz.data(), vy.data(), d))}, 1e-6);
    std::vector<float> wg(static_cast<size_t>(n * k));
    cpu::cross_entropy_bwd<float>(vz.data(), vy.data(), &g0, wg.data(), d);
    kc::cross_entropy_bwd(z.p, y.p, g.p, gz.p, d);
    expect("cross_entropy bwd " + what, gz.vec(), wg, 1e-6);
    for (bool log : {false, true}) {
      const SoftmaxDims sd{n, k, log};
      Buf p(n * k, false);
      std::vector<float> wp(static_cast<size_t>(n * k));
      cpu::softmax_fwd<float>(vz.data(), wp.data(), sd);
      kc::softmax_fwd(z.p, p.p, sd);
      expect(std::string(log ? "log_softmax " : "softmax ") + what, p.vec(), wp, 1e-6);
    }
  }
  for (const Shape& shape : std::vector<Shape>{{2, 3, 5, 7}, {1, 1, 1, 1}, {2, 2, 17, 19}, {3, 4, 4, 4}}) {
    const GlobalAvgPool2dDims d{shape[0] * shape[1], shape[2] * shape[3]};
    const auto vx = random_vec(shape_numel(shape), 51);
    const auto vg = random_vec(d.planes, 52);
    std::vector<float> wy(static_cast<size_t>(d.planes)), wg(vx.size());
    cpu::global_avg_pool2d_fwd<float>(vx.data(), wy.data(), d);
    cpu::global_avg_pool2d_bwd<float>(vg.data(), wg.data(), d);
    Buf x = make(vx, false), yb(d.planes, false), g = make(vg, false), gx(shape_numel(shape), false);
    kc::global_avg_pool2d_fwd(x.p, yb.p, d);
    kc::global_avg_pool2d_bwd(g.p, gx.p, d);
    expect("global_avg_pool2d fwd " + str(shape), yb.vec(), wy, 1e-6);
    expect("global_avg_pool2d bwd " + str(shape), gx.vec(), wg);
  }
}

void check_upsample() {
  for (const auto& [shape, s] : std::vector<std::pair<Shape, int64_t>>{{{2, 3, 5, 7}, 2},
                                                                       {{1, 2, 4, 4}, 2},
                                                                       {{1, 1, 1, 4}, 2},
                                                                       {{1, 1, 3, 1}, 3},
                                                                       {{1, 2, 16, 16}, 2},
                                                                       {{1, 1, 5, 6}, 4},
                                                                       {{2, 2, 3, 3}, 1},
                                                                       {{1, 1, 1, 1}, 1},
                                                                       {{1, 1, 33, 7}, 3}}) {
    UpsampleBilinear2dDims d;
    d.planes = shape[0] * shape[1];
    d.h = shape[2];
    d.w = shape[3];
    d.oh = d.h * s;
    d.ow = d.w * s;
    const int64_t no = d.planes * d.oh * d.ow;
    const auto vx = random_vec(shape_numel(shape), 50), vg = random_vec(no, 51);
    std::vector<float> wy(static_cast<size_t>(no)), wg(vx.size());
    cpu::upsample_bilinear2d_fwd<float>(vx.data(), wy.data(), d);
    cpu::upsample_bilinear2d_bwd<float>(vg.data(), wg.data(), d);
    Buf x = make(vx, false), y(no, false), g = make(vg, false), gx(shape_numel(shape), false);
    kc::upsample_bilinear2d_fwd(x.p, y.p, d);
    kc::upsample_bilinear2d_bwd(g.p, gx.p, d);
    expect("upsample fwd " + str(shape) + " x" + std::to_string(s), y.vec(), wy);
    expect("upsample bwd " + str(shape) + " x" + std::to_string(s), gx.vec(), wg);
  }
}

// ---- q_sample, ddpm_step, ddim_step, adam, ema ----
void check_diffusion() {
  for (int64_t per : {35, 32, 1})
    for (bool v : {false, true})
      for (bool mis : {false, true}) {
        const int64_t batch = 3, n = batch * per;
        const auto vx = random_vec(n, 60), va = random_vec(batch, 61, 0.1, 1),
                   vb = random_vec(batch, 62, 0.1, 1);
        QSampleDims d{batch, per, 11, 2, 12345, v};
        std::vector<float> wx(static_cast<size_t>(n)), wn(wx.size()), wt(wx.size());
        cpu::q_sample<float>(vx.data(), va.data(), vb.data(), wx.data(), wn.data(), v ? wt.data() : wn.data(),
                             d);
        Buf x = make(vx, mis), a = make(va, false), b = make(vb, false), xt(n, mis), noise(n, mis),
            tg(n, mis);
        kc::q_sample(x.p, a.p, b.p, xt.p, noise.p, v ? tg.p : noise.p, d);
        const std::string name =
            "q_sample per " + std::to_string(per) + (v ? " v" : " eps") + (mis ? " mis" : "");
        expect(name + " x_t", xt.vec(), wx);
        expect(name + " noise", noise.vec(), wn);
        if (v) expect(name + " target", tg.vec(), wt);
      }
  for (int64_t n : {1, 6, 64, 1001})
    for (bool clip : {false, true})
      for (bool v_pred : {false, true})
        for (double sigma : {0.0, 0.3}) {
          const auto vx = random_vec(n, 70, -3, 3), vm = random_vec(n, 71, -2, 2);
          DdpmStepParams p;
          p.sqrt_ab = 0.6;
          p.sqrt_one_minus_ab = 0.8;
          p.c_x0 = 0.3;
          p.c_xt = 0.9;
          p.sigma = sigma;
          p.clip_x0 = clip;
          p.v_pred = v_pred;
          p.seed = 5;
          p.stream = 4;
          p.offset = 1000;
          std::vector<float> want(static_cast<size_t>(n));
          cpu::ddpm_step<float>(vx.data(), vm.data(), want.data(), n, p);
          Buf x = make(vx, n % 2 == 1), m = make(vm, n % 2 == 1), out(n, n % 2 == 1);
          kc::ddpm_step(x.p, m.p, out.p, n, p);
          expect("ddpm_step n=" + std::to_string(n), out.vec(), want);
          DdimStepParams q;
          q.sqrt_ab = 0.6;
          q.sqrt_one_minus_ab = 0.8;
          q.sqrt_ab_prev = 0.7;
          q.c_eps = 0.5;
          q.sigma = sigma;
          q.clip_x0 = clip;
          q.v_pred = v_pred;
          q.seed = 6;
          q.stream = 4;
          q.offset = 77;
          cpu::ddim_step<float>(vx.data(), vm.data(), want.data(), n, q);
          kc::ddim_step(x.p, m.p, out.p, n, q);
          expect("ddim_step n=" + std::to_string(n), out.vec(), want);
        }
  for (int64_t n : {1, 7, 1003})
    for (int mode = 0; mode < 3; ++mode)
      for (bool mis : {false, true}) {
        AdamParams p;
        p.lr = 1e-2;
        p.weight_decay = mode == 0 ? 0.0 : 0.1;
        p.decoupled = mode == 2;
        p.step = 3;
        auto w = random_vec(n, 80), g = random_vec(n, 81), m = random_vec(n, 82), v = random_vec(n, 83, 0, 1);
        Buf dw = make(w, mis), dg = make(g, mis), dm = make(m, mis), dv = make(v, mis);
        cpu::adam_update<float>(w.data(), g.data(), m.data(), v.data(), n, p);
        kc::adam_update(dw.p, dg.p, dm.p, dv.p, n, p);
        expect("adam param n=" + std::to_string(n), dw.vec(), w);
        expect("adam exp_avg", dm.vec(), m);
        expect("adam exp_avg_sq", dv.vec(), v);
        auto e = random_vec(n, 84);
        Buf de = make(e, mis);
        cpu::ema_update<float>(e.data(), g.data(), n, 0.995);
        kc::ema_update(de.p, dg.p, n, 0.995);
        expect("ema n=" + std::to_string(n), de.vec(), e);
      }
}

// ---- device fill and Philox fills (tensor/cuda/fill.cu, rng.cu) ----
void check_fills() {
  for (int64_t n : {1, 5, 1000}) {
    Buf b(n, true);
    dc::fill(b.p, n, DType::f32, 2.5);
    expect("fill 2.5", b.vec(), std::vector<float>(static_cast<size_t>(n), 2.5f));
    dc::fill(b.p, n, DType::f32, 0.0);
    expect("fill 0", b.vec(), std::vector<float>(static_cast<size_t>(n), 0.0f));
    dc::fill(b.p, n, DType::f32, -0.0);
    ++g_checks;
    if (!std::signbit(b.p[0])) {
      ++g_failures;
      std::printf("FAIL fill -0.0 lost its sign\n");
    }
    std::vector<float> wn(static_cast<size_t>(n)), wu(wn.size());
    for (int64_t i = 0; i < n; ++i) {
      wn[static_cast<size_t>(i)] = static_cast<float>(philox::normal(3, 4, 9 + static_cast<uint64_t>(i)));
      wu[static_cast<size_t>(i)] =
          static_cast<float>(-2.0 + 5.0 * philox::uniform(3, 4, 9 + static_cast<uint64_t>(i)));
    }
    dc::fill_normal(b.p, n, DType::f32, 3, 4, 9);
    expect("fill_normal", b.vec(), wn);
    dc::fill_uniform(b.p, n, DType::f32, -2.0, 3.0, 3, 4, 9);
    expect("fill_uniform", b.vec(), wu);
    std::vector<double> d(static_cast<size_t>(n));
    dc::fill_normal(d.data(), n, DType::f64, 3, 4, 9);
    ++g_checks;
    if (d.back() != philox::normal(3, 4, 9 + static_cast<uint64_t>(n - 1))) {
      ++g_failures;
      std::printf("FAIL fill_normal f64\n");
    }
    dc::fill(d.data(), n, DType::f64, 1.25);
    ++g_checks;
    if (d.front() != 1.25 || d.back() != 1.25) {
      ++g_failures;
      std::printf("FAIL fill f64\n");
    }
  }
}

}  // namespace

// Arguments: group names to run (default: all).
int main(int argc, char** argv) {
  const std::vector<std::pair<const char*, std::function<void()>>> groups = {
      {"binary", check_binary},   {"sum_to", check_sum_to},         {"unary", check_unary},
      {"silu", check_silu},       {"reductions", check_reductions}, {"concat", check_concat},
      {"max_pool2d", check_pool}, {"upsample", check_upsample},     {"diffusion/optim", check_diffusion},
      {"fills", check_fills},     {"classifier", check_classifier}};
  for (const auto& [name, fn] : groups) {
    bool wanted = argc == 1;
    for (int i = 1; i < argc; ++i) wanted = wanted || std::string(argv[i]) == name;
    if (!wanted) continue;
    const int before = g_failures;
    fn();
    std::printf("%-16s %s\n", name, g_failures == before ? "ok" : "FAILED");
  }
  std::printf("cuda_emu: %d checks, %d failures, %lld kernel launches\n", g_checks, g_failures,
              emu::g_launches);
  return g_failures == 0 ? 0 : 1;
}
