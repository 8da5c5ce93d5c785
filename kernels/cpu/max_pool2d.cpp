// CPU max pooling: one task per (n, c) plane; the backward zeroes its plane
// of gx and writes each window's gradient to the recomputed argmax.
// clang-format off
#include "tensor/gcc12_intrinsics.h"  // first: before any AVX-512 header
// clang-format on

#include "kernels/max_pool2d.h"

#include <algorithm>
#include <cmath>
#include <type_traits>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "kernels/cpu/parallel.h"

namespace ddpm::kernels::cpu {

namespace {
// Offset (within the plane) of the window's maximum: first in row-major order,
// NaN wins (the comparison PyTorch uses).
template <class T>
int64_t window_argmax(const T* plane, int64_t i, int64_t j, const MaxPool2dDims& d) {
  int64_t best = i * d.k * d.w + j * d.k;
  T best_v = plane[best];
  for (int64_t a = 0; a < d.k; ++a) {
    const int64_t row = (i * d.k + a) * d.w + j * d.k;
    for (int64_t b = 0; b < d.k; ++b) {
      const T v = plane[row + b];
      if (v > best_v || std::isnan(v)) {
        best_v = v;
        best = row + b;
      }
    }
  }
  return best;
}
}  // namespace

// The 2x2 windows (the UNet's pooling), branch-free so that the compiler
// vectorises them: the same result as window_argmax (the first maximum in
// row-major order; a NaN replaces the best so far, so the last NaN wins).
template <class T>
inline int argmax2x2(T a0, T a1, T b0, T b1, T& best) {
  int idx = 0;
  best = a0;
  const T v[3] = {a1, b0, b1};
  for (int k = 0; k < 3; ++k) {
    const bool take = v[k] > best || v[k] != v[k];
    best = take ? v[k] : best;
    idx = take ? k + 1 : idx;
  }
  return idx;
}

#if defined(__AVX512F__)
// The backward of 16 2x2 windows at once. t and b hold the windows' upper
// and lower rows (32 values each, in two vectors: the pairs of each window
// side by side), g their 16 gradients; on return t and b hold what gx gets
// there: the gradient at the window's argmax (argmax2x2's rule), zero
// elsewhere.
inline void pool2x2_bwd16(__m512& t_lo, __m512& t_hi, __m512& b_lo, __m512& b_hi, __m512 g) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  const __m512 v[3] = {_mm512_permutex2var_ps(t_lo, odd, t_hi), _mm512_permutex2var_ps(b_lo, even, b_hi),
                       _mm512_permutex2var_ps(b_lo, odd, b_hi)};
  __m512 best = _mm512_permutex2var_ps(t_lo, even, t_hi);
  __mmask16 take[3];
  for (int k = 0; k < 3; ++k) {
    take[k] = static_cast<__mmask16>(_mm512_cmp_ps_mask(v[k], best, _CMP_GT_OQ) |
                                     _mm512_cmp_ps_mask(v[k], v[k], _CMP_UNORD_Q));
    best = _mm512_mask_mov_ps(best, take[k], v[k]);
  }
  // The last taker wins.
  const __mmask16 at3 = take[2], at2 = static_cast<__mmask16>(take[1] & ~at3),
                  at1 = static_cast<__mmask16>(take[0] & ~take[1] & ~at3),
                  at0 = static_cast<__mmask16>(~(take[0] | take[1] | at3));
  const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  const __m512 o0 = _mm512_maskz_mov_ps(at0, g), o1 = _mm512_maskz_mov_ps(at1, g);
  const __m512 o2 = _mm512_maskz_mov_ps(at2, g), o3 = _mm512_maskz_mov_ps(at3, g);
  t_lo = _mm512_permutex2var_ps(o0, lo, o1);
  t_hi = _mm512_permutex2var_ps(o0, hi, o1);
  b_lo = _mm512_permutex2var_ps(o2, lo, o3);
  b_hi = _mm512_permutex2var_ps(o2, hi, o3);
}

// The backward of a float plane by 16 windows at a time where the plane's
// shape allows (even width with no column left out; 16+ windows per row, or
// 8 or 4 per row taking 2 or 4 window rows at once); returns the window rows
// [0, rows_done) it wrote, and from which column in the last of them it
// stopped (the rest is left to the scalar loop).
inline int64_t pool2x2_bwd_plane_avx512(const float* xp, const float* gp, float* op, const MaxPool2dDims& d,
                                        int64_t& cols_done) {
  cols_done = 0;
  if (d.w != 2 * d.ow) return 0;
  if (d.ow >= 16) {
    cols_done = d.ow / 16 * 16;
    for (int64_t i = 0; i < d.oh; ++i) {
      const float* r0 = xp + 2 * i * d.w;
      float* o0 = op + 2 * i * d.w;
      for (int64_t j = 0; j < cols_done; j += 16) {
        __m512 t_lo = _mm512_loadu_ps(r0 + 2 * j), t_hi = _mm512_loadu_ps(r0 + 2 * j + 16);
        __m512 b_lo = _mm512_loadu_ps(r0 + d.w + 2 * j), b_hi = _mm512_loadu_ps(r0 + d.w + 2 * j + 16);
        pool2x2_bwd16(t_lo, t_hi, b_lo, b_hi, _mm512_loadu_ps(gp + i * d.ow + j));
        _mm512_storeu_ps(o0 + 2 * j, t_lo);
        _mm512_storeu_ps(o0 + 2 * j + 16, t_hi);
        _mm512_storeu_ps(o0 + d.w + 2 * j, b_lo);
        _mm512_storeu_ps(o0 + d.w + 2 * j + 16, b_hi);
      }
    }
    return d.ow == cols_done ? d.oh : 0;  // with a remainder the scalar loop finishes every row
  }
  if (d.ow != 8 && d.ow != 4) return 0;
  // 16 windows are 16 / ow window rows: 64 consecutive values of x (rows
  // of 16 (ow 8): upper rows v0, v2, lower v1, v3; rows of 8 (ow 4): each
  // vector two rows, upper and lower halves regrouped by 256-bit lanes).
  const int64_t per = 16 / d.ow, blocks = d.oh / per;
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const float* src = xp + blk * 64;
    float* dst = op + blk * 64;
    __m512 v[4];
    for (int q = 0; q < 4; ++q) v[q] = _mm512_loadu_ps(src + 16 * q);
    __m512 t_lo, t_hi, b_lo, b_hi;
    if (d.ow == 8) {
      t_lo = v[0], b_lo = v[1], t_hi = v[2], b_hi = v[3];
    } else {
      t_lo = _mm512_shuffle_f32x4(v[0], v[1], 0x44);
      b_lo = _mm512_shuffle_f32x4(v[0], v[1], 0xee);
      t_hi = _mm512_shuffle_f32x4(v[2], v[3], 0x44);
      b_hi = _mm512_shuffle_f32x4(v[2], v[3], 0xee);
    }
    pool2x2_bwd16(t_lo, t_hi, b_lo, b_hi, _mm512_loadu_ps(gp + blk * 16));
    if (d.ow == 8) {
      v[0] = t_lo, v[1] = b_lo, v[2] = t_hi, v[3] = b_hi;
    } else {
      v[0] = _mm512_shuffle_f32x4(t_lo, b_lo, 0x44);
      v[1] = _mm512_shuffle_f32x4(t_lo, b_lo, 0xee);
      v[2] = _mm512_shuffle_f32x4(t_hi, b_hi, 0x44);
      v[3] = _mm512_shuffle_f32x4(t_hi, b_hi, 0xee);
    }
    for (int q = 0; q < 4; ++q) _mm512_storeu_ps(dst + 16 * q, v[q]);
  }
  return blocks * per;
}
#endif

template <class T>
void max_pool2d_fwd(const T* x, T* y, const MaxPool2dDims& d) {
  if (d.k == 2) {
    parallel_for(d.planes, d.h * d.w, [&](int64_t p) {
      const T* xp = x + p * d.h * d.w;
      T* yp = y + p * d.oh * d.ow;
      for (int64_t i = 0; i < d.oh; ++i) {
        const T* r0 = xp + 2 * i * d.w;
        const T* r1 = r0 + d.w;
        T* o = yp + i * d.ow;
        for (int64_t j = 0; j < d.ow; ++j) {
          T best;
          argmax2x2(r0[2 * j], r0[2 * j + 1], r1[2 * j], r1[2 * j + 1], best);
          o[j] = best;
        }
      }
    });
    return;
  }
  parallel_for(d.planes, d.h * d.w, [&](int64_t p) {
    const T* xp = x + p * d.h * d.w;
    T* yp = y + p * d.oh * d.ow;
    for (int64_t i = 0; i < d.oh; ++i)
      for (int64_t j = 0; j < d.ow; ++j) yp[i * d.ow + j] = xp[window_argmax(xp, i, j, d)];
  });
}

template <class T>
void max_pool2d_bwd(const T* x, const T* g, T* gx, const MaxPool2dDims& d) {
  if (d.k == 2) {
    parallel_for(d.planes, d.h * d.w, [&](int64_t p) {
      const T* xp = x + p * d.h * d.w;
      const T* gp = g + p * d.oh * d.ow;
      T* op = gx + p * d.h * d.w;
      int64_t rows_done = 0, cols_done = 0;
#if defined(__AVX512F__)
      if constexpr (std::is_same_v<T, float>) rows_done = pool2x2_bwd_plane_avx512(xp, gp, op, d, cols_done);
#endif
      for (int64_t i = rows_done; i < d.oh; ++i) {
        const T* r0 = xp + 2 * i * d.w;
        const T* r1 = r0 + d.w;
        T* o0 = op + 2 * i * d.w;
        T* o1 = o0 + d.w;
        const T* gi = gp + i * d.ow;
        for (int64_t j = cols_done; j < d.ow; ++j) {
          T best;
          const int idx = argmax2x2(r0[2 * j], r0[2 * j + 1], r1[2 * j], r1[2 * j + 1], best);
          const T v = gi[j];
          o0[2 * j] = idx == 0 ? v : T(0);
          o0[2 * j + 1] = idx == 1 ? v : T(0);
          o1[2 * j] = idx == 2 ? v : T(0);
          o1[2 * j + 1] = idx == 3 ? v : T(0);
        }
        // An odd width's last column is in no window.
        if (d.w > 2 * d.ow) {
          o0[d.w - 1] = T(0);
          o1[d.w - 1] = T(0);
        }
      }
      // An odd height's last row is in no window.
      if (d.h > 2 * d.oh) std::fill(op + 2 * d.oh * d.w, op + d.h * d.w, T(0));
    });
    return;
  }
  parallel_for(d.planes, d.h * d.w, [&](int64_t p) {
    const T* xp = x + p * d.h * d.w;
    const T* gp = g + p * d.oh * d.ow;
    T* op = gx + p * d.h * d.w;
    std::fill(op, op + d.h * d.w, T(0));
    for (int64_t i = 0; i < d.oh; ++i)
      for (int64_t j = 0; j < d.ow; ++j) op[window_argmax(xp, i, j, d)] = gp[i * d.ow + j];
  });
}

template void max_pool2d_fwd<float>(const float*, float*, const MaxPool2dDims&);
template void max_pool2d_fwd<double>(const double*, double*, const MaxPool2dDims&);
template void max_pool2d_bwd<float>(const float*, const float*, float*, const MaxPool2dDims&);
template void max_pool2d_bwd<double>(const double*, const double*, double*, const MaxPool2dDims&);

}  // namespace ddpm::kernels::cpu
