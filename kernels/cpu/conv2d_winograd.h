// Winograd F(2x2, 3x3) for the CPU conv2d (kernels/cpu/conv2d.cpp): 3x3,
// stride 1, forward and (as the full correlation with the flipped kernel)
// stride-1 backward-data.
//
// Each 2x2 block of outputs ("tile") is computed from the 4x4 patch d of the
// zero-padded input under it as Y = A^T [ sum_ci U_ci (.) V_ci ] A with
//   V = B^T d B (input transform), U = G g G^T (weight transform),
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],
//   G   = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1],
//   A^T = [1 1 1 0; 0 1 -1 -1]
// (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks",
// 2016). The sum over input channels is, for each of the 16 positions e of a
// 4x4 transform, a GEMM  M_e [Cout, tiles] = U_e [Cout, Cin] . V_e [Cin, tiles],
// done by the register-tiled micro-kernel of packed_gemm.h. Multiply-adds per
// output: 16/4 * Cin against 9 * Cin for the direct convolution (2.25x fewer).
//
// Error: every transform coefficient is 0, +-1 or +-1/2, so each transformed
// value is a short sum of inputs; the result differs from the direct sum by
// rounding only, with a bound of a dot product's form (a few units of the
// last place times the sum of |w| |x| over the terms, the transforms adding
// at most 4 + 3 + 4 roundings per term). The tests compare it with a direct
// convolution at 1e-12 (float64) and 1e-5 (float32) normalised error.
//
// Layout: tiles are numbered over a chunk of consecutive images (image,
// tile row, tile column). V_e and M_e are row-major [channels][tiles of the
// chunk, padded to whole NR panels]; the micro-kernel reads V_e's rows in
// place (micro_kernel_indirect with a fixed row stride). Per channel, the
// 16 elements of every tile's patch are gathered through an index table
// (gemm::gather_run; padding reads as zero) into 16 rows, so the transforms
// run over all the chunk's tiles as vectors, whatever the image width (an
// 8x8 image has only 4 tiles per row); the 2x2 outputs are scattered back
// through a second table.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <utility>
#include <vector>

#include "kernels/conv2d.h"
#include "kernels/cpu/bf16_gemm.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/packed_gemm.h"
#include "kernels/cpu/parallel.h"

namespace ddpm::kernels::cpu::winograd {

// Values of V (16 x Cin x tiles) one chunk aims at: with Cin = 32 a chunk is
// 512 tiles, 2 images at 32x32.
constexpr int64_t kChunkValues = 256 * 1024;

// Whether Winograd F(2x2, 3x3) can compute this convolution (given as a
// forward conv: for bwd-data, the full correlation's geometry).
// (The gather tables hold 32-bit offsets within a chunk's images: a chunk
// of several images is a few hundred kB, so one image must fit.)
inline bool applies(const Conv2dDims& d) {
  constexpr int64_t kMaxOffset = std::numeric_limits<int32_t>::max() / 2;
  return d.K == 3 && d.stride == 1 && d.pad <= 2 && d.Hout >= 2 && d.Wout >= 2 &&
         d.Cin * d.H * d.W <= kMaxOffset && d.Cout * d.Hout * d.Wout <= kMaxOffset;
}

// G g G^T for n kernels at once: g holds their 9 taps as 9 rows of n
// (row kh*3 + kw; whole vectors past n readable), u receives the 16 values
// as 16 rows `plane` apart (whole vectors written: the rows must have room).
// In vectors of kernels (the compiler left the plain loop scalar).
template <class T>
void transform_kernels(const T* g, int64_t n, T* u, int64_t plane) {
  using S = gemm::Simd<T>;
  using V = typename S::V;
  const V half = S::set1(T(0.5)), zero = S::zero();
  auto h = [&](V x) { return S::fma(half, x, zero); };  // x / 2, exactly
  for (int64_t i = 0; i < n; i += S::L) {
    V t[4][3];  // G g
    for (int c = 0; c < 3; ++c) {
      const V g0 = S::load(g + (0 * 3 + c) * n + i), g1 = S::load(g + (1 * 3 + c) * n + i),
              g2 = S::load(g + (2 * 3 + c) * n + i);
      t[0][c] = g0;
      t[1][c] = h(S::add(S::add(g0, g1), g2));
      t[2][c] = h(S::add(S::sub(g0, g1), g2));
      t[3][c] = g2;
    }
    for (int r = 0; r < 4; ++r) {  // (G g) G^T
      S::store(u + (r * 4 + 0) * plane + i, t[r][0]);
      S::store(u + (r * 4 + 1) * plane + i, h(S::add(S::add(t[r][0], t[r][1]), t[r][2])));
      S::store(u + (r * 4 + 2) * plane + i, h(S::add(S::sub(t[r][0], t[r][1]), t[r][2])));
      S::store(u + (r * 4 + 3) * plane + i, t[r][2]);
    }
  }
}

// U [16][Cout][Cin] from a [Cout][Cin][3][3] kernel; flip: the kernel of the
// full correlation (bwd-data), whose weight (o, i, kh, kw) is
// w[i][o][2-kh][2-kw] of the given [Cin][Cout][3][3] tensor. Per output
// channel the taps are first gathered tap-major, so the transform runs over
// the input channels as vectors (it runs on every call: at batch 16 it was a
// fifth of a sampling step when scalar).
template <class T>
void transform_weights(const T* w, int64_t cout, int64_t cin, bool flip, T* u) {
  // Rows of whole vectors: cin rounded up, into a scratch row per (e, o),
  // then copied to u's [e][o][cin] rows.
  constexpr int64_t L = gemm::Simd<T>::L;
  const int64_t n = (cin + L - 1) / L * L;
  parallel_for(cout, cin * 64, [&](int64_t o) {
    thread_local std::vector<T> taps, out;
    taps.assign(static_cast<size_t>(9 * n), T(0));
    out.resize(static_cast<size_t>(16 * n));
    T* g = taps.data();
    for (int64_t i = 0; i < cin; ++i)
      for (int64_t k = 0; k < 9; ++k)
        g[k * n + i] = flip ? w[(i * cout + o) * 9 + (8 - k)] : w[(o * cin + i) * 9 + k];
    transform_kernels(g, n, out.data(), n);
    for (int64_t e = 0; e < 16; ++e) std::copy_n(out.data() + e * n, cin, u + (e * cout + o) * cin);
  });
}

// even[j] = src[2j] and odd[j] = src[2j + 1] for j < n (src holds 2n
// values): the de-interleaving of a padded input row into the even and odd
// columns the tiles read. With AVX-512 two loads and two permutes per 16
// (float) or 8 (double) pairs; the compiler left the plain loop scalar.
template <class T>
inline void deinterleave(const T* src, int64_t n, T* even, T* odd) {
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<T, float>) {
    const __m512i ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i io = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    for (int64_t j = 0; j < n; j += 16) {
      const int64_t m = std::min<int64_t>(16, n - j), v = 2 * m;  // pairs, values left
      const __mmask16 lo = static_cast<__mmask16>((1u << std::min<int64_t>(16, v)) - 1u);
      const __mmask16 hi = static_cast<__mmask16>((1u << std::max<int64_t>(0, v - 16)) - 1u);
      const __m512 a = _mm512_maskz_loadu_ps(lo, src + 2 * j),
                   b = _mm512_maskz_loadu_ps(hi, src + 2 * j + 16);
      const __mmask16 out = static_cast<__mmask16>((1u << m) - 1u);
      _mm512_mask_storeu_ps(even + j, out, _mm512_permutex2var_ps(a, ie, b));
      _mm512_mask_storeu_ps(odd + j, out, _mm512_permutex2var_ps(a, io, b));
    }
    return;
  }
  if constexpr (std::is_same_v<T, double>) {
    const __m512i ie = _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14);
    const __m512i io = _mm512_setr_epi64(1, 3, 5, 7, 9, 11, 13, 15);
    for (int64_t j = 0; j < n; j += 8) {
      const int64_t m = std::min<int64_t>(8, n - j), v = 2 * m;
      const __mmask8 lo = static_cast<__mmask8>((1u << std::min<int64_t>(8, v)) - 1u);
      const __mmask8 hi = static_cast<__mmask8>((1u << std::max<int64_t>(0, v - 8)) - 1u);
      const __m512d a = _mm512_maskz_loadu_pd(lo, src + 2 * j),
                    b = _mm512_maskz_loadu_pd(hi, src + 2 * j + 8);
      const __mmask8 out = static_cast<__mmask8>((1u << m) - 1u);
      _mm512_mask_storeu_pd(even + j, out, _mm512_permutex2var_pd(a, ie, b));
      _mm512_mask_storeu_pd(odd + j, out, _mm512_permutex2var_pd(a, io, b));
    }
    return;
  }
#endif
  for (int64_t j = 0; j < n; ++j) {
    even[j] = src[2 * j];
    odd[j] = src[2 * j + 1];
  }
}

// The 16 U_e [Cout][Cin] of u (transform_weights' layout) packed as BF16
// A operands (rounded to nearest even), one after another, for convolve's
// BF16 GEMMs.
inline void pack_u_bf16(const float* u, int64_t cout, int64_t cin, uint16_t* ub) {
  const int64_t stride = bf16gemm::packed_a_size(cout, cin);
  for (int64_t e = 0; e < 16; ++e) bf16gemm::pack_a(cout, cin, u + e * cout * cin, cin, 1, ub + e * stride);
}

// The input transform of one vector of tiles: load(k) gives patch element
// k = r*4 + c of the vector's tiles; B^T d B goes to v (16 planes es apart).
template <class T, class Load>
inline void input_transform_vector(Load&& load, T* v, int64_t es) {
  using S = gemm::Simd<T>;
  using V = typename S::V;
  V w[4][4];  // the rows of d B
  for (int r = 0; r < 4; ++r) {
    const V a0 = load(r * 4 + 0), a1 = load(r * 4 + 1), a2 = load(r * 4 + 2), a3 = load(r * 4 + 3);
    w[r][0] = S::sub(a0, a2);
    w[r][1] = S::add(a1, a2);
    w[r][2] = S::sub(a2, a1);
    w[r][3] = S::sub(a1, a3);
  }
  for (int c = 0; c < 4; ++c) {
    S::store(v + (0 * 4 + c) * es, S::sub(w[0][c], w[2][c]));
    S::store(v + (1 * 4 + c) * es, S::add(w[1][c], w[2][c]));
    S::store(v + (2 * 4 + c) * es, S::sub(w[2][c], w[1][c]));
    S::store(v + (3 * 4 + c) * es, S::sub(w[1][c], w[3][c]));
  }
}

// The input transform of n tiles whose patches are gathered: d holds the 16
// values of every tile's 4x4 patch as 16 rows of ld values (row r*4+c:
// patch element (r, c)). In vectors of tiles, up to n rounded up to a whole
// vector (the rows must hold that many values).
template <class T>
void input_transform(const T* d, int64_t ld, int64_t n, T* v, int64_t es) {
  using S = gemm::Simd<T>;
  for (int64_t t = 0; t < n; t += S::L)
    input_transform_vector<T>([&](int k) { return S::load(d + k * ld + t); }, v + t, es);
}

// The output transform of n tiles (in whole vectors, as above): from M (16
// planes `ms` apart) the 2x2 outputs A^T M A of every tile, as 4 rows of ld
// values (row a*2+b: output (a, b) of the tile), plus bias.
template <class T>
void output_transform(const T* m, int64_t ms, int64_t n, T bias, T* y, int64_t ld) {
  using S = gemm::Simd<T>;
  using V = typename S::V;
  const V b = S::set1(bias);
  for (int64_t t = 0; t < n; t += S::L) {
    V s[2][4];
    for (int c = 0; c < 4; ++c) {
      const V m0 = S::load(m + (0 * 4 + c) * ms + t), m1 = S::load(m + (1 * 4 + c) * ms + t),
              m2 = S::load(m + (2 * 4 + c) * ms + t), m3 = S::load(m + (3 * 4 + c) * ms + t);
      s[0][c] = S::add(S::add(m0, m1), m2);
      s[1][c] = S::sub(S::sub(m1, m2), m3);
    }
    for (int a = 0; a < 2; ++a) {
      S::store(y + (a * 2 + 0) * ld + t, S::add(S::add(S::add(s[a][0], s[a][1]), s[a][2]), b));
      S::store(y + (a * 2 + 1) * ld + t, S::add(S::sub(S::sub(s[a][1], s[a][2]), s[a][3]), b));
    }
  }
}

// The tiles of a conv (as a forward conv with dims d): geometry, how a
// chunk of images is cut into them, and their input transform.
template <class T>
struct Tiles {
  static constexpr int NR = gemm::nr<T>();
  const Conv2dDims& d;
  int64_t th, tw, per_image, hw_in, hw_out;
  // Images whose tile rows are whole vectors (32x32 and up for float) read
  // their patches from de-interleaved rows; images of whole vectors of
  // tiles (8x8 and 16x16 for float) from eight de-interleaved planes; the
  // others (4x4) gather them through the index table.
  bool by_rows, by_planes;
  int64_t prow, cols;  // de-interleaved padded rows: prow rows of cols even and cols odd values
  // Where patch element (r, c) of tile t comes from (relative to the
  // chunk's first image's channel plane; -1: padding), and where output
  // (a, b) of tile t is (-1: past an odd edge), for chunks of `built_for`
  // images (only the last chunk may have fewer).
  std::vector<int32_t> src_idx, dst_idx;
  int64_t built_for = -1;

  explicit Tiles(const Conv2dDims& dims)
      : d(dims),
        th((dims.Hout + 1) / 2),
        tw((dims.Wout + 1) / 2),
        per_image(th * tw),
        hw_in(dims.H * dims.W),
        hw_out(dims.Hout * dims.Wout),
        by_rows(tw % gemm::Simd<T>::L == 0),
        by_planes(!by_rows && per_image % gemm::Simd<T>::L == 0),
        prow(2 * th + 2),
        cols(tw + 1) {}

  // Values of the scratch transform_input reads the patches from.
  int64_t rows_size() const {
    return by_rows ? 2 * prow * cols + 2 * cols : by_planes ? 8 * plane() + 2 * tw + 4 : 1;
  }
  // One de-interleaved plane (by_planes): th + 1 rows of tw values.
  int64_t plane() const { return (th + 1) * tw; }

  // Images per chunk for V rows of `channels` channels: about kChunkValues
  // values of V, in whole NR-tile panels where the image's tiles allow (8x8:
  // 16 tiles, so 4 images per panel).
  int64_t group(int64_t channels) const {
    const int64_t target =
        std::max<int64_t>(NR, kChunkValues / 16 / std::max<int64_t>(channels, 1) / NR * NR);
    return std::clamp<int64_t>(target / per_image, 1, std::max<int64_t>(d.N, 1));
  }
  // Tiles of ng images, padded to whole panels.
  int64_t padded(int64_t ng) const { return (ng * per_image + NR - 1) / NR * NR; }

  void build(int64_t ng) {
    if (built_for == ng) return;
    const int64_t n = ng * per_image;
    src_idx.assign(static_cast<size_t>(16 * n), -1);
    dst_idx.assign(static_cast<size_t>(4 * n), -1);
    for (int64_t t = 0; t < n; ++t) {
      const int64_t img = t / per_image, ty = t % per_image / tw, tx = t % per_image % tw;
      for (int64_t r = 0; r < 4; ++r)
        for (int64_t c = 0; c < 4; ++c) {
          const int64_t iy = 2 * ty + r - d.pad, ix = 2 * tx + c - d.pad;
          if (iy >= 0 && iy < d.H && ix >= 0 && ix < d.W)
            src_idx[static_cast<size_t>((r * 4 + c) * n + t)] =
                static_cast<int32_t>(img * d.Cin * hw_in + iy * d.W + ix);
        }
      for (int64_t a = 0; a < 2; ++a)
        for (int64_t b = 0; b < 2; ++b) {
          const int64_t oy = 2 * ty + a, ox = 2 * tx + b;
          if (oy < d.Hout && ox < d.Wout)
            dst_idx[static_cast<size_t>((a * 2 + b) * n + t)] =
                static_cast<int32_t>(img * d.Cout * hw_out + oy * d.Wout + ox);
        }
    }
    built_for = ng;
  }

  // V = B^T d B of input channels [c0, c1) of images [n0, n0 + ng) (after
  // build(ng)) into v: plane e at v + e * es, channel ci's row at
  // (ci - c0) * ldv;
  // the lanes past the tiles up to ld are zeroed. Scratch: rows (2 * prow *
  // cols values, by_rows only) and patch (16 rows of lp values, its lanes
  // past the tiles zero).
  void transform_input(const T* x, int64_t n0, int64_t ng, int64_t c0, int64_t c1, T* v, int64_t ldv,
                       int64_t es, int64_t ld, T* rows, T* patch, int64_t lp) const {
    const int64_t ntiles = ng * per_image;
    if (by_rows) {
      // Whole vectors of tiles per tile row: read the patches straight from
      // the de-interleaved padded rows (even and odd columns; tile column
      // tx reads even columns tx, tx+1 and odd columns tx, tx+1).
      T* ev = rows;
      T* od = rows + prow * cols;
      T* line = rows + 2 * prow * cols;  // one padded input row (2 cols values)
      for (int64_t img = 0; img < ng; ++img)
        for (int64_t ci = c0; ci < c1; ++ci) {
          const T* xs = x + ((n0 + img) * d.Cin + ci) * hw_in;
          for (int64_t py = 0; py < prow; ++py) {
            const int64_t iy = py - d.pad;
            T* e = ev + py * cols;
            T* o = od + py * cols;
            if (iy < 0 || iy >= d.H) {
              std::fill(e, e + cols, T(0));
              std::fill(o, o + cols, T(0));
              continue;
            }
            // e[j] = row[2j - pad], o[j] = row[2j + 1 - pad], zero outside
            // the row: the padded row in line, de-interleaved.
            const int64_t n = std::min(d.W, 2 * cols - d.pad);
            std::fill(line, line + d.pad, T(0));
            std::memcpy(line + d.pad, xs + iy * d.W, sizeof(T) * static_cast<size_t>(n));
            std::fill(line + d.pad + n, line + 2 * cols, T(0));
            deinterleave(line, cols, e, o);
          }
          T* vc = v + (ci - c0) * ldv + img * per_image;
          for (int64_t ty = 0; ty < th; ++ty)
            for (int64_t tx = 0; tx < tw; tx += gemm::Simd<T>::L) {
              const T* e = ev + 2 * ty * cols + tx;
              const T* o = od + 2 * ty * cols + tx;
              input_transform_vector<T>(
                  [&](int k) {
                    const int64_t at = (k / 4) * cols + (k % 4) / 2;
                    return gemm::Simd<T>::load((k % 2 == 0 ? e : o) + at);
                  },
                  vc + ty * tw + tx, es);
            }
        }
    } else if (by_planes) {
      // Plane (c, q) holds at [j * tw + tx] the padded input's element
      // (2j + q, 2tx + c): patch element (r, c) of tile t = ty * tw + tx is
      // then at [t + (r / 2) * tw] of plane (c, r % 2), so a vector of an
      // image's tiles is one load, however many tile rows it spans.
      const int64_t pl = plane();
      // One padded input row, zero outside the image: line[2 tx + c] is
      // padded column 2 tx + c (the 2 * tw + 4 values the planes read).
      T* line = rows + 8 * pl;
      const int64_t line_len = 2 * tw + 4;
      for (int64_t img = 0; img < ng; ++img)
        for (int64_t ci = c0; ci < c1; ++ci) {
          const T* xs = x + ((n0 + img) * d.Cin + ci) * hw_in;
          for (int64_t py = 0; py < prow; ++py) {
            const int64_t iy = py - d.pad;
            T* dst = rows + (py % 2) * pl + (py / 2) * tw;  // row py / 2 of plane (0, py % 2)
            if (iy < 0 || iy >= d.H) {
              for (int64_t c = 0; c < 4; ++c) std::fill(dst + 2 * c * pl, dst + 2 * c * pl + tw, T(0));
              continue;
            }
            const int64_t n = std::min(d.W, line_len - d.pad);
            std::fill(line, line + d.pad, T(0));
            std::memcpy(line + d.pad, xs + iy * d.W, sizeof(T) * static_cast<size_t>(n));
            std::fill(line + d.pad + n, line + line_len, T(0));
            deinterleave(line, tw, dst, dst + 2 * pl);               // c = 0, 1
            deinterleave(line + 2, tw, dst + 4 * pl, dst + 6 * pl);  // c = 2, 3
          }
          T* vc = v + (ci - c0) * ldv + img * per_image;
          for (int64_t t = 0; t < per_image; t += gemm::Simd<T>::L)
            input_transform_vector<T>(
                [&](int k) {
                  const int64_t r = k / 4, c = k % 4;
                  return gemm::Simd<T>::load(rows + (c * 2 + r % 2) * pl + (r / 2) * tw + t);
                },
                vc + t, es);
        }
    } else {
      // Gather each channel's patches through the index table, transform.
      for (int64_t ci = c0; ci < c1; ++ci) {
        const T* src = x + (n0 * d.Cin + ci) * hw_in;
        for (int64_t k = 0; k < 16; ++k)
          gemm::gather_run(patch + k * lp, src, src_idx.data() + k * ntiles, ntiles);
        input_transform(patch, lp, ntiles, v + (ci - c0) * ldv, es);
      }
    }
    // Lanes past the chunk's tiles: zero, so that what they compute stays finite.
    if (ld > ntiles)
      for (int64_t e = 0; e < 16; ++e)
        for (int64_t ci = c0; ci < c1; ++ci) {
          T* p = v + e * es + (ci - c0) * ldv;
          std::fill(p + ntiles, p + ld, T(0));
        }
  }
};

// The convolution (as a forward conv with dims d) of x by the transformed
// kernel u, plus bias (may be null), into y. With ub (float only: the 16
// U_e packed by pack_u_bf16, so rounded to BF16) the 16 GEMMs run on BF16
// operands instead: each chunk's V_e is rounded to BF16 as it is packed, and
// the sums stay FP32 (--precision bf16; kernels/cpu/conv2d_bf16.cpp).
template <class T>
void convolve(const T* x, const T* u, const T* bias, T* y, const Conv2dDims& d,
              const uint16_t* ub = nullptr) {
  constexpr int NR = gemm::nr<T>();
  const Tiles<T> geo(d);
  // At least one chunk per thread (a batch of 16 at 4x4 would otherwise be
  // one chunk on one thread). Each output's sums do not depend on the chunk
  // it falls in, so neither do the results.
  const int64_t group = std::min(geo.group(std::max(d.Cin, d.Cout)),
                                 std::max<int64_t>(1, (d.N + num_threads() - 1) / num_threads()));
  const int64_t chunks = (d.N + group - 1) / group;
  const int64_t ld_max = geo.padded(group);
  const int64_t flops = 2 * d.N * d.Cout * geo.hw_out * d.Cin * 9;
  const int threads =
      flops < (int64_t{1} << 21) ? 1 : static_cast<int>(std::min<int64_t>(num_threads(), chunks));
  // Rows ld + 16 apart and planes 32 more than their rows: strides that are
  // multiples of 4 KB would put the 16 planes' streams (and a GEMM's B rows)
  // into the same few L1 sets.
  const int64_t es_max = d.Cin * (ld_max + 16) + 32, ms_max = d.Cout * (ld_max + 16) + 32;
  run_on_threads(threads, [&](int t, int nt) {
    const Range r = thread_range(chunks, t, nt);
    if (r.begin == r.end) return;
    Tiles<T> tiles(d);
    auto v = scratch<T>(16 * es_max);
    auto m = scratch<T>(16 * ms_max);
    auto patch = scratch<T>(16 * (ld_max + 16));  // one channel's 4x4 patches, 16 rows
    auto rows = scratch<T>(tiles.rows_size());
    std::vector<T> tile_row(static_cast<size_t>(2 * tiles.tw));
    auto outs = scratch<T>(4 * (ld_max + 16));  // one channel's 2x2 outputs, 4 rows
    // The transforms run in whole vectors: patch lanes past a chunk's tiles
    // are never gathered into, so they stay zero.
    std::fill(patch.get(), patch.get() + 16 * (ld_max + 16), T(0));
    std::vector<int64_t> boff(static_cast<size_t>(d.Cin));
    auto vb = scratch<uint16_t>(ub ? bf16gemm::packed_b_size(d.Cin, ld_max) : 1);
    const int64_t ub_stride = bf16gemm::packed_a_size(d.Cout, d.Cin);
    for (int64_t c = r.begin; c < r.end; ++c) {
      const int64_t n0 = c * group, ng = std::min(group, d.N - n0);
      const int64_t ntiles = ng * tiles.per_image, ld = tiles.padded(ng);
      const int64_t ldv = ld + 16, es = d.Cin * ldv + 32, ms = d.Cout * ldv + 32, lp = ld + 16;
      for (int64_t i = 0; i < d.Cin; ++i) boff[static_cast<size_t>(i)] = i * ldv;
      tiles.build(ng);
      tiles.transform_input(x, n0, ng, 0, d.Cin, v.get(), ldv, es, ld, rows.get(), patch.get(), lp);
      // 16 GEMMs: M_e [Cout, ld] = U_e [Cout, Cin] . V_e [Cin, ld].
      for (int64_t e = 0; e < 16; ++e) {
        const T* ue = u + e * d.Cout * d.Cin;
        const T* ve = v.get() + e * es;
        T* me = m.get() + e * ms;
        if constexpr (std::is_same_v<T, float>) {
          if (ub) {
            bf16gemm::pack_b(d.Cin, ld, ve, ldv, 1, vb.get());
            bf16gemm::gemm(d.Cout, ld, d.Cin, ub + e * ub_stride, vb.get(), me, ldv, false);
            continue;
          }
        }
        for (int64_t j = 0; j < ld; j += NR)
          for (int64_t co = 0; co < d.Cout; co += gemm::kMr) {
            const int mr = static_cast<int>(std::min<int64_t>(gemm::kMr, d.Cout - co));
            gemm::micro_kernel_indirect_rows<T>(mr, d.Cin, ue + co * d.Cin, d.Cin, ve + j, boff.data(),
                                                me + co * ldv + j, ldv, false);
          }
      }
      // Output transform, one channel at a time, into y.
      const int64_t hw_out = tiles.hw_out, th = tiles.th, tw = tiles.tw;
      T* yc = y + n0 * d.Cout * hw_out;
      for (int64_t co = 0; co < d.Cout; ++co) {
        output_transform(m.get() + co * ldv, ms, ntiles, bias ? bias[co] : T(0), outs.get(), lp);
        T* yo = yc + co * hw_out;
        if (tiles.by_rows) {
          // Two output rows per tile row: outputs (a, 0) and (a, 1) interleaved.
          for (int64_t img = 0; img < ng; ++img)
            for (int64_t ty = 0; ty < th; ++ty)
              for (int64_t a = 0; a < 2 && 2 * ty + a < d.Hout; ++a) {
                const T* o0 = outs.get() + (a * 2) * lp + img * tiles.per_image + ty * tw;
                const T* o1 = o0 + lp;
                T* row = tile_row.data();
                for (int64_t tx = 0; tx < tw; ++tx) {
                  row[2 * tx] = o0[tx];
                  row[2 * tx + 1] = o1[tx];
                }
                std::memcpy(yo + img * d.Cout * hw_out + (2 * ty + a) * d.Wout, row, sizeof(T) * d.Wout);
              }
          continue;
        }
        for (int64_t k = 0; k < 4; ++k) {
          const T* o = outs.get() + k * lp;
          const int32_t* di = tiles.dst_idx.data() + k * ntiles;
          for (int64_t tt = 0; tt < ntiles; ++tt)
            if (di[tt] >= 0) yo[di[tt]] = o[tt];
        }
      }
    }
  });
}

// The weight gradient by the same tiles: with U = G g G^T the forward is
// Y = A^T (U (.) V) A per tile, so
//   dL/dU = (A dY A^T) (.) V  and  dL/dg = G^T (dL/dU) G,
// summed over tiles and images: per position e of the 4x4 transform a GEMM
//   M_e^T [Cin, Cout] += V_e [Cin, tiles] . Wg_e^T [tiles, Cout],  Wg = A dY A^T,
// with K = the tiles (long), then gW = G^T M G. Threads split the input
// channels: each transforms its channels' V and the whole Wg (every thread
// computes it), and runs its rows of the 16 GEMMs, chunk after chunk, so
// threads share no transform and never wait for each other, and every sum
// runs over the chunks in order whatever the thread count. (Splitting the
// transforms and then the 16 GEMMs between threads needed two barriers per
// chunk and moved each chunk's transforms between cores: on the 2-vCPU AMD
// EPYC that made this gradient twice as slow in the phases where the other
// core was slow to answer.) bf16 (float only): the GEMMs round V_e and Wg_e
// to BF16 as they pack them and sum in FP32 (--precision bf16).
template <class T>
void bwd_weight(const T* x, const T* gy, T* grad_w, const Conv2dDims& d, bool bf16 = false) {
  constexpr int NR = gemm::nr<T>(), L = gemm::Simd<T>::L;
  const Tiles<T> geo(d);
  const int64_t group = geo.group(std::max(d.Cin, d.Cout));
  const int64_t chunks = (d.N + group - 1) / group;
  const int64_t ld_max = geo.padded(group);
  const int64_t flops = 2 * d.N * d.Cout * geo.hw_out * d.Cin * 9;
  // At least 8 input channels per thread.
  const int threads = flops < (int64_t{1} << 21)
                          ? 1
                          : static_cast<int>(std::clamp<int64_t>(d.Cin / 8, 1, std::min(num_threads(), 16)));
  auto acc = scratch<T>(16 * d.Cin * d.Cout);  // M_e^T [Cin][Cout]
  std::fill(acc.get(), acc.get() + 16 * d.Cin * d.Cout, T(0));
  run_on_threads(threads, [&](int t, int nt) {
    const Range ci = thread_range(d.Cin, t, nt);
    const int64_t nci = ci.end - ci.begin;
    if (nci == 0) return;
    Tiles<T> tiles(d);
    const int64_t es_max = nci * (ld_max + 16) + 32, gs_max = d.Cout * (ld_max + 16) + 32;
    auto v = scratch<T>(16 * es_max);  // V_e of the chunk, this thread's channels
    auto g = scratch<T>(16 * gs_max);  // Wg_e of the chunk
    auto patch = scratch<T>(16 * (ld_max + 16));
    std::fill(patch.get(), patch.get() + 16 * (ld_max + 16), T(0));
    auto rows = scratch<T>(tiles.rows_size());
    auto bbuf = scratch<T>(gemm::packed_b_size<T>());
    auto line = scratch<T>(2 * tiles.tw);  // an output row of odd width, zero-extended
    auto va = scratch<uint16_t>(bf16 ? bf16gemm::packed_a_size(nci, ld_max) : 1);
    auto gb = scratch<uint16_t>(bf16 ? bf16gemm::packed_b_size(ld_max, d.Cout) : 1);
    for (int64_t c = 0; c < chunks; ++c) {
      const int64_t n0 = c * group, ng = std::min(group, d.N - n0);
      const int64_t ntiles = ng * tiles.per_image, ld = tiles.padded(ng);
      const int64_t ldv = ld + 16, es = nci * ldv + 32, gs = d.Cout * ldv + 32, lp = ld + 16;
      tiles.build(ng);
      tiles.transform_input(x, n0, ng, ci.begin, ci.end, v.get(), ldv, es, ld, rows.get(), patch.get(), lp);
      // Wg = A dY A^T, A = [1 0; 1 1; 1 -1; 0 -1], every output channel.
      using S = gemm::Simd<T>;
      using V = typename S::V;
      for (int64_t o = 0; o < d.Cout; ++o) {
        // dY (a, b) of every tile into patch row a * 2 + b: each output row
        // de-interleaved into its even and odd columns (zero past an odd edge).
        for (int64_t img = 0; img < ng; ++img) {
          const T* gimg = gy + ((n0 + img) * d.Cout + o) * tiles.hw_out;
          for (int64_t oy = 0; oy < 2 * tiles.th; ++oy) {
            T* pe = patch.get() + (oy % 2) * 2 * lp + img * tiles.per_image + (oy / 2) * tiles.tw;
            T* po = pe + lp;
            if (oy >= d.Hout) {
              std::fill(pe, pe + tiles.tw, T(0));
              std::fill(po, po + tiles.tw, T(0));
            } else if (d.Wout == 2 * tiles.tw) {
              deinterleave(gimg + oy * d.Wout, tiles.tw, pe, po);
            } else {
              std::memcpy(line.get(), gimg + oy * d.Wout, sizeof(T) * static_cast<size_t>(d.Wout));
              line[d.Wout] = T(0);
              deinterleave(line.get(), tiles.tw, pe, po);
            }
          }
        }
        T* gd = g.get() + o * ldv;
        for (int64_t tt = 0; tt < ntiles; tt += L) {
          V y[2][2];
          for (int a = 0; a < 2; ++a)
            for (int b = 0; b < 2; ++b) y[a][b] = S::load(patch.get() + (a * 2 + b) * lp + tt);
          V h[2][4];  // rows of dY A^T
          for (int a = 0; a < 2; ++a) {
            h[a][0] = y[a][0];
            h[a][1] = S::add(y[a][0], y[a][1]);
            h[a][2] = S::sub(y[a][0], y[a][1]);
            h[a][3] = S::sub(S::zero(), y[a][1]);
          }
          for (int jj = 0; jj < 4; ++jj) {
            S::store(gd + (0 * 4 + jj) * gs + tt, h[0][jj]);
            S::store(gd + (1 * 4 + jj) * gs + tt, S::add(h[0][jj], h[1][jj]));
            S::store(gd + (2 * 4 + jj) * gs + tt, S::sub(h[0][jj], h[1][jj]));
            S::store(gd + (3 * 4 + jj) * gs + tt, S::sub(S::zero(), h[1][jj]));
          }
        }
        if (ld > ntiles)
          for (int64_t e = 0; e < 16; ++e) std::fill(gd + e * gs + ntiles, gd + e * gs + ld, T(0));
      }
      // This thread's rows of the 16 GEMMs: M_e^T += V_e . Wg_e^T (K = the chunk's tiles).
      for (int64_t e = 0; e < 16; ++e) {
        const T* ve = v.get() + e * es;
        const T* ge = g.get() + e * gs;
        T* me = acc.get() + e * d.Cin * d.Cout + ci.begin * d.Cout;
        if constexpr (std::is_same_v<T, float>) {
          if (bf16) {
            bf16gemm::pack_a(nci, ld, ve, ldv, 1, va.get());
            bf16gemm::pack_b(ld, d.Cout, ge, 1, ldv, gb.get());  // Wg_e^T
            bf16gemm::gemm(nci, d.Cout, ld, va.get(), gb.get(), me, d.Cout, true);
            continue;
          }
        }
        gemm::gemm<T>(
            nci, d.Cout, ld, 120,
            [&](int64_t ic, int64_t, int64_t pc, int64_t) { return std::pair(ve + ic * ldv + pc, ldv); },
            [&](int64_t pc, int64_t kc, int64_t jc, int64_t nc, T* dst) {
              // Wg_e^T panels: dst[(n / NR) * kc * NR + k * NR + n % NR] = Wg_e[jc + n][pc + k],
              // zero in the lanes past nc of the last vector. By square
              // register tiles where whole (value by value, the strided
              // stores were a third of the 96 -> 32 @32 gradient's time).
              constexpr int64_t tt = gemm::kTransposeTile<T>;
              const int64_t width = (nc + L - 1) / L * L;
              for (int64_t nb = 0; nb < width; nb += tt)
                for (int64_t k0 = 0; k0 < kc; k0 += tt) {
                  if (NR % tt == 0 && nb + tt <= nc && k0 + tt <= kc) {
                    gemm::transpose_tile(ge + (jc + nb) * ldv + pc + k0, ldv,
                                         dst + (nb / NR) * kc * NR + k0 * NR + nb % NR, NR, false);
                    continue;
                  }
                  for (int64_t n = nb; n < std::min(nb + tt, width); ++n)
                    for (int64_t k = k0; k < std::min(k0 + tt, kc); ++k)
                      dst[(n / NR) * kc * NR + k * NR + n % NR] = n < nc ? ge[(jc + n) * ldv + pc + k] : T(0);
                }
            },
            [](int64_t, int64_t) {}, me, d.Cout, true, bbuf.get());
      }
    }
  });
  // gW = G^T M G per (co, ci), G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1].
  parallel_for(d.Cout, d.Cin * 64, [&](int64_t o) {
    for (int64_t i = 0; i < d.Cin; ++i) {
      T m[4][4];
      for (int a = 0; a < 4; ++a)
        for (int b = 0; b < 4; ++b) m[a][b] = acc.get()[((a * 4 + b) * d.Cin + i) * d.Cout + o];
      T t[4][3];  // M G
      for (int a = 0; a < 4; ++a) {
        t[a][0] = m[a][0] + T(0.5) * (m[a][1] + m[a][2]);
        t[a][1] = T(0.5) * (m[a][1] - m[a][2]);
        t[a][2] = T(0.5) * (m[a][1] + m[a][2]) + m[a][3];
      }
      T* gw = grad_w + (o * d.Cin + i) * 9;
      for (int kw = 0; kw < 3; ++kw) {
        gw[0 * 3 + kw] = t[0][kw] + T(0.5) * (t[1][kw] + t[2][kw]);
        gw[1 * 3 + kw] = T(0.5) * (t[1][kw] - t[2][kw]);
        gw[2 * 3 + kw] = T(0.5) * (t[1][kw] + t[2][kw]) + t[3][kw];
      }
    }
  });
}

}  // namespace ddpm::kernels::cpu::winograd
