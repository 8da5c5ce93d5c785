// clang-format off
#include "tensor/gcc12_intrinsics.h"  // first: before any AVX-512 header
// clang-format on

#include "kernels/cpu/conv2d_amx.h"

#include <algorithm>
#include <cstring>

#include "kernels/cpu/bf16_gemm.h"
#include "kernels/cpu/bf16_simd.h"
#include "kernels/cpu/gemm.h"
#include "tensor/bf16.h"

namespace ddpm::kernels::cpu::amx_conv {

bool applies(const Conv2dDims& d) {
#ifdef DDPM_BF16_X86
  return d.stride == 1 && d.pad <= d.K - 1 && bf16gemm::backend() == bf16gemm::Backend::amx;
#else
  (void)d;
  return false;
#endif
}

#ifdef DDPM_BF16_X86
namespace {

using bf16simd::load16;
using bf16simd::pair16;
using bf16simd::round16;

#define DDPM_AMX __attribute__((target("avx512f,avx512bw,avx512bf16,amx-tile,amx-bf16")))

constexpr int64_t kU = 32;       // pixels u per block: two tiles of 16
constexpr int64_t kUGroup = 8;   // u blocks per forward work item
constexpr int64_t kUChunk = 64;  // u blocks per weight-gradient pass
constexpr int64_t kTile = 512;   // uint16 per packed tile

int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

// The tall image: N zero-padded images stacked, row-major, Wp pixels a row.
struct Geo {
  int64_t N, C, H, W, K, pad;
  int64_t Hp, Wp, Hout, Wout, Cp, U, Uc, shift_max;
  Geo(int64_t n, int64_t c, int64_t h, int64_t w, int64_t k, int64_t p)
      : N(n),
        C(c),
        H(h),
        W(w),
        K(k),
        pad(p),
        Hp(h + 2 * p),
        Wp(w + 2 * p),
        Hout(h + 2 * p - k + 1),
        Wout(w + 2 * p - k + 1),
        Cp(round_up(c, 32)),
        U(n * (h + 2 * p) * (w + 2 * p)),
        Uc(round_up(U, kU)),
        shift_max((k - 1) * (w + 2 * p) + k - 1) {}
  int64_t u_of(int64_t n, int64_t row, int64_t col) const { return (n * Hp + row) * Wp + col; }
  int64_t shift(int64_t tap) const { return (tap / K) * Wp + tap % K; }
};

struct alignas(64) TileConfig {
  uint8_t palette, start_row, reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
};

DDPM_AMX void configure_tiles() {
  TileConfig cfg{};
  cfg.palette = 1;
  for (int t = 0; t < 8; ++t) {
    cfg.colsb[t] = 64;
    cfg.rows[t] = 16;
  }
  _tile_loadconfig(&cfg);
}

// in [N, C, H, W] -> channel pairs: u32 at [c / 2][u] holds (bf16 of channel
// c, of channel c + 1) at pixel u of the tall image; zero at the padding and
// past the last channel. Rows of S pixels.
DDPM_AMX void channel_pair_row(const float* in, const Geo& g, uint32_t* xp, int64_t S, int64_t cp) {
  uint32_t* dst = xp + cp * S;
  std::memset(dst, 0, static_cast<size_t>(S) * sizeof(uint32_t));
  const int64_t c0 = 2 * cp, c1 = 2 * cp + 1;
  if (c0 >= g.C) return;
  for (int64_t n = 0; n < g.N; ++n)
    for (int64_t ih = 0; ih < g.H; ++ih) {
      const float* r0 = in + ((n * g.C + c0) * g.H + ih) * g.W;
      const float* r1 = c1 < g.C ? in + ((n * g.C + c1) * g.H + ih) * g.W : nullptr;
      uint32_t* o = dst + g.u_of(n, ih + g.pad, g.pad);
      for (int64_t iw = 0; iw < g.W; iw += 16) {
        const int64_t m = std::min<int64_t>(16, g.W - iw);
        _mm512_mask_storeu_epi32(o + iw, static_cast<__mmask16>((1u << m) - 1),
                                 pair16(r0 + iw, r1 ? r1 + iw : nullptr, m));
      }
    }
}

// (The parallel loops call target-attributed functions: a lambda does not
// inherit its enclosing function's target.)
void to_channel_pairs(const float* in, const Geo& g, uint32_t* xp, int64_t S) {
  parallel_for(g.Cp / 2, 2 * S, [&](int64_t cp) { channel_pair_row(in, g, xp, S, cp); });
}

// Weights as per-tap packed A tiles: tap t's [M, Kc] matrix is
// A_t(m, k) = w[m * sm + k * sk + tap_offset(t)], packed (bf16gemm layout)
// into Mp / 16 x Kc / 32 tiles (zero past M and Kc).
void pack_taps(const float* w, int64_t M, int64_t Kc, int64_t Mp, int64_t Kp, int64_t taps, int64_t sm,
               int64_t sk, bool flip, uint16_t* a) {
  const int64_t per_tap = (Mp / 16) * (Kp / 32) * kTile;
  auto plain = scratch<float>(M * Kc);
  for (int64_t t = 0; t < taps; ++t) {
    const int64_t off = flip ? taps - 1 - t : t;
    for (int64_t m = 0; m < M; ++m)
      for (int64_t k = 0; k < Kc; ++k) plain[m * Kc + k] = w[m * sm + k * sk + off];
    uint16_t* at = a + t * per_tap;
    bf16gemm::pack_a(M, Kc, plain.get(), Kc, 1, at);
    const int64_t packed = bf16gemm::packed_a_size(M, Kc);
    std::fill(at + packed, at + per_tap, uint16_t{0});
  }
}

// out [N, M, Hout, Wout] (+ bias) = sum over taps and channel blocks of
// A_t . X(u + shift_t), at the valid pixels u. A work item is 32 outputs x
// kUGroup u blocks, staged in a small buffer and copied out by image rows.
constexpr int64_t kW = kU * kUGroup;  // staged u per forward work item

DDPM_AMX void forward_item(const uint32_t* xp, int64_t S, const Geo& g, const uint16_t* a, int64_t M,
                           int64_t Mp, const float* bias, float* out, int64_t item) {
  const int64_t Kt = g.Cp / 32, Mt = Mp / 16, taps = g.K * g.K, pairs = Mt / 2;
  const int64_t ublocks = g.Uc / kU;
  const int64_t ldx = S * 4, hw = g.Hout * g.Wout;
  configure_tiles();
  alignas(64) float stage[32 * kW];
  const int64_t mp = item % pairs, ug = item / pairs;
  const int64_t ub0 = ug * kUGroup, ub1 = std::min(ublocks, ub0 + kUGroup);
  const uint16_t* xb = reinterpret_cast<const uint16_t*>(xp);
  for (int64_t ub = ub0; ub < ub1; ++ub) {
    const int64_t u0 = ub * kU;
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    for (int64_t t = 0; t < taps; ++t) {
      const uint16_t* b = xb + (u0 + g.shift(t)) * 2;
      const uint16_t* a0 = a + ((t * Mt + 2 * mp) * Kt) * kTile;
      const uint16_t* a1 = a0 + Kt * kTile;
      for (int64_t kb = 0; kb < Kt; ++kb) {
        _tile_loadd(4, a0 + kb * kTile, 64);
        _tile_loadd(5, a1 + kb * kTile, 64);
        _tile_loadd(6, b + kb * 16 * S * 2, ldx);
        _tile_loadd(7, b + kb * 16 * S * 2 + 32, ldx);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
      }
    }
    float* c = stage + (ub - ub0) * kU;
    constexpr int64_t ld = kW * static_cast<int64_t>(sizeof(float));
    _tile_stored(0, c, ld);
    _tile_stored(1, c + 16, ld);
    _tile_stored(2, c + 16 * kW, ld);
    _tile_stored(3, c + 16 * kW + 16, ld);
  }
  // Copy the valid pixels of [u_lo, u_hi) out, an image row at a time.
  const int64_t u_lo = ub0 * kU, u_hi = std::min(g.U, ub1 * kU);
  const int64_t m_end = std::min<int64_t>(32, M - mp * 32);
  for (int64_t u = u_lo; u < u_hi;) {
    const int64_t n = u / (g.Hp * g.Wp), row = (u / g.Wp) % g.Hp, col = u % g.Wp;
    const int64_t run = std::min(g.Wp - col, u_hi - u);
    if (row < g.Hout && col < g.Wout) {
      const int64_t len = std::min(run, g.Wout - col);
      for (int64_t m = 0; m < m_end; ++m) {
        const int64_t co = mp * 32 + m;
        const float bv = bias ? bias[co] : 0.f;
        const float* src = stage + m * kW + (u - u_lo);
        float* dst = out + (n * M + co) * hw + row * g.Wout + col;
        for (int64_t k = 0; k < len; ++k) dst[k] = src[k] + bv;
      }
    }
    u += run;
  }
  _tile_release();
}

void forward_tiles(const uint32_t* xp, int64_t S, const Geo& g, const uint16_t* a, int64_t M, int64_t Mp,
                   const float* bias, float* out) {
  const int64_t Kt = g.Cp / 32, pairs = Mp / 32, ublocks = g.Uc / kU;
  const int64_t groups = (ublocks + kUGroup - 1) / kUGroup;
  parallel_for(pairs * groups, 2 * 16 * 32 * kW * g.K * g.K * Kt,
               [&](int64_t item) { forward_item(xp, S, g, a, M, Mp, bias, out, item); });
}

// A conv of `in` ([N, C, H, W]) with per-tap packed weights for M outputs.
void convolve(const float* in, const Geo& g, const uint16_t* a, int64_t M, const float* bias, float* out) {
  const int64_t S = round_up(g.Uc + g.shift_max, 16), Mp = round_up(M, 32);
  auto xp = scratch<uint32_t>(g.Cp / 2 * S);
  to_channel_pairs(in, g, xp.get(), S);
  forward_tiles(xp.get(), S, g, a, M, Mp, bias, out);
}

}  // namespace

void fwd(const float* x, const float* w, const float* bias, float* y, const Conv2dDims& d) {
  const Geo g(d.N, d.Cin, d.H, d.W, d.K, d.pad);
  const int64_t taps = d.K * d.K, Mp = round_up(d.Cout, 32);
  auto a = scratch<uint16_t>(taps * (Mp / 16) * (g.Cp / 32) * kTile);
  // A_t(co, ci) = w[((co * Cin + ci) * K * K) + t]
  pack_taps(w, d.Cout, d.Cin, Mp, g.Cp, taps, d.Cin * taps, taps, false, a.get());
  convolve(x, g, a.get(), d.Cout, bias, y);
}

void bwd_data(const float* grad_out, const float* w, float* grad_x, const Conv2dDims& d) {
  // gx = the full correlation of gY (padding K-1-p) with W flipped and
  // transposed: A_t(ci, co) = w[((co * Cin + ci) * K * K) + (K*K-1-t)].
  const Geo g(d.N, d.Cout, d.Hout, d.Wout, d.K, d.K - 1 - d.pad);
  const int64_t taps = d.K * d.K, Mp = round_up(d.Cin, 32);
  auto a = scratch<uint16_t>(taps * (Mp / 16) * (g.Cp / 32) * kTile);
  pack_taps(w, d.Cin, d.Cout, Mp, g.Cp, taps, taps, d.Cin * taps, true, a.get());
  convolve(grad_out, g, a.get(), d.Cin, nullptr, grad_x);
}

namespace {

// x [N, C, H, W] -> pixel pairs: element (u, c) at ((u / 2) * Cp + c) * 2 +
// u % 2, zero at the padding and past the last channel. Every u pair and
// block of 16 channels is one 64-byte store: two gathers (one per pixel, 16
// channels H * W apart), rounded and interleaved.
DDPM_AMX void pixel_pair(const float* x, const Geo& g, uint16_t* xt, int64_t up) {
  const int64_t HW = g.H * g.W, cblocks = g.Cp / 16;
  const __m512i idx =
      _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                         _mm512_set1_epi32(static_cast<int>(HW)));
  const float* src[2];
  for (int k = 0; k < 2; ++k) {
    const int64_t u = 2 * up + k, n = u / (g.Hp * g.Wp);
    const int64_t ih = (u / g.Wp) % g.Hp - g.pad, iw = u % g.Wp - g.pad;
    src[k] =
        u < g.U && ih >= 0 && ih < g.H && iw >= 0 && iw < g.W ? x + n * g.C * HW + ih * g.W + iw : nullptr;
  }
  uint32_t* dst = reinterpret_cast<uint32_t*>(xt) + up * g.Cp;
  for (int64_t cb = 0; cb < cblocks; ++cb) {
    const int64_t left = g.C - cb * 16;
    const __mmask16 m = left >= 16  ? __mmask16(0xffff)
                        : left <= 0 ? __mmask16(0)
                                    : __mmask16((1u << left) - 1);
    __m512i lanes[2];
    for (int k = 0; k < 2; ++k) {
      const __m512 v = src[k]
                           ? _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, idx, src[k] + cb * 16 * HW, 4)
                           : _mm512_setzero_ps();
      lanes[k] = round16(v);
    }
    const __m512i pair =
        _mm512_or_si512(_mm512_srli_epi32(lanes[0], 16),
                        _mm512_and_si512(lanes[1], _mm512_set1_epi32(static_cast<int>(0xffff0000u))));
    _mm512_storeu_si512(dst + cb * 16, pair);
  }
}

void to_pixel_pairs(const float* x, const Geo& g, uint16_t* xt) {
  parallel_for(g.Uc / 2, g.Cp, [&](int64_t up) { pixel_pair(x, g, xt, up); });
}

// gY [N, M, Hout, Wout] -> BF16 rows of G: (m, u_out) at m * G + margin +
// u_out; zero at the junk pixels, past M and in the margins.
DDPM_AMX void grad_row(const float* gy, const Geo& g, int64_t M, int64_t G, int64_t margin, uint16_t* r,
                       int64_t m) {
  uint16_t* row = r + m * G;
  std::memset(row, 0, static_cast<size_t>(G) * sizeof(uint16_t));
  if (m >= M) return;
  for (int64_t n = 0; n < g.N; ++n)
    for (int64_t oh = 0; oh < g.Hout; ++oh) {
      const float* src = gy + ((n * M + m) * g.Hout + oh) * g.Wout;
      uint16_t* o = row + margin + g.u_of(n, oh, 0);
      for (int64_t ow = 0; ow < g.Wout; ow += 16) {
        const int64_t k = std::min<int64_t>(16, g.Wout - ow);
        _mm512_mask_cvtepi32_storeu_epi16(o + ow, static_cast<__mmask16>((1u << k) - 1),
                                          _mm512_srli_epi32(round16(load16(src + ow, k)), 16));
      }
    }
}

void to_rows(const float* gy, const Geo& g, int64_t M, int64_t Mp, int64_t G, int64_t margin, uint16_t* r) {
  parallel_for(Mp, G, [&](int64_t m) { grad_row(gy, g, M, G, margin, r, m); });
}

DDPM_AMX void weight_blocks(const uint16_t* gyr, int64_t G, int64_t margin, const uint16_t* xt, const Geo& g,
                            int64_t Mp, float* gwp, Range mine) {
  const int64_t mpairs = Mp / 32, cpairs = g.Cp / 32, ublocks = g.Uc / kU;
  const int64_t lda = G * 2, ldb = g.Cp * 4, ldc = g.Cp * static_cast<int64_t>(sizeof(float));
  if (mine.begin >= mine.end) return;
  configure_tiles();
  for (int64_t u_lo = 0; u_lo < ublocks; u_lo += kUChunk) {
    const int64_t u_hi = std::min(ublocks, u_lo + kUChunk);
    for (int64_t blk = mine.begin; blk < mine.end; ++blk) {
      const int64_t cp = blk % cpairs, mp = (blk / cpairs) % mpairs, t = blk / (cpairs * mpairs);
      float* c = gwp + (t * Mp + mp * 32) * g.Cp + cp * 32;
      _tile_loadd(0, c, ldc);
      _tile_loadd(1, c + 16, ldc);
      _tile_loadd(2, c + 16 * g.Cp, ldc);
      _tile_loadd(3, c + 16 * g.Cp + 16, ldc);
      const uint16_t* a0 = gyr + (mp * 32) * G + margin - g.shift(t);
      const uint16_t* a1 = a0 + 16 * G;
      for (int64_t ub = u_lo; ub < u_hi; ++ub) {
        const int64_t u0 = ub * kU;
        const uint16_t* b0 = xt + ((u0 / 2) * g.Cp + cp * 32) * 2;
        _tile_loadd(4, a0 + u0, lda);
        _tile_loadd(5, a1 + u0, lda);
        _tile_loadd(6, b0, ldb);
        _tile_loadd(7, b0 + 32, ldb);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
      }
      _tile_stored(0, c, ldc);
      _tile_stored(1, c + 16, ldc);
      _tile_stored(2, c + 16 * g.Cp, ldc);
      _tile_stored(3, c + 16 * g.Cp + 16, ldc);
    }
  }
  _tile_release();
}

void weight_tiles(const uint16_t* gyr, int64_t G, int64_t margin, const uint16_t* xt, const Geo& g,
                  int64_t Mp, float* gwp) {
  const int64_t blocks = g.K * g.K * (Mp / 32) * (g.Cp / 32);
  run_on_threads(num_threads(), [&](int th, int threads) {
    weight_blocks(gyr, G, margin, xt, g, Mp, gwp, thread_range(blocks, th, threads));
  });
}

}  // namespace

void bwd_weight(const float* x, const float* grad_out, float* grad_w, const Conv2dDims& d) {
  const Geo g(d.N, d.Cin, d.H, d.W, d.K, d.pad);
  const int64_t taps = d.K * d.K, Mp = round_up(d.Cout, 32);
  const int64_t margin = round_up(g.shift_max, 32), G = margin + g.Uc;
  auto xt = scratch<uint16_t>(g.Uc * g.Cp);
  to_pixel_pairs(x, g, xt.get());
  auto gyr = scratch<uint16_t>(Mp * G);
  to_rows(grad_out, g, d.Cout, Mp, G, margin, gyr.get());
  auto gwp = scratch<float>(taps * Mp * g.Cp);
  std::fill(gwp.get(), gwp.get() + taps * Mp * g.Cp, 0.f);
  weight_tiles(gyr.get(), G, margin, xt.get(), g, Mp, gwp.get());
  parallel_for(d.Cout, d.Cin * taps, [&](int64_t co) {
    for (int64_t ci = 0; ci < d.Cin; ++ci)
      for (int64_t t = 0; t < taps; ++t)
        grad_w[(co * d.Cin + ci) * taps + t] = gwp[(t * Mp + co) * g.Cp + ci];
  });
}

#else
void fwd(const float*, const float*, const float*, float*, const Conv2dDims&) {}
void bwd_data(const float*, const float*, float*, const Conv2dDims&) {}
void bwd_weight(const float*, const float*, float*, const Conv2dDims&) {}
#endif

}  // namespace ddpm::kernels::cpu::amx_conv
