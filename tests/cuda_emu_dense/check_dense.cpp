// Runs the launchers and kernels of kernels/cuda/conv2d.cu (FP32 implicit GEMM
// in both main loops and the wide tile, automatic, and direct paths; mma.sync cannot be emulated, the TF32
// core is covered by tests/test_conv2d_igemm_emulation.cpp) and kernels/cuda/group_norm.cu on the CPU through
// the tests/cuda_emu stand-in (each block's threads are real threads, __syncthreads a real barrier), and
// compares every output with the float64 CPU kernels. Under ThreadSanitizer a missing or misplaced barrier
// around shared memory shows up as a data race (what compute-sanitizer's
// racecheck finds on a GPU); under ASan/UBSan, out-of-bounds indexing.
// Built and run by scripts/cuda-emu-check-dense.sh.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/conv2d.h"
#include "kernels/group_norm.h"
#include "kernels/math_mode.h"

// The emulated memory and stream API ("device" memory from malloc, so ASan
// sees every overrun) is tests/cuda_emu/emu_runtime.cpp, linked in.

// cuBLAS is not in the emulation: conv2d_winograd.cu's 16 GEMMs run through
// this plain-loop stand-in of kernels/cuda/cublas_gemm.cu's entry point
// (k ascending, FMAs in float, as one cuBLAS summation order may do); under
// TF32 math it truncates the operands to TF32 first (cuBLAS may truncate
// rather than round: the worse case, a coherent bias up to 2^-10).
namespace ddpm::kernels::cuda {
float truncate_tf32(float v) {
  uint32_t u;
  std::memcpy(&u, &v, sizeof u);
  u &= 0xffffe000u;
  std::memcpy(&v, &u, sizeof v);
  return v;
}
void gemm_strided_batched_row_major(bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N,
                                    int64_t K, const float* A, int64_t stride_a, const float* B,
                                    int64_t stride_b, float* C, int64_t stride_c, const char*,
                                    const std::string&) {
  for (int64_t i = 0; i < batch; ++i)
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) {
        float acc = 0.f;
        for (int64_t k = 0; k < K; ++k) {
          float a = trans_a ? A[i * stride_a + k * M + m] : A[i * stride_a + m * K + k];
          float b = trans_b ? B[i * stride_b + n * K + k] : B[i * stride_b + k * N + n];
          if (math_mode() == MathMode::tf32) {
            a = truncate_tf32(a);
            b = truncate_tf32(b);
          }
          acc = std::fma(a, b, acc);
        }
        C[i * stride_c + m * N + n] = acc;
      }
}
}  // namespace ddpm::kernels::cuda

namespace {

using namespace ddpm::kernels;

int g_failures = 0;

std::vector<float> uniform(size_t n, unsigned seed, float lo = -1, float hi = 1) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& f : v) f = dist(gen);
  return v;
}

std::vector<double> widen(const std::vector<float>& v) { return {v.begin(), v.end()}; }

// Normalised error against the float64 reference; an unwritten output (NaN)
// fails. Tolerances: FP32 sums of at most ~600 terms in another order,
// ~sqrt(K/2) 2^-24 ~ 1e-6: 1e-5; GroupNorm's double statistics: 1e-6.
void compare(const char* what, const std::string& label, const std::vector<float>& got,
             const std::vector<double>& want, double tol) {
  double num = 0, den = 0;
  bool nan = false;
  for (size_t i = 0; i < got.size(); ++i) {
    nan = nan || std::isnan(got[i]);
    const double d = static_cast<double>(got[i]) - want[i];
    num += d * d;
    den += want[i] * want[i];
  }
  const double err = nan ? INFINITY : std::sqrt(num / std::max(den, 1e-300));
  const bool ok = err <= tol;
  if (!ok) ++g_failures;
  std::printf("%s %-10s %-44s err %.3g\n", ok ? "ok  " : "FAIL", what, label.c_str(), err);
}

// The outputs of one conv's three passes, to compare variants bit for bit.
struct ConvOut {
  std::vector<float> y, gx, gw;
};

// same_as: another variant's outputs of the same case, which these must equal
// bit for bit (the main loops feed the core the same values in the same order).
ConvOut check_conv(int n, int cin, int cout, int h, int w, int k, int s, int p, bool bias,
                   Conv2dCudaAlgo algo, const ConvOut* same_as = nullptr) {
  Conv2dDims d{};
  d.N = n;
  d.Cin = cin;
  d.H = h;
  d.W = w;
  d.Cout = cout;
  d.K = k;
  d.stride = s;
  d.pad = p;
  d.Hout = (h + 2 * p - k) / s + 1;
  d.Wout = (w + 2 * p - k) / s + 1;
  const size_t nx = static_cast<size_t>(n * cin * h * w), nw = static_cast<size_t>(cout * cin * k * k);
  const size_t ny = static_cast<size_t>(n * cout * d.Hout * d.Wout);
  const std::vector<float> x = uniform(nx, 1), wt = uniform(nw, 2), b = uniform(static_cast<size_t>(cout), 3),
                           gy = uniform(ny, 4);
  const std::string label = "x [" + std::to_string(n) + "," + std::to_string(cin) + "," + std::to_string(h) +
                            "," + std::to_string(w) + "] -> " + std::to_string(cout) + " k" +
                            std::to_string(k) + " s" + std::to_string(s) + " p" + std::to_string(p) +
                            (bias ? " bias+add" : "") + " " + conv2d_cuda_algo_name(algo);
  std::vector<float> y(ny, NAN), gx(nx, NAN), gw(nw, NAN), gb(static_cast<size_t>(cout), NAN);
  // With the bias, the fused per-plane add too (add[n, co] on every pixel).
  const std::vector<float> add = uniform(static_cast<size_t>(n * cout), 5);
  cuda::conv2d_fwd(x.data(), wt.data(), bias ? b.data() : nullptr, y.data(), d, algo,
                   bias ? add.data() : nullptr);
  cuda::conv2d_bwd_data(gy.data(), wt.data(), gx.data(), d, algo);
  cuda::conv2d_bwd_weight(x.data(), gy.data(), gw.data(), bias ? gb.data() : nullptr, d, algo);
  const std::vector<double> xd = widen(x), wd = widen(wt), bd = widen(b), gyd = widen(gy);
  std::vector<double> ry(ny), rgx(nx), rgw(nw), rgb(static_cast<size_t>(cout));
  cpu::conv2d_fwd<double>(xd.data(), wd.data(), bias ? bd.data() : nullptr, ry.data(), d);
  if (bias)
    for (size_t i = 0; i < ny; ++i)
      ry[i] += static_cast<double>(add[i / static_cast<size_t>(d.Hout * d.Wout)]);
  cpu::conv2d_bwd_data<double>(gyd.data(), wd.data(), rgx.data(), d);
  cpu::conv2d_bwd_weight<double>(xd.data(), gyd.data(), rgw.data(), rgb.data(), d);
  // winograd_tf32: its GEMMs take TF32-truncated transforms (10 explicit
  // bits; the transforms' sums lift the error above the direct TF32 path's
  // ~4e-4): 5e-3, the tolerance of the GPU parity case.
  const double tol = algo == Conv2dCudaAlgo::winograd_tf32 ? 5e-3 : 1e-5;
  compare("conv y", label, y, ry, tol);
  compare("conv gx", label, gx, rgx, tol);
  compare("conv gw", label, gw, rgw, tol);
  if (bias) compare("conv gb", label, gb, rgb, 1e-6);
  if (same_as) {
    const auto bits = [](const std::vector<float>& a, const std::vector<float>& b) {
      return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
    };
    const bool ok = bits(y, same_as->y) && bits(gx, same_as->gx) && bits(gw, same_as->gw);
    if (!ok) ++g_failures;
    std::printf("%s %-10s %-44s\n", ok ? "ok  " : "FAIL", "same bits",
                (label + " as register-staged").c_str());
  }
  return ConvOut{y, gx, gw};
}

void check_group_norm(int n, int c, int hw, int groups, bool affine, float lo, float hi) {
  GroupNormDims d;
  d.n = n;
  d.c = c;
  d.hw = hw;
  d.groups = groups;
  const size_t nx = static_cast<size_t>(n * c * hw), ng = static_cast<size_t>(n * groups);
  const std::vector<float> x = uniform(nx, 5, lo, hi), gamma = uniform(static_cast<size_t>(c), 6, 0.5f, 1.5f),
                           beta = uniform(static_cast<size_t>(c), 7), g = uniform(nx, 8);
  std::vector<float> y(nx, NAN), mean(ng, NAN), rstd(ng, NAN), gx(nx, NAN), gg(static_cast<size_t>(c), NAN),
      gb(static_cast<size_t>(c), NAN);
  const float* ga = affine ? gamma.data() : nullptr;
  cuda::group_norm_fwd(x.data(), ga, affine ? beta.data() : nullptr, y.data(), mean.data(), rstd.data(), d,
                       1e-5);
  cuda::group_norm_bwd(x.data(), mean.data(), rstd.data(), ga, g.data(), gx.data(),
                       affine ? gg.data() : nullptr, affine ? gb.data() : nullptr, d);
  const std::vector<double> xd = widen(x), gad = widen(gamma), bed = widen(beta), gd = widen(g);
  std::vector<double> ry(nx), rm(ng), rr(ng), rgx(nx), rgg(static_cast<size_t>(c)),
      rgb(static_cast<size_t>(c));
  cpu::group_norm_fwd<double>(xd.data(), affine ? gad.data() : nullptr, affine ? bed.data() : nullptr,
                              ry.data(), rm.data(), rr.data(), d, 1e-5);
  // The backward from the float statistics the CUDA forward saved, as autograd runs it.
  const std::vector<double> md = widen(mean), rd = widen(rstd);
  cpu::group_norm_bwd<double>(xd.data(), md.data(), rd.data(), affine ? gad.data() : nullptr, gd.data(),
                              rgx.data(), affine ? rgg.data() : nullptr, affine ? rgb.data() : nullptr, d);
  const std::string label = "x [" + std::to_string(n) + "," + std::to_string(c) + "," + std::to_string(hw) +
                            "] G" + std::to_string(groups) + (affine ? " affine" : "") +
                            (lo > 0 ? " offset" : "");
  compare("gn y", label, y, ry, 1e-6);
  compare("gn mean", label, mean, rm, 1e-6);
  compare("gn rstd", label, rstd, rr, 1e-6);
  compare("gn gx", label, gx, rgx, 1e-6);
  if (affine) {
    compare("gn ggamma", label, gg, rgg, 1e-6);
    compare("gn gbeta", label, gb, rgb, 1e-6);
  }
}

}  // namespace

int main() {
  // n, cin, cout, h, w, k, stride, pad
  const int convs[][8] = {{2, 3, 5, 7, 9, 3, 1, 1},
                          {2, 3, 5, 7, 9, 1, 1, 0},
                          {2, 3, 5, 7, 9, 3, 2, 1},
                          {2, 3, 5, 8, 9, 3, 2, 0},
                          {2, 3, 4, 7, 9, 5, 1, 2},
                          {1, 2, 3, 6, 6, 2, 2, 0},
                          {3, 13, 70, 11, 13, 3, 1, 1},
                          {1, 8, 8, 24, 24, 3, 1, 1},
                          // Long reductions on few output tiles: fwd and bwd-data split
                          // (2 splits each, on the 132 SMs the emulation reports).
                          {1, 32, 40, 6, 5, 3, 1, 1},
                          {2, 36, 33, 9, 8, 3, 2, 1},
                          // Batch 40, 3 channels: the bias gradient over image ranges.
                          {40, 3, 3, 4, 4, 3, 1, 1},
                          // 3x3 without padding and with padding 2: Winograd's bwd-data
                          // then pads by 2 and by 0; odd output sizes leave partial tiles.
                          {2, 4, 6, 7, 8, 3, 1, 0},
                          {1, 5, 3, 5, 6, 3, 1, 2}};
  // The FP32 GEMM in both main loops (the pipelined one's cp.async copies are
  // queued per thread and land only at its waits: cp_async_f32 in
  // kernels/cuda/conv2d_igemm.h) and the reference kernels, on every shape;
  // automatic (the autotuner times both main loops four times each, then
  // runs its pick) on the first two.
  int i = 0;
  for (const auto& s : convs) {
    for (const bool bias : {true, false}) {
      const ConvOut staged = check_conv(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], bias,
                                        Conv2dCudaAlgo::implicit_gemm_fp32);
      check_conv(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], bias,
                 Conv2dCudaAlgo::implicit_gemm_fp32_pipelined, &staged);
      // The wide tile (128 x 128 x 16, 8 x 8 per thread, 2 cp.async stages):
      // its split plans differ from the narrow tile's, so float64 only.
      check_conv(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], bias,
                 Conv2dCudaAlgo::implicit_gemm_fp32_wide);
      check_conv(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], bias, Conv2dCudaAlgo::direct);
      // Winograd where it applies (3x3 stride 1), the FP32 GEMM elsewhere.
      check_conv(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], bias, Conv2dCudaAlgo::winograd_fp32);
      // winograd_tf32 where Winograd applies (elsewhere it is the TF32 mma
      // path, which the emulation cannot run).
      if (s[5] == 3 && s[6] == 1 && s[7] <= 2)
        check_conv(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], bias, Conv2dCudaAlgo::winograd_tf32);
    }
    if (i++ < 2) check_conv(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], true, Conv2dCudaAlgo::automatic);
  }
  check_group_norm(2, 16, 64, 4, true, -1, 1);   // 4 splits per group forward
  check_group_norm(3, 6, 35, 3, true, 1, 2);     // mean 5 std
  check_group_norm(2, 4, 15, 2, false, -1, 1);   // no affine
  check_group_norm(4, 12, 1, 2, true, -1, 1);    // [N, C]
  check_group_norm(2, 8, 1600, 8, true, -1, 1);  // split rows in the backward
  check_group_norm(1, 32, 16, 8, true, -1, 1);
  std::printf("%d failures\n", g_failures);
  return g_failures ? 1 : 0;
}
