// group_norm_silu (forward and backward): kernels/cuda/group_norm_silu.cu on
// the emulation against kernels/cpu/group_norm_silu.cpp
// (tests/cuda_emu/emu_check.h), at shapes that reach every path of the
// kernels' plans: the register kernels with 1, 2 and 4 units per thread,
// rows spread over fewer than 32 lanes (several rows per warp), over one
// warp and over several warps (row sums across warps), two units per row
// and thread, the loop kernels (groups too large for registers, and groups
// of more than 512 channels), float4 units (HW % 4 == 0, aligned) and their
// scalar twins (misaligned: the same bits, checked), scalar units (odd HW,
// HW = 1), N = 1, G = 1, G = C, N = 0 (affine gradients zeroed) and HW = 0
// (NaN statistics, as the CPU); with and without affine, gx not needed,
// affine gradients not needed.
//
// Tolerances, relative to the largest magnitude of the tensor: 1e-6 for
// mean and rstd (double sums in other orders, the same float rounding at
// the end: in practice equal); 1e-5 for y, gx, ggamma and gbeta: z is one
// fmaf here and a rounded product plus a sum in the CPU kernel (1 ulp of
// x * scale), s(z) uses expf against the CPU's polynomial exp (about 1
// ulp), gx = a gz + b x + c0 cancels its terms (gx's tolerance is relative
// to the a gz term as well, below), and the affine sums add float-rounded
// terms in another order.
// emu-kernels: kernels/cuda/group_norm_silu.cu kernels/cpu/group_norm_silu.cpp
#include "kernels/group_norm_silu.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "tests/cuda_emu/emu_check.h"

namespace ddpm::emu_check {

using namespace ddpm::kernels;
namespace kc = ddpm::kernels::cuda;  // the launchers under test

namespace {

constexpr double kTolStats = 1e-6;
constexpr double kTol = 1e-5;

// expect() with the tolerance relative to the larger of `floor` and want's
// largest finite magnitude: both sides divided by it (NaN stays NaN).
void expect_scaled(const std::string& what, const std::vector<float>& got, const std::vector<float>& want,
                   double tol, double floor = 0) {
  double scale = floor;
  for (float v : want)
    if (std::isfinite(v)) scale = std::max(scale, std::fabs(static_cast<double>(v)));
  if (scale == 0) scale = 1;
  std::vector<float> a(got.size()), b(want.size());
  for (size_t i = 0; i < got.size(); ++i) a[i] = static_cast<float>(got[i] / scale);
  for (size_t i = 0; i < want.size(); ++i) b[i] = static_cast<float>(want[i] / scale);
  expect(what, a, b, tol);
}

struct Spec {
  int64_t n, c, hw, groups;
  const char* path;  // what the shape exercises (for the messages)
};

// One shape: forward and backward, with and without affine, aligned and
// misaligned, gx or the affine gradients left out.
void check_shape(const Spec& s) {
  const GroupNormDims d{s.n, s.c, s.hw, s.groups};
  const int64_t numel = s.n * s.c * s.hw, stats = s.n * s.groups;
  const std::string shape = "[" + std::to_string(s.n) + ", " + std::to_string(s.c) + ", " +
                            std::to_string(s.hw) + "] G" + std::to_string(s.groups) + " (" + s.path + ")";
  const auto vx = random_vec(numel, 81, -2, 3);
  const auto vg = random_vec(numel, 82);
  const auto vgamma = random_vec(s.c, 83, -1.5, 1.5);
  const auto vbeta = random_vec(s.c, 84, -0.5, 0.5);
  const double eps = 1e-5;
  for (bool affine : {true, false}) {
    const float* cg = affine ? vgamma.data() : nullptr;
    const float* cb = affine ? vbeta.data() : nullptr;
    // CPU reference.
    std::vector<float> wy(static_cast<size_t>(numel)), wmean(static_cast<size_t>(stats)),
        wrstd(static_cast<size_t>(stats));
    cpu::group_norm_silu_fwd<float>(vx.data(), cg, cb, wy.data(), wmean.data(), wrstd.data(), d, eps);
    std::vector<float> wgx(static_cast<size_t>(numel)), wgg(static_cast<size_t>(s.c)),
        wgb(static_cast<size_t>(s.c));
    cpu::group_norm_silu_bwd<float>(vx.data(), wmean.data(), wrstd.data(), cg, cb, vg.data(), wgx.data(),
                                    affine ? wgg.data() : nullptr, affine ? wgb.data() : nullptr, d);
    // gx = a gz + b x + c0 can be much smaller than its terms (at M = 2 it
    // is zero but for eps: rounding noise on both sides), so its tolerance
    // is relative to the a gz term too: max |rstd gamma[c] g| (|gz| <= 1.1 |g|).
    double gx_scale = 0;
    for (int64_t i = 0; i < numel; ++i) {
      const int64_t nc = i / s.hw, ng = nc / s.c * s.groups + nc % s.c / (s.c / s.groups);
      const double gam = affine ? vgamma[static_cast<size_t>(nc % s.c)] : 1.0;
      gx_scale =
          std::max(gx_scale, std::fabs(wrstd[static_cast<size_t>(ng)] * gam * vg[static_cast<size_t>(i)]));
    }
    std::vector<float> first_y, first_gx, first_gg, first_gb;  // aligned results, for the misaligned run
    for (bool mis : {false, true}) {
      if (mis && !affine) continue;
      const std::string what = shape + (affine ? " affine" : " no affine") + (mis ? " misaligned" : "");
      Buf x = make(vx, mis), g = make(vg, mis), gamma = make(vgamma, mis), beta = make(vbeta, mis);
      const float* pg = affine ? gamma.p : nullptr;
      const float* pb = affine ? beta.p : nullptr;
      Buf y(numel, mis), mean(stats, mis), rstd(stats, mis);
      kc::group_norm_silu_fwd(x.p, pg, pb, y.p, mean.p, rstd.p, d, eps);
      expect_scaled("group_norm_silu y " + what, y.vec(), wy, kTol);
      expect_scaled("group_norm_silu mean " + what, mean.vec(), wmean, kTolStats);
      expect_scaled("group_norm_silu rstd " + what, rstd.vec(), wrstd, kTolStats);
      // The backward from the CPU's statistics, so it is checked on its own.
      Buf cmean = make(wmean, mis), crstd = make(wrstd, mis);
      Buf gx(numel, mis), gg(s.c, mis), gb(s.c, mis);
      for (int64_t i = 0; i < s.c; ++i) gg.p[i] = gb.p[i] = 7.0f;  // must be overwritten (N = 0: zeroed)
      kc::group_norm_silu_bwd(x.p, cmean.p, crstd.p, pg, pb, g.p, gx.p, affine ? gg.p : nullptr,
                              affine ? gb.p : nullptr, d);
      expect_scaled("group_norm_silu gx " + what, gx.vec(), wgx, kTol, gx_scale);
      if (affine) {
        expect_scaled("group_norm_silu ggamma " + what, gg.vec(), wgg, kTol);
        expect_scaled("group_norm_silu gbeta " + what, gb.vec(), wgb, kTol);
      }
      if (!mis) {
        first_y = y.vec();
        first_gx = gx.vec();
        first_gg = gg.vec();
        first_gb = gb.vec();
      } else {
        // float4 and scalar units: the same threads, the same sums, the same bits.
        expect("group_norm_silu y aligned == misaligned " + what, y.vec(), first_y);
        expect("group_norm_silu gx aligned == misaligned " + what, gx.vec(), first_gx);
        expect("group_norm_silu ggamma aligned == misaligned " + what, gg.vec(), first_gg);
        expect("group_norm_silu gbeta aligned == misaligned " + what, gb.vec(), first_gb);
      }
      if (!affine || mis) continue;
      // gx not needed: the affine gradients alone.
      Buf gg2(s.c, false), gb2(s.c, false);
      kc::group_norm_silu_bwd(x.p, cmean.p, crstd.p, pg, pb, g.p, nullptr, gg2.p, gb2.p, d);
      expect("group_norm_silu ggamma without gx " + what, gg2.vec(), gg.vec());
      expect("group_norm_silu gbeta without gx " + what, gb2.vec(), gb.vec());
      // The affine gradients not needed: gx alone.
      Buf gx2(numel, false);
      kc::group_norm_silu_bwd(x.p, cmean.p, crstd.p, pg, pb, g.p, gx2.p, nullptr, nullptr, d);
      expect("group_norm_silu gx without affine grads " + what, gx2.vec(), gx.vec());
    }
  }
}

}  // namespace

void emu_group_norm_silu() {
  // The plan each shape gets, forward and backward alike unless stated
  // (kernels/cuda/group_norm_silu.cu, make_plan and choose_plan): T
  // threads, lanes per row, P rounds of rows, J units per row and thread, K
  // the register kernel's units per thread; or the loop kernels.
  for (const Spec& s :
       std::vector<Spec>{{2, 8, 16, 2, "float4, 4 lanes per row, T 32, K 1"},
                         {3, 6, 1, 3, "HW 1, scalar, T 32, K 1"},
                         {2, 4, 7, 2, "odd HW, scalar, 8 lanes per row, K 1"},
                         {2, 6, 9, 1, "G 1, odd HW, T 128, K 1"},
                         {2, 5, 12, 5, "G = C, 3 float4 units per row, K 1"},
                         {1, 4, 64, 2, "N 1, a row per 16 lanes, K 1"},
                         {2, 32, 36, 4, "9 float4 units per row over 16 lanes, T 128, K 1"},
                         {1, 8, 128, 1, "a row per warp, T 256, K 1"},
                         {1, 8, 256, 1, "a row per 2 warps, T 256, K 2"},
                         {1, 8, 1024, 1, "a row per 8 warps, T 512, P 4, K 4"},
                         {2, 8, 1024, 2, "a row per 8 warps, T 256, P 4, K 4"},
                         {1, 2, 1200, 1, "two units per row and thread (J 2), K 4"},
                         {1, 16, 1024, 1, "forward T 1024 K 4; backward loop kernel (float4)"},
                         {2, 4, 4099, 1, "loop kernels, scalar, J 8"},
                         {1, 2, 8200, 1, "loop kernels, float4"},
                         {1, 600, 4, 1, "600 channels (> 512): loop kernels, a row per lane, T 1024"},
                         {0, 4, 8, 2, "N 0: nothing to normalise, affine gradients zero"},
                         {2, 4, 0, 2, "HW 0: NaN statistics, as the CPU"}})
    check_shape(s);
}

}  // namespace ddpm::emu_check
