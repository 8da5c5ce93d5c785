// A blocked GEMM with a register-tiled micro-kernel, for the conv2d kernels,
// whose operands are built on the fly (im2col) straight into the layout the
// micro-kernel reads.
//
//   C [M, N] (+)= A [M, K] B [K, N]                (all row-major)
//
// A is read in place: A(i, k) = a[i * lda + k] (K contiguous, any row stride),
// so a weight matrix or an im2col block needs no packing. B is packed by the
// caller into panels of NR columns: panel j holds B(k, j*NR + n) at
// [j][k][n] (kc x NR per K block, zero past N). The micro-kernel keeps an
// MR x NR tile of C in vector registers (AVX-512: 6 x 64 floats = 24 zmm
// accumulators), and per k broadcasts MR values of A and loads NR/L vectors
// of B: 24 FMAs per 4 loads + 6 broadcasts, which keeps the FMA units busy
// (measured ~93% of this machine's fp32 peak, against ~73% for Eigen's GEMM).
//
// Blocking: K in blocks of at most kKc (split evenly), N in blocks that keep
// a packed K x N block of B within kKc x kNc values (L2-resident), M in
// blocks of mc rows chosen by the caller; per (N block, K block) B is packed
// once and every MR-row panel of A (MR x kc, L1-resident) sweeps across it.
// Each C element gets the sum over one K block (k in increasing order) added
// per block, blocks in order, so results depend only on the shapes:
// deterministic.
//
// Built for AVX-512 when the compiler targets it, AVX2+FMA otherwise, and a
// scalar fallback elsewhere; generic over float and double.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#endif

namespace ddpm::kernels::cpu::gemm {

// Vector traits: V holds L values of T.
template <class T>
struct Simd;

#if defined(__AVX512F__)
constexpr int kMr = 6;  // rows of the C tile
constexpr int kNv = 4;  // vectors per row of the C tile
template <>
struct Simd<float> {
  using V = __m512;
  static constexpr int L = 16;
  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, V v) { _mm512_storeu_ps(p, v); }
  static V set1(float x) { return _mm512_set1_ps(x); }
  static V zero() { return _mm512_setzero_ps(); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static V sub(V a, V b) { return _mm512_sub_ps(a, b); }
  // The first n < L lanes.
  static V load_first(const float* p, int64_t n) { return _mm512_maskz_loadu_ps(first_lanes(n), p); }
  static void store_first(float* p, V v, int64_t n) { _mm512_mask_storeu_ps(p, first_lanes(n), v); }
  static __mmask16 first_lanes(int64_t n) { return static_cast<__mmask16>((1u << n) - 1); }
};
template <>
struct Simd<double> {
  using V = __m512d;
  static constexpr int L = 8;
  static V load(const double* p) { return _mm512_loadu_pd(p); }
  static void store(double* p, V v) { _mm512_storeu_pd(p, v); }
  static V set1(double x) { return _mm512_set1_pd(x); }
  static V zero() { return _mm512_setzero_pd(); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_pd(a, b, c); }
  static V add(V a, V b) { return _mm512_add_pd(a, b); }
  static V sub(V a, V b) { return _mm512_sub_pd(a, b); }
  static V load_first(const double* p, int64_t n) { return _mm512_maskz_loadu_pd(first_lanes(n), p); }
  static void store_first(double* p, V v, int64_t n) { _mm512_mask_storeu_pd(p, first_lanes(n), v); }
  static __mmask8 first_lanes(int64_t n) { return static_cast<__mmask8>((1u << n) - 1); }
};
#elif defined(__AVX2__) && defined(__FMA__)
constexpr int kMr = 6;  // 12 accumulators of the 16 ymm registers
constexpr int kNv = 2;
template <>
struct Simd<float> {
  using V = __m256;
  static constexpr int L = 8;
  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  static V set1(float x) { return _mm256_set1_ps(x); }
  static V zero() { return _mm256_setzero_ps(); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static V sub(V a, V b) { return _mm256_sub_ps(a, b); }
};
template <>
struct Simd<double> {
  using V = __m256d;
  static constexpr int L = 4;
  static V load(const double* p) { return _mm256_loadu_pd(p); }
  static void store(double* p, V v) { _mm256_storeu_pd(p, v); }
  static V set1(double x) { return _mm256_set1_pd(x); }
  static V zero() { return _mm256_setzero_pd(); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_pd(a, b, c); }
  static V add(V a, V b) { return _mm256_add_pd(a, b); }
  static V sub(V a, V b) { return _mm256_sub_pd(a, b); }
};
#else
constexpr int kMr = 4;
constexpr int kNv = 4;
template <class T>
struct Simd {
  using V = T;
  static constexpr int L = 1;
  static V load(const T* p) { return *p; }
  static void store(T* p, V v) { *p = v; }
  static V set1(T x) { return x; }
  static V zero() { return T(0); }
  static V fma(V a, V b, V c) { return a * b + c; }
  static V add(V a, V b) { return a + b; }
  static V sub(V a, V b) { return a - b; }
};
#endif

// dst[0, n) = src[0, n), and dst[0, n) = 0, for the short runs of im2col:
// inline vector code (with AVX-512, masked tails) rather than library calls.
template <class T>
inline void copy_run(T* dst, const T* src, int64_t n) {
  using S = Simd<T>;
  int64_t i = 0;
  for (; i + S::L <= n; i += S::L) S::store(dst + i, S::load(src + i));
#if defined(__AVX512F__)
  if (i < n) S::store_first(dst + i, S::load_first(src + i, n - i), n - i);
#else
  for (; i < n; ++i) dst[i] = src[i];
#endif
}
template <class T>
inline void zero_run(T* dst, int64_t n) {
  using S = Simd<T>;
  int64_t i = 0;
  for (; i + S::L <= n; i += S::L) S::store(dst + i, S::zero());
#if defined(__AVX512F__)
  if (i < n) S::store_first(dst + i, S::zero(), n - i);
#else
  for (; i < n; ++i) dst[i] = T(0);
#endif
}

// dst[i] = idx[i] >= 0 ? src[idx[i]] : 0 for i < n (im2col of narrow images);
// with AVX-512, masked vector gathers.
template <class T>
inline void gather_run(T* dst, const T* src, const int32_t* idx, int64_t n) {
  int64_t i = 0;
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<T, float>) {
    for (; i + 16 <= n; i += 16) {
      const __m512i vi = _mm512_loadu_si512(idx + i);
      const __mmask16 m = _mm512_cmpge_epi32_mask(vi, _mm512_setzero_si512());
      _mm512_storeu_ps(dst + i, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, vi, src, 4));
    }
  } else if constexpr (std::is_same_v<T, double>) {
    for (; i + 8 <= n; i += 8) {
      const __m256i vi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(idx + i));
      const __mmask8 m = static_cast<__mmask8>(
          _mm512_cmpge_epi32_mask(_mm512_castsi256_si512(vi), _mm512_setzero_si512()) & 0xff);
      _mm512_storeu_pd(dst + i, _mm512_mask_i32gather_pd(_mm512_setzero_pd(), m, vi, src, 8));
    }
  }
#endif
  for (; i < n; ++i) dst[i] = idx[i] >= 0 ? src[idx[i]] : T(0);
}

// Square tiles for transposes: dst[j * ldd + i] (+)= src[i * lds + j] for
// i, j < kTransposeTile<T>. With AVX-512, one register per row and the
// usual unpack / shuffle network (4 log-steps); otherwise plain loops.
template <class T>
constexpr int kTransposeTile = 16 / (sizeof(T) / sizeof(float));

template <class T>
inline void transpose_tile(const T* src, int64_t lds, T* dst, int64_t ldd, bool add) {
  constexpr int n = kTransposeTile<T>;
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<T, float>) {
    __m512 r[16], t[16];
    for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(src + i * lds);
    for (int i = 0; i < 16; i += 2) {
      t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
      t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
      const __m512d a = _mm512_castps_pd(t[i]), b = _mm512_castps_pd(t[i + 1]);
      const __m512d c = _mm512_castps_pd(t[i + 2]), d = _mm512_castps_pd(t[i + 3]);
      r[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
      r[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
      r[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
      r[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
    }
    // r[4q + c] now holds column c (+4 per 128-bit lane) of rows 4q..4q+3.
    for (int h = 0; h < 16; h += 8)
      for (int c = 0; c < 4; ++c) {
        t[h + c] = _mm512_shuffle_f32x4(r[h + c], r[h + 4 + c], 0x88);
        t[h + 4 + c] = _mm512_shuffle_f32x4(r[h + c], r[h + 4 + c], 0xdd);
      }
    for (int c = 0; c < 8; ++c) {
      r[c] = _mm512_shuffle_f32x4(t[c], t[8 + c], 0x88);
      r[8 + c] = _mm512_shuffle_f32x4(t[c], t[8 + c], 0xdd);
    }
    for (int j = 0; j < 16; ++j) {
      float* o = dst + j * ldd;
      _mm512_storeu_ps(o, add ? _mm512_add_ps(_mm512_loadu_ps(o), r[j]) : r[j]);
    }
    return;
  } else if constexpr (std::is_same_v<T, double>) {
    __m512d r[8], t[8];
    for (int i = 0; i < 8; ++i) r[i] = _mm512_loadu_pd(src + i * lds);
    for (int i = 0; i < 8; i += 2) {
      t[i] = _mm512_unpacklo_pd(r[i], r[i + 1]);
      t[i + 1] = _mm512_unpackhi_pd(r[i], r[i + 1]);
    }
    for (int h = 0; h < 8; h += 4) {
      r[h] = _mm512_shuffle_f64x2(t[h], t[h + 2], 0x88);
      r[h + 1] = _mm512_shuffle_f64x2(t[h + 1], t[h + 3], 0x88);
      r[h + 2] = _mm512_shuffle_f64x2(t[h], t[h + 2], 0xdd);
      r[h + 3] = _mm512_shuffle_f64x2(t[h + 1], t[h + 3], 0xdd);
    }
    for (int c = 0; c < 4; ++c) {
      t[c] = _mm512_shuffle_f64x2(r[c], r[4 + c], 0x88);
      t[4 + c] = _mm512_shuffle_f64x2(r[c], r[4 + c], 0xdd);
    }
    for (int j = 0; j < 8; ++j) {
      double* o = dst + j * ldd;
      _mm512_storeu_pd(o, add ? _mm512_add_pd(_mm512_loadu_pd(o), t[j]) : t[j]);
    }
    return;
  }
#endif
  for (int j = 0; j < n; ++j) {
    T* o = dst + j * ldd;
    for (int i = 0; i < n; ++i) o[i] = add ? o[i] + src[i * lds + j] : src[i * lds + j];
  }
}

// dst[c * ldd + r] = (or +=) src[r * lds + c] for r < rows, c < cols: by
// transpose_tile where a tile is whole, value by value at the edges.
template <class T>
inline void transpose_block(const T* src, int64_t lds, int64_t rows, int64_t cols, T* dst, int64_t ldd,
                            bool add) {
  constexpr int64_t tb = kTransposeTile<T>;
  for (int64_t c0 = 0; c0 < cols; c0 += tb)
    for (int64_t r0 = 0; r0 < rows; r0 += tb) {
      const int64_t nrow = std::min(tb, rows - r0), ncol = std::min(tb, cols - c0);
      if (nrow == tb && ncol == tb) {
        transpose_tile(src + r0 * lds + c0, lds, dst + c0 * ldd + r0, ldd, add);
        continue;
      }
      for (int64_t j = 0; j < ncol; ++j) {
        T* o = dst + (c0 + j) * ldd + r0;
        for (int64_t i = 0; i < nrow; ++i)
          o[i] = add ? o[i] + src[(r0 + i) * lds + c0 + j] : src[(r0 + i) * lds + c0 + j];
      }
    }
}

// Columns of a B panel / of the C tile.
template <class T>
constexpr int nr() {
  return kNv * Simd<T>::L;
}

constexpr int64_t kKc = 512;  // largest K block
constexpr int64_t kNc = 256;  // N block at the largest K block (a multiple of every nr())

// Number of values of packed B scratch that gemm() needs.
template <class T>
constexpr int64_t packed_b_size() {
  return kKc * kNc;
}

// K blocks: [0, K) cut into ceil(K / kKc) near-equal pieces.
inline int64_t k_block(int64_t K) {
  const int64_t blocks = (K + kKc - 1) / kKc;
  return blocks == 0 ? 0 : (K + blocks - 1) / blocks;
}

// N blocks: as many whole panels as the packed-B budget holds at K blocks of
// k_block(K), so a short K (bwd-weight over few pixels) gets wide N blocks
// and its A blocks are built fewer times.
template <class T>
int64_t n_block(int64_t K) {
  const int64_t kc = std::max<int64_t>(1, k_block(K));
  return std::max<int64_t>(nr<T>(), packed_b_size<T>() / kc / nr<T>() * nr<T>());
}

// C tile [MR, NV*L] (+)= A [MR, kc] (rows lda apart) x the first NV vectors
// of each row of a B panel [kc, nr] (NV = kNv: the whole panel; fewer for
// the last, narrow panel of a small N, such as bwd-weight's 32 output
// channels, which would otherwise compute a full panel of zeros).
// The tile is summed from zero and added to C at the end; C's lines are
// prefetched first so that loading them does not stall (in bwd-weight C is
// a gradient of megabytes that lives in L3).
template <class T, int MR, int NV = kNv>
void micro_kernel(int64_t kc, const T* a, int64_t lda, const T* b, T* c, int64_t ldc, bool accumulate) {
  using S = Simd<T>;
  constexpr int L = S::L, NR = kNv * L;
  if (accumulate)
    for (int i = 0; i < MR; ++i)
      for (int v = 0; v < NV * L * static_cast<int>(sizeof(T)); v += 64)
        __builtin_prefetch(reinterpret_cast<const char*>(c + i * ldc) + v);
  typename S::V acc[MR][NV];
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < NV; ++v) acc[i][v] = S::zero();
  for (int64_t k = 0; k < kc; ++k) {
    typename S::V bv[NV];
    for (int v = 0; v < NV; ++v) bv[v] = S::load(b + k * NR + v * L);
    for (int i = 0; i < MR; ++i) {
      const typename S::V ai = S::set1(a[i * lda + k]);
      for (int v = 0; v < NV; ++v) acc[i][v] = S::fma(ai, bv[v], acc[i][v]);
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < NV; ++v) {
      T* o = c + i * ldc + v * L;
      S::store(o, accumulate ? S::add(S::load(o), acc[i][v]) : acc[i][v]);
    }
}

// micro_kernel for a tile of mr <= kMr rows and nv <= kNv vectors.
template <class T, int MR = kMr, int NV = kNv>
void micro_kernel_rows(int mr, int nv, int64_t kc, const T* a, int64_t lda, const T* b, T* c, int64_t ldc,
                       bool accumulate) {
  if constexpr (NV > 1) {
    if (nv < NV) return micro_kernel_rows<T, MR, NV - 1>(mr, nv, kc, a, lda, b, c, ldc, accumulate);
  }
  if constexpr (MR > 1) {
    if (mr < MR) return micro_kernel_rows<T, MR - 1, NV>(mr, nv, kc, a, lda, b, c, ldc, accumulate);
  }
  micro_kernel<T, MR, NV>(kc, a, lda, b, c, ldc, accumulate);
}

// C tile [MR, NR] = A [MR, kc] (rows lda apart) x B [kc, NR] whose row k
// is read in place at b + boff[k] (a direct convolution's shifted input
// rows: no packing); C is written, or added to (accumulate).
template <class T, int MR>
void micro_kernel_indirect(int64_t kc, const T* a, int64_t lda, const T* b, const int64_t* boff, T* c,
                           int64_t ldc, bool accumulate) {
  using S = Simd<T>;
  constexpr int L = S::L, NV = kNv;
  typename S::V acc[MR][NV];
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < NV; ++v) acc[i][v] = S::zero();
  for (int64_t k = 0; k < kc; ++k) {
    const T* bk = b + boff[k];
    typename S::V bv[NV];
    for (int v = 0; v < NV; ++v) bv[v] = S::load(bk + v * L);
    for (int i = 0; i < MR; ++i) {
      const typename S::V ai = S::set1(a[i * lda + k]);
      for (int v = 0; v < NV; ++v) acc[i][v] = S::fma(ai, bv[v], acc[i][v]);
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < NV; ++v) {
      T* o = c + i * ldc + v * L;
      S::store(o, accumulate ? S::add(S::load(o), acc[i][v]) : acc[i][v]);
    }
}

// K block of the indirect kernel: [0, K) in near-equal blocks of at most
// kIndirectKcBytes / (NR values) rows, so that a block of B rows fits L1.
constexpr int64_t kIndirectKcBytes = 32 * 1024;
template <class T>
int64_t indirect_k_block(int64_t K) {
  const int64_t max_rows =
      std::max<int64_t>(16, kIndirectKcBytes / (nr<T>() * static_cast<int64_t>(sizeof(T))));
  const int64_t blocks = (K + max_rows - 1) / max_rows;
  return blocks == 0 ? 0 : (K + blocks - 1) / blocks;
}

// micro_kernel_indirect for a tile of mr <= kMr rows.
template <class T, int MR = kMr>
void micro_kernel_indirect_rows(int mr, int64_t kc, const T* a, int64_t lda, const T* b, const int64_t* boff,
                                T* c, int64_t ldc, bool accumulate) {
  if constexpr (MR > 1) {
    if (mr < MR) return micro_kernel_indirect_rows<T, MR - 1>(mr, kc, a, lda, b, boff, c, ldc, accumulate);
  }
  micro_kernel_indirect<T, MR>(kc, a, lda, b, boff, c, ldc, accumulate);
}

// C [M, N] (+)= A B, blocked as described at the top.
//   get_a(ic, mc, pc, kc) -> std::pair<const T*, int64_t>: a pointer to
//     A(ic, pc) and the row stride, valid for rows [ic, ic+mc), columns
//     [pc, pc+kc) (called once per M block per K block).
//   pack_b(pc, kc, jc, nc, dst): writes B rows [pc, pc+kc), columns
//     [jc, jc+nc) as ceil(nc / nr) panels [kc][nr], zero past nc.
//   rows_done(ic, mc): called once rows [ic, ic+mc) of C are final for the
//     current N block (after the last K block), while they are still in cache.
//   bbuf: packed_b_size<T>() values. accumulate: C += A B, else C = A B.
template <class T, class GetA, class PackB, class RowsDone>
void gemm(int64_t M, int64_t N, int64_t K, int64_t mc_max, GetA&& get_a, PackB&& pack_b, RowsDone&& rows_done,
          T* c, int64_t ldc, bool accumulate, T* bbuf) {
  constexpr int NR = nr<T>(), L = Simd<T>::L;
  const int64_t kc_max = k_block(K);
  const int64_t nc_max = n_block<T>(K);
  for (int64_t jc = 0; jc < N; jc += nc_max) {
    const int64_t nc = std::min(nc_max, N - jc);
    for (int64_t pc = 0; pc < K; pc += kc_max) {
      const int64_t kc = std::min(kc_max, K - pc);
      pack_b(pc, kc, jc, nc, bbuf);
      const bool acc = accumulate || pc > 0;
      for (int64_t ic = 0; ic < M; ic += mc_max) {
        const int64_t mc = std::min(mc_max, M - ic);
        const auto [a, lda] = get_a(ic, mc, pc, kc);
        for (int64_t ip = 0; ip < mc; ip += kMr) {
          const int mr = static_cast<int>(std::min<int64_t>(kMr, mc - ip));
          const T* ap = a + ip * lda;
          T* crow = c + (ic + ip) * ldc + jc;
          for (int64_t jp = 0; jp < nc; jp += NR) {
            const T* bp = bbuf + (jp / NR) * kc * NR;
            const int64_t n = std::min<int64_t>(NR, nc - jp);
            // Only the vectors that hold columns < nc are computed.
            const int nv = static_cast<int>((n + L - 1) / L);
            if (n == nv * L) {
              micro_kernel_rows<T>(mr, nv, kc, ap, lda, bp, crow + jp, ldc, acc);
              continue;
            }
            // Last panel ending inside a vector: through a full-width tile.
            alignas(64) T tile[kMr * NR] = {};
            if (acc)
              for (int i = 0; i < mr; ++i) std::memcpy(tile + i * NR, crow + i * ldc + jp, sizeof(T) * n);
            micro_kernel_rows<T>(mr, nv, kc, ap, lda, bp, tile, NR, acc);
            for (int i = 0; i < mr; ++i) std::memcpy(crow + i * ldc + jp, tile + i * NR, sizeof(T) * n);
          }
        }
        if (pc + kc == K) rows_done(ic, mc);
      }
    }
  }
}

}  // namespace ddpm::kernels::cpu::gemm
