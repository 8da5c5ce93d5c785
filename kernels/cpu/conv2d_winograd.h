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
// place (micro_kernel_indirect with a fixed row stride). The input transform
// works on de-interleaved rows (even and odd columns of the padded input) so
// that the tiles of a vector are contiguous loads; the output transform
// writes two output rows per tile row.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/conv2d.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/packed_gemm.h"
#include "kernels/cpu/parallel.h"

namespace ddpm::kernels::cpu::winograd {

// Values of V (16 x Cin x tiles) one chunk aims at: with Cin = 32 a chunk is
// 512 tiles, 2 images at 32x32.
constexpr int64_t kChunkValues = 256 * 1024;

// Whether Winograd F(2x2, 3x3) can compute this convolution (given as a
// forward conv: for bwd-data, the full correlation's geometry).
inline bool applies(const Conv2dDims& d) {
  return d.K == 3 && d.stride == 1 && d.pad <= 2 && d.Hout >= 2 && d.Wout >= 2;
}

// U [16][Cout][Cin] from a [Cout][Cin][3][3] kernel; flip: the kernel of the
// full correlation (bwd-data), whose weight (o, i, kh, kw) is
// w[i][o][2-kh][2-kw] of the given [Cin][Cout][3][3] tensor.
template <class T>
void transform_weights(const T* w, int64_t cout, int64_t cin, bool flip, T* u) {
  parallel_for(cout, cin * 64, [&](int64_t o) {
    for (int64_t i = 0; i < cin; ++i) {
      T g[3][3];
      for (int kh = 0; kh < 3; ++kh)
        for (int kw = 0; kw < 3; ++kw)
          g[kh][kw] =
              flip ? w[((i * cout + o) * 3 + (2 - kh)) * 3 + (2 - kw)] : w[((o * cin + i) * 3 + kh) * 3 + kw];
      // G g: 4x3.
      T t[4][3];
      for (int c = 0; c < 3; ++c) {
        t[0][c] = g[0][c];
        t[1][c] = T(0.5) * (g[0][c] + g[1][c] + g[2][c]);
        t[2][c] = T(0.5) * (g[0][c] - g[1][c] + g[2][c]);
        t[3][c] = g[2][c];
      }
      // (G g) G^T: 4x4.
      for (int r = 0; r < 4; ++r) {
        const T v[4] = {t[r][0], T(0.5) * (t[r][0] + t[r][1] + t[r][2]), T(0.5) * (t[r][0] - t[r][1] + t[r][2]),
                        t[r][2]};
        for (int c = 0; c < 4; ++c) u[((r * 4 + c) * cout + o) * cin + i] = v[c];
      }
    }
  });
}

// One tile row of the input transform: the 16 values of V for tiles
// [0, tw) from the de-interleaved padded rows (e: even columns, o: odd; 4
// rows `cols` apart), into v (the 16 planes `es` apart).
template <class T>
void input_tile_row(const T* __restrict e, const T* __restrict o, int64_t cols, T* __restrict v, int64_t es,
                    int64_t tw) {
  for (int64_t tx = 0; tx < tw; ++tx) {
    // d[r][0..3] = e_r[tx], o_r[tx], e_r[tx+1], o_r[tx+1]; the rows of d B.
    T w[4][4];
    for (int r = 0; r < 4; ++r) {
      const T a0 = e[r * cols + tx], a1 = o[r * cols + tx], a2 = e[r * cols + tx + 1], a3 = o[r * cols + tx + 1];
      w[r][0] = a0 - a2;
      w[r][1] = a1 + a2;
      w[r][2] = a2 - a1;
      w[r][3] = a1 - a3;
    }
    for (int c = 0; c < 4; ++c) {
      v[(0 * 4 + c) * es + tx] = w[0][c] - w[2][c];
      v[(1 * 4 + c) * es + tx] = w[1][c] + w[2][c];
      v[(2 * 4 + c) * es + tx] = w[2][c] - w[1][c];
      v[(3 * 4 + c) * es + tx] = w[1][c] - w[3][c];
    }
  }
}

// One tile row of the output transform: from M (16 planes `ms` apart) the
// two output rows y0, y1 of tiles [0, tw) (2*tw values each), plus b.
template <class T>
void output_tile_row(const T* __restrict m, int64_t ms, T b, T* __restrict y0, T* __restrict y1, int64_t tw) {
  for (int64_t tx = 0; tx < tw; ++tx) {
    T s[2][4];
    for (int c = 0; c < 4; ++c) {
      const T m0 = m[(0 * 4 + c) * ms + tx], m1 = m[(1 * 4 + c) * ms + tx], m2 = m[(2 * 4 + c) * ms + tx],
              m3 = m[(3 * 4 + c) * ms + tx];
      s[0][c] = m0 + m1 + m2;
      s[1][c] = m1 - m2 - m3;
    }
    y0[2 * tx] = s[0][0] + s[0][1] + s[0][2] + b;
    y0[2 * tx + 1] = s[0][1] - s[0][2] - s[0][3] + b;
    y1[2 * tx] = s[1][0] + s[1][1] + s[1][2] + b;
    y1[2 * tx + 1] = s[1][1] - s[1][2] - s[1][3] + b;
  }
}

// The convolution (as a forward conv with dims d) of x by the transformed
// kernel u, plus bias (may be null), into y.
template <class T>
void convolve(const T* x, const T* u, const T* bias, T* y, const Conv2dDims& d) {
  constexpr int NR = gemm::nr<T>();
  const int64_t th = (d.Hout + 1) / 2, tw = (d.Wout + 1) / 2, tiles_img = th * tw;
  const int64_t hw_in = d.H * d.W, hw_out = d.Hout * d.Wout;
  // Images per chunk: about kChunkValues of V, in whole NR-tile panels where
  // the image's tiles allow (8x8: 16 tiles, so 4 images per panel).
  const int64_t tiles_target = std::max<int64_t>(NR, kChunkValues / 16 / std::max<int64_t>(d.Cin, 1) / NR * NR);
  const int64_t group = std::clamp<int64_t>(tiles_target / tiles_img, 1, std::max<int64_t>(d.N, 1));
  const int64_t chunks = (d.N + group - 1) / group;
  const int64_t ld_max = (group * tiles_img + NR - 1) / NR * NR;  // tiles per V_e row, whole panels
  const int64_t flops = 2 * d.N * d.Cout * hw_out * d.Cin * 9;
  const int threads =
      flops < (int64_t{1} << 21) ? 1 : static_cast<int>(std::min<int64_t>(num_threads(), chunks));
  // Rows ld + 16 apart and planes 32 more than their rows: strides that are
  // multiples of 4 KB would put the 16 planes' streams (and a GEMM's B rows)
  // into the same few L1 sets.
  const int64_t es_max = d.Cin * (ld_max + 16) + 32, ms_max = d.Cout * (ld_max + 16) + 32;
  // Padded rows (2*th + 2) de-interleaved into even and odd columns: tile
  // column tx reads even columns tx, tx+1 and odd columns tx, tx+1.
  const int64_t prow = 2 * th + 2, cols = tw + 1;
  run_on_threads(threads, [&](int t, int nt) {
    const Range r = thread_range(chunks, t, nt);
    if (r.begin == r.end) return;
    auto v = scratch<T>(16 * es_max);
    auto m = scratch<T>(16 * ms_max);
    auto rows = scratch<T>(2 * prow * cols);
    std::vector<T> y0(static_cast<size_t>(2 * tw)), y1(static_cast<size_t>(2 * tw));
    std::vector<int64_t> boff(static_cast<size_t>(d.Cin));
    for (int64_t c = r.begin; c < r.end; ++c) {
      const int64_t n0 = c * group, ng = std::min(group, d.N - n0);
      const int64_t ntiles = ng * tiles_img, ld = (ntiles + NR - 1) / NR * NR;
      const int64_t ldv = ld + 16, es = d.Cin * ldv + 32, ms = d.Cout * ldv + 32;
      for (int64_t i = 0; i < d.Cin; ++i) boff[static_cast<size_t>(i)] = i * ldv;
      // Input transform.
      T* ev = rows.get();
      T* od = rows.get() + prow * cols;
      for (int64_t img = 0; img < ng; ++img)
        for (int64_t ci = 0; ci < d.Cin; ++ci) {
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
            // e[j] = row[2j - pad], o[j] = row[2j + 1 - pad], zero outside the row.
            const T* src = xs + iy * d.W - d.pad;
            const int64_t e0 = (d.pad + 1) / 2, e1 = std::min(cols, (d.W + d.pad + 1) / 2);
            const int64_t o0 = d.pad / 2, o1 = std::min(cols, (d.W + d.pad) / 2);
            std::fill(e, e + e0, T(0));
            for (int64_t j = e0; j < e1; ++j) e[j] = src[2 * j];
            std::fill(e + e1, e + cols, T(0));
            std::fill(o, o + o0, T(0));
            for (int64_t j = o0; j < o1; ++j) o[j] = src[2 * j + 1];
            std::fill(o + o1, o + cols, T(0));
          }
          T* vc = v.get() + ci * ldv + img * tiles_img;
          for (int64_t ty = 0; ty < th; ++ty)
            input_tile_row(ev + 2 * ty * cols, od + 2 * ty * cols, cols, vc + ty * tw, es, tw);
        }
      // Lanes past the chunk's tiles: zero, so that what they compute stays finite.
      if (ld > ntiles)
        for (int64_t e = 0; e < 16; ++e)
          for (int64_t ci = 0; ci < d.Cin; ++ci) {
            T* p = v.get() + e * es + ci * ldv;
            std::fill(p + ntiles, p + ld, T(0));
          }
      // 16 GEMMs: M_e [Cout, ld] = U_e [Cout, Cin] . V_e [Cin, ld].
      for (int64_t e = 0; e < 16; ++e) {
        const T* ue = u + e * d.Cout * d.Cin;
        const T* ve = v.get() + e * es;
        T* me = m.get() + e * ms;
        for (int64_t j = 0; j < ld; j += NR)
          for (int64_t co = 0; co < d.Cout; co += gemm::kMr) {
            const int mr = static_cast<int>(std::min<int64_t>(gemm::kMr, d.Cout - co));
            gemm::micro_kernel_indirect_rows<T>(mr, d.Cin, ue + co * d.Cin, d.Cin, ve + j, boff.data(),
                                                me + co * ldv + j, ldv, false);
          }
      }
      // Output transform: Y = A^T M A, two output rows per tile row.
      for (int64_t img = 0; img < ng; ++img)
        for (int64_t co = 0; co < d.Cout; ++co) {
          const T* mc = m.get() + co * ldv + img * tiles_img;
          T* ys = y + ((n0 + img) * d.Cout + co) * hw_out;
          for (int64_t ty = 0; ty < th; ++ty) {
            output_tile_row(mc + ty * tw, ms, bias ? bias[co] : T(0), y0.data(), y1.data(), tw);
            const int64_t oy = 2 * ty;
            std::memcpy(ys + oy * d.Wout, y0.data(), sizeof(T) * d.Wout);
            if (oy + 1 < d.Hout) std::memcpy(ys + (oy + 1) * d.Wout, y1.data(), sizeof(T) * d.Wout);
          }
        }
    }
  });
}

}  // namespace ddpm::kernels::cpu::winograd
