// --precision bf16 on the CPU: the BF16 GEMM (kernels/cpu/bf16_gemm.h) on
// every backend this machine runs, its packing against the scalar
// definition, and conv2d under MathMode::bf16 in all three directions: the
// direct convolution against a float64 convolution of the BF16-rounded
// operands, the BF16 Winograd against the exact result within its stated
// bound.
#include <doctest/doctest.h>
#include <omp.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "kernels/conv2d.h"
#include "kernels/cpu/bf16_gemm.h"
#include "kernels/math_mode.h"
#include "tensor/bf16.h"
#include "tensor/philox.h"
#include "tensor/rng.h"
#include "tensor/tensor.h"
#include "tests/io_util.h"

using namespace ddpm;
namespace bg = ddpm::kernels::cpu::bf16gemm;

namespace {

std::vector<float> draws(int64_t n, uint64_t stream) {
  const Tensor t = randn({n}, 7, stream, DType::f32);
  return t.to_vector<float>();
}

double rounded(float f) { return static_cast<double>(bf16_bits_to_float(float_to_bf16_bits(f))); }

// Sets a backend for a scope, restoring the previous one.
struct BackendScope {
  bg::Backend prev = bg::backend();
  explicit BackendScope(bg::Backend b) { bg::set_backend(b); }
  ~BackendScope() { bg::set_backend(prev); }
  BackendScope(const BackendScope&) = delete;
  BackendScope& operator=(const BackendScope&) = delete;
};

std::vector<bg::Backend> backends_here() {
  std::vector<bg::Backend> v;
  for (const bg::Backend b : {bg::Backend::scalar, bg::Backend::avx512bf16, bg::Backend::amx})
    if (bg::supported(b)) v.push_back(b);
  return v;
}

}  // namespace

TEST_CASE("forward: the BF16 packing (vector paths) equals the scalar definition bit for bit") {
  // Scalar packing is taken with both strides != 1; the vector paths with
  // one stride 1. Values include ties, NaN, inf and subnormals.
  const int64_t M = 37, K = 71;
  std::vector<float> a = draws(M * K, 1);
  a[0] = std::numeric_limits<float>::quiet_NaN();
  a[1] = -std::numeric_limits<float>::infinity();
  a[2] = bf16_bits_to_float(0x3f80) + std::ldexp(1.0f, -8);  // a tie: rounds to even (1.0)
  a[3] = bf16_bits_to_float(0x3f81) + std::ldexp(1.0f, -8);  // a tie: rounds up to 0x3f82
  a[4] = std::numeric_limits<float>::denorm_min();
  a[5] = -std::numeric_limits<float>::signaling_NaN();
  // The same matrix spread out with strides (2K, 2) for the scalar path,
  // and transposed for the column paths.
  std::vector<float> spread(M * K * 4, 0.f), tr(M * K);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t k = 0; k < K; ++k) {
      spread[i * 4 * K + k * 2] = a[i * K + k];
      tr[k * M + i] = a[i * K + k];
    }
  auto packed = [](int64_t n) { return std::vector<uint16_t>(static_cast<size_t>(n), 0xdead); };
  std::vector<uint16_t> ref = packed(bg::packed_a_size(M, K)), rows = ref, cols = ref;
  bg::pack_a(M, K, spread.data(), 4 * K, 2, ref.data());
  bg::pack_a(M, K, a.data(), K, 1, rows.data());
  bg::pack_a(M, K, tr.data(), 1, M, cols.data());
  CHECK(rows == ref);
  CHECK(cols == ref);
  // Spot checks of the definition: tile (0, 0), the tie, the NaN stays NaN.
  CHECK(ref[3] == 0x3f82);
  CHECK(ref[2] == 0x3f80);
  CHECK((ref[0] & 0x7fc0) == 0x7fc0);
  CHECK((ref[5] & 0x7fc0) == 0x7fc0);  // a signalling NaN becomes quiet
  // B (K x N = the same values as a K x M matrix read as tr).
  std::vector<uint16_t> bref = packed(bg::packed_b_size(K, M)), brows = bref, bcols = bref;
  std::vector<float> bspread(M * K * 4, 0.f);
  for (int64_t k = 0; k < K; ++k)
    for (int64_t n = 0; n < M; ++n) bspread[k * 4 * M + n * 2] = tr[k * M + n];
  bg::pack_b(K, M, bspread.data(), 4 * M, 2, bref.data());
  bg::pack_b(K, M, tr.data(), M, 1, brows.data());
  bg::pack_b(K, M, a.data(), 1, K, bcols.data());
  CHECK(brows == bref);
  CHECK(bcols == bref);
}

TEST_CASE("forward: the BF16 GEMM matches float64 sums of the rounded operands on every backend here") {
  const std::vector<bg::Backend> here = backends_here();
  MESSAGE("bf16 GEMM backends on this machine: " << here.size() << " (best: "
                                                 << std::string(bg::backend_name(bg::backend())) << ")");
  struct Case {
    int64_t M, N, K;
  };
  for (const bg::Backend backend : here) {
    const BackendScope scope(backend);
    for (const Case c : {Case{1, 1, 1}, Case{16, 16, 32}, Case{17, 15, 33}, Case{40, 50, 70},
                         Case{33, 64, 600}, Case{5, 3, 0}}) {
      const std::vector<float> a = draws(c.M * c.K, 2), b = draws(c.K * c.N, 3), c0 = draws(c.M * c.N, 4);
      std::vector<uint16_t> pa(static_cast<size_t>(bg::packed_a_size(c.M, c.K))),
          pb(static_cast<size_t>(bg::packed_b_size(c.K, c.N)));
      bg::pack_a(c.M, c.K, a.data(), c.K, 1, pa.data());
      bg::pack_b(c.K, c.N, b.data(), c.N, 1, pb.data());
      for (const bool accumulate : {false, true}) {
        CAPTURE(bg::backend_name(backend));
        CAPTURE(c.M);
        CAPTURE(c.N);
        CAPTURE(c.K);
        CAPTURE(accumulate);
        const int64_t ldc = c.N + 3;  // C with a row stride of its own
        std::vector<float> out(static_cast<size_t>(c.M * ldc), -7.f);
        for (int64_t i = 0; i < c.M; ++i)
          for (int64_t j = 0; j < c.N; ++j) out[i * ldc + j] = c0[i * c.N + j];
        bg::gemm(c.M, c.N, c.K, pa.data(), pb.data(), out.data(), ldc, accumulate);
        int bad = 0;
        for (int64_t i = 0; i < c.M; ++i) {
          for (int64_t j = 0; j < c.N; ++j) {
            double ref = accumulate ? c0[i * c.N + j] : 0.0, mag = std::fabs(ref);
            for (int64_t k = 0; k < c.K; ++k) {
              const double p = rounded(a[i * c.K + k]) * rounded(b[k * c.N + j]);
              ref += p;
              mag += std::fabs(p);
            }
            // FP32 sums of exact products: at most (K + 1) roundings of 2^-24.
            const double tol = static_cast<double>(c.K + 2) * std::ldexp(1.0, -24) * mag + 1e-30;
            if (!(std::fabs(out[i * ldc + j] - ref) <= tol)) ++bad;
          }
          for (int64_t j = c.N; j < ldc; ++j)
            if (out[i * ldc + j] != -7.f) ++bad;  // nothing written past N
        }
        CHECK(bad == 0);
      }
    }
  }
}

TEST_CASE("forward: set_backend refuses a backend this machine cannot run, by name") {
  for (const bg::Backend b : {bg::Backend::avx512bf16, bg::Backend::amx}) {
    if (bg::supported(b)) continue;
    const std::string msg = test::error_message<std::runtime_error>([b] { bg::set_backend(b); });
    CHECK(msg.find(bg::backend_name(b)) != std::string::npos);
  }
  CHECK(bg::supported(bg::Backend::scalar));
}

namespace {

Tensor bf16_rounded_f64(const Tensor& t) { return t.to(DType::bf16).to(DType::f64); }

// max |got - ref| / max(1, max |ref|).
double scaled_error(const Tensor& got, const Tensor& ref) {
  const std::vector<double> g = got.to(DType::f64).to_vector<double>(), r = ref.to_vector<double>();
  REQUIRE(g.size() == r.size());
  double err = 0, mag = 1;
  for (size_t i = 0; i < g.size(); ++i) {
    err = std::max(err, std::fabs(g[i] - r[i]));
    mag = std::max(mag, std::fabs(r[i]));
  }
  return err / mag;
}

}  // namespace

TEST_CASE("forward: direct conv2d under MathMode::bf16 equals a float64 conv of the BF16-rounded operands") {
  struct Case {
    int64_t n, cin, h, w, cout, k, stride, pad;
  };
  // 3x3 at 8x8 and 4x4 (whole images per chunk), a 17x17 image whose
  // columns straddle the 256-column chunks, stride 2 (im2col even with AMX),
  // 1x1, no padding, more than 32 channels each way (several channel blocks
  // and output pairs on AMX), and 4096 padded pixels (several pixel chunks
  // of the AMX weight gradient).
  // The direct path (im2col, or AMX's shifted tiles), not Winograd.
  const kernels::Conv2dCpuAlgoScope direct(kernels::Conv2dCpuAlgo::im2col);
  for (const bg::Backend backend : backends_here()) {
    const BackendScope scope(backend);
    for (const Case c :
         {Case{5, 8, 8, 8, 12, 3, 1, 1}, Case{3, 20, 4, 4, 33, 3, 1, 1}, Case{2, 3, 17, 17, 5, 3, 1, 1},
          Case{2, 6, 9, 11, 7, 3, 2, 1}, Case{3, 16, 6, 6, 9, 1, 1, 0}, Case{1, 2, 5, 5, 3, 3, 1, 0},
          Case{2, 40, 6, 6, 70, 3, 1, 1}, Case{4, 4, 30, 30, 8, 3, 1, 1}}) {
      CAPTURE(bg::backend_name(backend));
      CAPTURE(c.cin);
      CAPTURE(c.h);
      CAPTURE(c.stride);
      const Tensor x = randn({c.n, c.cin, c.h, c.w}, 11, 1, DType::f32);
      const Tensor w = randn({c.cout, c.cin, c.k, c.k}, 11, 2, DType::f32);
      const Tensor b = randn({c.cout}, 11, 3, DType::f32);
      const Tensor y64 =
          kernels::conv2d_fwd(bf16_rounded_f64(x), bf16_rounded_f64(w), b.to(DType::f64), c.stride, c.pad);
      const Tensor gy = randn(y64.shape(), 11, 4, DType::f32);
      const Tensor gx64 =
          kernels::conv2d_bwd_data(bf16_rounded_f64(gy), bf16_rounded_f64(w), x.shape(), c.stride, c.pad);
      Tensor gb64;
      const Tensor gw64 = kernels::conv2d_bwd_weight(bf16_rounded_f64(x), bf16_rounded_f64(gy), w.shape(),
                                                     c.stride, c.pad, &gb64);
      const kernels::MathModeScope mode(kernels::MathMode::bf16);
      const Tensor y = kernels::conv2d_fwd(x, w, b, c.stride, c.pad);
      const Tensor gx = kernels::conv2d_bwd_data(gy, w, x.shape(), c.stride, c.pad);
      Tensor gb;
      const Tensor gw = kernels::conv2d_bwd_weight(x, gy, w.shape(), c.stride, c.pad, &gb);
      // FP32 accumulation of at most a few thousand exact products.
      CHECK(scaled_error(y, y64) < 2e-6);
      CHECK(scaled_error(gx, gx64) < 2e-6);
      CHECK(scaled_error(gw, gw64) < 2e-6);
      // The bias gradient is not rounded: against the unrounded gradient.
      Tensor gb_plain;
      (void)kernels::conv2d_bwd_weight(x.to(DType::f64), gy.to(DType::f64), w.shape(), c.stride, c.pad,
                                       &gb_plain);
      CHECK(scaled_error(gb, gb_plain) < 1e-6);
    }
  }
}

namespace {

// The bound of Winograd F(2x2, 3x3) on BF16-rounded transforms
// (kernels/cpu/conv2d_bf16.cpp): a forward conv (x [N, C, H, W], w [O, C, 3,
// 3], stride 1, pad p) computes per 2x2 tile A^T [ sum_c U_c (.) V_c ] A
// with U = G g G^T and V = B^T d B each rounded to BF16 (relative error
// 2^-8), so every output is off the exact sum by at most
//   (2^-7 + 2^-16 + FP32 terms) * sum_c |A|^T [ (|G| |g| |G|^T) (.) (|B|^T |d| |B|) ] |A|,
// the "absolute Winograd" of |x| and |w|, which this computes in float64
// (outputs in y's layout).
std::vector<double> abs_winograd_fwd(const std::vector<double>& x, const std::vector<double>& w, int64_t N,
                                     int64_t C, int64_t H, int64_t W, int64_t O, int64_t p) {
  const int64_t Ho = H + 2 * p - 2, Wo = W + 2 * p - 2;
  std::vector<double> y(static_cast<size_t>(N * O * Ho * Wo), 0.0);
  const double g_abs[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, 0.5, 0.5}, {0, 0, 1}};
  const double bt_abs[4][4] = {{1, 0, 1, 0}, {0, 1, 1, 0}, {0, 1, 1, 0}, {0, 1, 0, 1}};
  const double at_abs[2][4] = {{1, 1, 1, 0}, {0, 1, 1, 1}};
  auto xs = [&](int64_t n, int64_t c, int64_t iy, int64_t ix) {
    return iy < 0 || iy >= H || ix < 0 || ix >= W
               ? 0.0
               : std::fabs(x[static_cast<size_t>(((n * C + c) * H + iy) * W + ix)]);
  };
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t ty = 0; 2 * ty < Ho; ++ty)
        for (int64_t tx = 0; 2 * tx < Wo; ++tx) {
          double m[4][4] = {};
          for (int64_t c = 0; c < C; ++c) {
            double u[4][4] = {}, v[4][4] = {};
            for (int a = 0; a < 4; ++a)
              for (int b = 0; b < 4; ++b)
                for (int i = 0; i < 3; ++i)
                  for (int j = 0; j < 3; ++j)
                    u[a][b] += g_abs[a][i] *
                               std::fabs(w[static_cast<size_t>(((o * C + c) * 3 + i) * 3 + j)]) * g_abs[b][j];
            for (int a = 0; a < 4; ++a)
              for (int b = 0; b < 4; ++b)
                for (int i = 0; i < 4; ++i)
                  for (int j = 0; j < 4; ++j)
                    v[a][b] += bt_abs[a][i] * xs(n, c, 2 * ty + i - p, 2 * tx + j - p) * bt_abs[b][j];
            for (int a = 0; a < 4; ++a)
              for (int b = 0; b < 4; ++b) m[a][b] += u[a][b] * v[a][b];
          }
          for (int a = 0; a < 2; ++a)
            for (int b = 0; b < 2; ++b) {
              const int64_t oy = 2 * ty + a, ox = 2 * tx + b;
              if (oy >= Ho || ox >= Wo) continue;
              double s = 0;
              for (int i = 0; i < 4; ++i)
                for (int j = 0; j < 4; ++j) s += at_abs[a][i] * m[i][j] * at_abs[b][j];
              y[static_cast<size_t>(((n * O + o) * Ho + oy) * Wo + ox)] = s;
            }
        }
  return y;
}

// The same bound for the weight gradient, gW = G^T [ sum_tiles V (.) Wg ] G
// with V = B^T d B and Wg = A dY A^T rounded to BF16: per (o, c, kh, kw)
// |G|^T [ sum_tiles (|B|^T |d| |B|) (.) (|A| |dY| |A|^T) ] |G|.
std::vector<double> abs_winograd_bwd_weight(const std::vector<double>& x, const std::vector<double>& gy,
                                            int64_t N, int64_t C, int64_t H, int64_t W, int64_t O,
                                            int64_t p) {
  const int64_t Ho = H + 2 * p - 2, Wo = W + 2 * p - 2;
  std::vector<double> gw(static_cast<size_t>(O * C * 9), 0.0);
  const double g_abs[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, 0.5, 0.5}, {0, 0, 1}};
  const double bt_abs[4][4] = {{1, 0, 1, 0}, {0, 1, 1, 0}, {0, 1, 1, 0}, {0, 1, 0, 1}};
  const double a_abs[4][2] = {{1, 0}, {1, 1}, {1, 1}, {0, 1}};
  for (int64_t o = 0; o < O; ++o)
    for (int64_t c = 0; c < C; ++c) {
      double m[4][4] = {};
      for (int64_t n = 0; n < N; ++n)
        for (int64_t ty = 0; 2 * ty < Ho; ++ty)
          for (int64_t tx = 0; 2 * tx < Wo; ++tx) {
            double v[4][4] = {}, g[4][4] = {};
            for (int a = 0; a < 4; ++a)
              for (int b = 0; b < 4; ++b)
                for (int i = 0; i < 4; ++i)
                  for (int j = 0; j < 4; ++j) {
                    const int64_t iy = 2 * ty + i - p, ix = 2 * tx + j - p;
                    if (iy >= 0 && iy < H && ix >= 0 && ix < W)
                      v[a][b] += bt_abs[a][i] *
                                 std::fabs(x[static_cast<size_t>(((n * C + c) * H + iy) * W + ix)]) *
                                 bt_abs[b][j];
                  }
            for (int a = 0; a < 4; ++a)
              for (int b = 0; b < 4; ++b)
                for (int i = 0; i < 2; ++i)
                  for (int j = 0; j < 2; ++j) {
                    const int64_t oy = 2 * ty + i, ox = 2 * tx + j;
                    if (oy < Ho && ox < Wo)
                      g[a][b] += a_abs[a][i] *
                                 std::fabs(gy[static_cast<size_t>(((n * O + o) * Ho + oy) * Wo + ox)]) *
                                 a_abs[b][j];
                  }
            for (int a = 0; a < 4; ++a)
              for (int b = 0; b < 4; ++b) m[a][b] += v[a][b] * g[a][b];
          }
      for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j) {
          double s = 0;
          for (int a = 0; a < 4; ++a)
            for (int b = 0; b < 4; ++b) s += g_abs[a][i] * m[a][b] * g_abs[b][j];
          gw[static_cast<size_t>((o * C + c) * 9 + i * 3 + j)] = s;
        }
    }
  return gw;
}

// The largest |got - exact| / bound over the elements (bound > 0 where the
// exact value is not 0 by structure).
double bound_ratio(const Tensor& got, const Tensor& exact, const std::vector<double>& bound, double factor) {
  const std::vector<double> g = got.to(DType::f64).to_vector<double>(), e = exact.to_vector<double>();
  REQUIRE(g.size() == bound.size());
  double worst = 0;
  for (size_t i = 0; i < g.size(); ++i)
    worst = std::max(worst, std::fabs(g[i] - e[i]) / (factor * bound[i] + 1e-300));
  return worst;
}

}  // namespace

TEST_CASE("forward: BF16 Winograd conv2d stays within its stated bound of the exact result, every backend") {
  struct Case {
    int64_t n, cin, h, w, cout, pad;
  };
  // De-interleaved planes (8x8, 7x8 odd height), rows (32 wide), gathers
  // (4x4, 10x10 with pad 0: bwd-data's full correlation with pad 2), K past
  // a whole tile (33 and 40 channels), output channels past a whole tile.
  for (const bg::Backend backend : backends_here()) {
    const BackendScope scope(backend);
    const kernels::Conv2dCpuAlgoScope wino(kernels::Conv2dCpuAlgo::winograd);
    for (const Case c : {Case{2, 16, 8, 8, 20, 1}, Case{2, 33, 7, 8, 16, 1}, Case{1, 16, 32, 32, 17, 1},
                         Case{3, 40, 4, 4, 24, 1}, Case{2, 18, 10, 10, 16, 0}}) {
      CAPTURE(bg::backend_name(backend));
      CAPTURE(c.cin);
      CAPTURE(c.h);
      CAPTURE(c.pad);
      const Tensor x = randn({c.n, c.cin, c.h, c.w}, 14, 1, DType::f32);
      const Tensor w = randn({c.cout, c.cin, 3, 3}, 14, 2, DType::f32);
      const int64_t ho = c.h + 2 * c.pad - 2, wo = c.w + 2 * c.pad - 2;
      const Tensor gy = randn({c.n, c.cout, ho, wo}, 14, 3, DType::f32);
      const Tensor x64 = x.to(DType::f64), w64 = w.to(DType::f64), gy64 = gy.to(DType::f64);
      const std::vector<double> xv = x64.to_vector<double>(), wv = w64.to_vector<double>(),
                                gv = gy64.to_vector<double>();
      // bwd-data is the forward conv of gY by the flipped, transposed kernel
      // with pad 2 - pad.
      std::vector<double> wf(wv.size());
      for (int64_t o = 0; o < c.cout; ++o)
        for (int64_t i = 0; i < c.cin; ++i)
          for (int64_t k = 0; k < 9; ++k)
            wf[static_cast<size_t>((i * c.cout + o) * 9 + 8 - k)] =
                wv[static_cast<size_t>((o * c.cin + i) * 9 + k)];
      const std::vector<double> by = abs_winograd_fwd(xv, wv, c.n, c.cin, c.h, c.w, c.cout, c.pad);
      const std::vector<double> bx = abs_winograd_fwd(gv, wf, c.n, c.cout, ho, wo, c.cin, 2 - c.pad);
      const std::vector<double> bw = abs_winograd_bwd_weight(xv, gv, c.n, c.cin, c.h, c.w, c.cout, c.pad);
      // The exact results by another path than the one under test.
      Tensor y64, gx64, gw64;
      {
        const kernels::Conv2dCpuAlgoScope ref(kernels::Conv2dCpuAlgo::im2col);
        y64 = kernels::conv2d_fwd(x64, w64, Tensor(), 1, c.pad);
        gx64 = kernels::conv2d_bwd_data(gy64, w64, x.shape(), 1, c.pad);
        gw64 = kernels::conv2d_bwd_weight(x64, gy64, w.shape(), 1, c.pad, nullptr);
      }
      const kernels::MathModeScope mode(kernels::MathMode::bf16);
      const Tensor y = kernels::conv2d_fwd(x, w, Tensor(), 1, c.pad);
      const Tensor gx = kernels::conv2d_bwd_data(gy, w, x.shape(), 1, c.pad);
      const Tensor gw = kernels::conv2d_bwd_weight(x, gy, w.shape(), 1, c.pad, nullptr);
      // Two BF16 roundings per product (2^-7 + 2^-16), FP32 transforms and
      // sums over at most K + 24 terms.
      const double u = std::ldexp(1.0, -24);
      const double fy = std::ldexp(1.0, -7) + std::ldexp(1.0, -16) + static_cast<double>(c.cin + 24) * 2 * u;
      const double fx = std::ldexp(1.0, -7) + std::ldexp(1.0, -16) + static_cast<double>(c.cout + 24) * 2 * u;
      const double fw =
          std::ldexp(1.0, -7) + std::ldexp(1.0, -16) + static_cast<double>(c.n * ho * wo + 24) * 2 * u;
      CHECK(bound_ratio(y, y64, by, fy) <= 1.0);
      CHECK(bound_ratio(gx, gx64, bx, fx) <= 1.0);
      CHECK(bound_ratio(gw, gw64, bw, fw) <= 1.0);
      // Winograd ran, not the direct path (whose roundings differ).
      const kernels::Conv2dCpuAlgoScope direct(kernels::Conv2dCpuAlgo::im2col);
      CHECK(scaled_error(kernels::conv2d_fwd(x, w, Tensor(), 1, c.pad), y.to(DType::f64)) > 0);
      CHECK(scaled_error(kernels::conv2d_bwd_weight(x, gy, w.shape(), 1, c.pad, nullptr), gw.to(DType::f64)) >
            0);
    }
  }
}

TEST_CASE(
    "forward: conv2d under MathMode::bf16 differs from FP32 (the mode is on) and only by BF16 rounding") {
  const Tensor x = randn({4, 16, 8, 8}, 12, 1, DType::f32), w = randn({16, 16, 3, 3}, 12, 2, DType::f32);
  const Tensor y32 = kernels::conv2d_fwd(x, w, Tensor(), 1, 1);
  const kernels::MathModeScope mode(kernels::MathMode::bf16);
  const Tensor y16 = kernels::conv2d_fwd(x, w, Tensor(), 1, 1);
  const double e = scaled_error(y16, y32.to(DType::f64));
  CHECK(e > 1e-5);  // not the FP32 kernel
  CHECK(e < 3e-2);  // 144 products each within ~2^-8 relative
}

TEST_CASE("forward: float64 conv2d ignores MathMode::bf16") {
  const Tensor x = randn({2, 8, 6, 6}, 12, 3, DType::f64), w = randn({8, 8, 3, 3}, 12, 4, DType::f64);
  const std::vector<double> plain = kernels::conv2d_fwd(x, w, Tensor(), 1, 1).to_vector<double>();
  const kernels::MathModeScope mode(kernels::MathMode::bf16);
  CHECK(kernels::conv2d_fwd(x, w, Tensor(), 1, 1).to_vector<double>() == plain);
}

TEST_CASE("forward: conv2d bf16 weight gradients do not depend on the thread count") {
  const Tensor x = randn({6, 24, 8, 8}, 13, 1, DType::f32), gy = randn({6, 40, 8, 8}, 13, 2, DType::f32);
  const kernels::MathModeScope mode(kernels::MathMode::bf16);
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  const std::vector<float> one =
      kernels::conv2d_bwd_weight(x, gy, {40, 24, 3, 3}, 1, 1, nullptr).to_vector<float>();
  omp_set_num_threads(2);
  const std::vector<float> two =
      kernels::conv2d_bwd_weight(x, gy, {40, 24, 3, 3}, 1, 1, nullptr).to_vector<float>();
  omp_set_num_threads(saved);
  CHECK(one == two);
}
