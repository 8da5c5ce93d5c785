// clang-format off
#include "tensor/gcc12_intrinsics.h"  // first: before any AVX-512 header
// clang-format on

#include "kernels/cpu/bf16_gemm.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <stdexcept>
#include <string>

#include "kernels/cpu/bf16_simd.h"
#include "tensor/bf16.h"

#ifdef DDPM_BF16_X86
#include <cpuid.h>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif
#endif

namespace ddpm::kernels::cpu::bf16gemm {

namespace {

// ---- machine support ------------------------------------------------------

bool cpu_has_avx512bf16() {
#ifdef DDPM_BF16_X86
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512bf16");
#else
  return false;
#endif
}

// AMX needs the CPU bits (CPUID.7.0:EDX AMX-BF16 bit 22, AMX-TILE bit 24)
// and, on Linux, the process's permission to use the tile state, asked for
// once with arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA).
bool os_allows_amx() {
#if defined(DDPM_BF16_X86) && defined(__linux__)
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
  if (!((d >> 22) & 1u) || !((d >> 24) & 1u)) return false;
  constexpr long kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0 && cpu_has_avx512bf16();
#else
  return false;
#endif
}

bool detect(Backend b) {
  switch (b) {
    case Backend::amx: {
      static const bool ok = os_allows_amx();
      return ok;
    }
    case Backend::avx512bf16: {
      static const bool ok = cpu_has_avx512bf16();
      return ok;
    }
    case Backend::scalar:
      break;
  }
  return true;
}

Backend best() {
  for (const Backend b : {Backend::amx, Backend::avx512bf16})
    if (detect(b)) return b;
  return Backend::scalar;
}

std::atomic<int> g_backend{-1};

// ---- packing ----------------------------------------------------------------

inline uint16_t round_bits(float f) { return float_to_bf16_bits(f); }

// A tile element (r, c) and B tile element (k, n), in uint16 units.
inline int64_t a_at(int64_t r, int64_t c) { return r * kTileK + c; }
inline int64_t b_at(int64_t k, int64_t n) { return (k / 2) * 32 + n * 2 + k % 2; }

#ifdef DDPM_BF16_X86
using bf16simd::pair16;
using bf16simd::row32;

// A 16 x 16 transpose of 32-bit lanes: dst row j = column j of src.
inline void transpose16(const uint32_t* src, uint32_t* dst) {
  for (int i = 0; i < 16; ++i)
    for (int j = 0; j < 16; ++j) dst[j * 16 + i] = src[i * 16 + j];
}

// A with rows contiguous (cs == 1).
DDPM_AVX512 void pack_a_rows(int64_t M, int64_t K, const float* a, int64_t rs, uint16_t* dst) {
  const int64_t Mt = tiles(M, kTileRows), Kt = tiles(K, kTileK);
  for (int64_t mb = 0; mb < Mt; ++mb)
    for (int64_t kb = 0; kb < Kt; ++kb) {
      uint16_t* t = dst + (mb * Kt + kb) * kTileElems;
      for (int64_t r = 0; r < kTileRows; ++r) {
        const int64_t row = mb * kTileRows + r;
        const __m512i v =
            row < M ? row32(a + row * rs + kb * kTileK, K - kb * kTileK) : _mm512_setzero_si512();
        _mm512_storeu_si512(t + r * kTileK, v);
      }
    }
}

// A with columns contiguous (rs == 1): A(r, c) = a[c * cs + r]. Pairs of
// source rows make the tile's k-pairs, then a transpose.
DDPM_AVX512 void pack_a_cols(int64_t M, int64_t K, const float* a, int64_t cs, uint16_t* dst) {
  const int64_t Mt = tiles(M, kTileRows), Kt = tiles(K, kTileK);
  alignas(64) uint32_t buf[256];
  for (int64_t mb = 0; mb < Mt; ++mb)
    for (int64_t kb = 0; kb < Kt; ++kb) {
      const int64_t n = M - mb * kTileRows;
      for (int64_t q = 0; q < 16; ++q) {
        const int64_t k0 = kb * kTileK + 2 * q;
        const __m512i v = k0 < K ? pair16(a + k0 * cs + mb * kTileRows,
                                          k0 + 1 < K ? a + (k0 + 1) * cs + mb * kTileRows : nullptr, n)
                                 : _mm512_setzero_si512();
        _mm512_store_si512(buf + q * 16, v);
      }
      transpose16(buf, reinterpret_cast<uint32_t*>(dst + (mb * Kt + kb) * kTileElems));
    }
}

// B with rows contiguous (cs == 1): B(k, n) = b[k * rs + n].
DDPM_AVX512 void pack_b_rows(int64_t K, int64_t N, const float* b, int64_t rs, uint16_t* dst) {
  const int64_t Nt = tiles(N, kTileCols), Kt = tiles(K, kTileK);
  for (int64_t nb = 0; nb < Nt; ++nb)
    for (int64_t kb = 0; kb < Kt; ++kb) {
      uint16_t* t = dst + (nb * Kt + kb) * kTileElems;
      const int64_t n = N - nb * kTileCols;
      for (int64_t q = 0; q < 16; ++q) {
        const int64_t k0 = kb * kTileK + 2 * q;
        const __m512i v = k0 < K ? pair16(b + k0 * rs + nb * kTileCols,
                                          k0 + 1 < K ? b + (k0 + 1) * rs + nb * kTileCols : nullptr, n)
                                 : _mm512_setzero_si512();
        _mm512_storeu_si512(t + q * 32, v);
      }
    }
}

// B with columns contiguous (rs == 1): B(k, n) = b[n * cs + k]. A column's
// 32 k are one run: 16 k-pairs, then a transpose.
DDPM_AVX512 void pack_b_cols(int64_t K, int64_t N, const float* b, int64_t cs, uint16_t* dst) {
  const int64_t Nt = tiles(N, kTileCols), Kt = tiles(K, kTileK);
  alignas(64) uint32_t buf[256];
  for (int64_t nb = 0; nb < Nt; ++nb)
    for (int64_t kb = 0; kb < Kt; ++kb) {
      for (int64_t n = 0; n < 16; ++n) {
        const int64_t col = nb * kTileCols + n;
        const __m512i v =
            col < N ? row32(b + col * cs + kb * kTileK, K - kb * kTileK) : _mm512_setzero_si512();
        _mm512_store_si512(buf + n * 16, v);
      }
      transpose16(buf, reinterpret_cast<uint32_t*>(dst + (nb * Kt + kb) * kTileElems));
    }
}
#endif

void pack_a_scalar(int64_t M, int64_t K, const float* a, int64_t rs, int64_t cs, uint16_t* dst) {
  const int64_t Mt = tiles(M, kTileRows), Kt = tiles(K, kTileK);
  for (int64_t mb = 0; mb < Mt; ++mb)
    for (int64_t kb = 0; kb < Kt; ++kb) {
      uint16_t* t = dst + (mb * Kt + kb) * kTileElems;
      for (int64_t r = 0; r < kTileRows; ++r)
        for (int64_t c = 0; c < kTileK; ++c) {
          const int64_t i = mb * kTileRows + r, k = kb * kTileK + c;
          t[a_at(r, c)] = i < M && k < K ? round_bits(a[i * rs + k * cs]) : 0;
        }
    }
}

void pack_b_scalar(int64_t K, int64_t N, const float* b, int64_t rs, int64_t cs, uint16_t* dst) {
  const int64_t Nt = tiles(N, kTileCols), Kt = tiles(K, kTileK);
  for (int64_t nb = 0; nb < Nt; ++nb)
    for (int64_t kb = 0; kb < Kt; ++kb) {
      uint16_t* t = dst + (nb * Kt + kb) * kTileElems;
      for (int64_t k = 0; k < kTileK; ++k)
        for (int64_t n = 0; n < kTileCols; ++n) {
          const int64_t kk = kb * kTileK + k, j = nb * kTileCols + n;
          t[b_at(k, n)] = kk < K && j < N ? round_bits(b[kk * rs + j * cs]) : 0;
        }
    }
}

// ---- C tiles --------------------------------------------------------------

// A 16 x 16 FP32 tile of C at (i0, j0): loaded from / stored to C directly
// when it lies inside, through a staging buffer at the edges.
struct CTile {
  float* c;
  int64_t ldc, rows, cols;  // valid part
  bool full() const { return rows == 16 && cols == 16; }
  void load(float* buf, bool accumulate) const {
    for (int64_t r = 0; r < 16; ++r)
      for (int64_t j = 0; j < 16; ++j)
        buf[r * 16 + j] = accumulate && r < rows && j < cols ? c[r * ldc + j] : 0.f;
  }
  void store(const float* buf) const {
    for (int64_t r = 0; r < rows; ++r)
      std::memcpy(c + r * ldc, buf + r * 16, static_cast<size_t>(cols) * sizeof(float));
  }
};

CTile c_tile(float* c, int64_t ldc, int64_t M, int64_t N, int64_t mb, int64_t nb) {
  const int64_t i0 = mb * 16, j0 = nb * 16;
  return {c + i0 * ldc + j0, ldc, std::min<int64_t>(16, M - i0), std::min<int64_t>(16, N - j0)};
}

// ---- backends ---------------------------------------------------------------

void gemm_scalar(int64_t M, int64_t N, int64_t K, const uint16_t* a, const uint16_t* b, float* c, int64_t ldc,
                 bool accumulate) {
  const int64_t Kt = tiles(K, kTileK);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      float s = accumulate ? c[i * ldc + j] : 0.f;
      const uint16_t* at = a + (i / 16) * Kt * kTileElems;
      const uint16_t* bt = b + (j / 16) * Kt * kTileElems;
      for (int64_t k = 0; k < K; ++k) {
        const int64_t kb = k / kTileK, kk = k % kTileK;
        s += bf16_bits_to_float(at[kb * kTileElems + a_at(i % 16, kk)]) *
             bf16_bits_to_float(bt[kb * kTileElems + b_at(kk, j % 16)]);
      }
      c[i * ldc + j] = s;
    }
}

#ifdef DDPM_BF16_X86
// One 16 x 16 C tile per pass: 16 accumulators, per k-pair one B row and 16
// broadcast A pairs.
__attribute__((target("avx512f,avx512bw,avx512bf16"))) void gemm_avx512bf16(int64_t M, int64_t N, int64_t K,
                                                                            const uint16_t* a,
                                                                            const uint16_t* b, float* c,
                                                                            int64_t ldc, bool accumulate) {
  const int64_t Mt = tiles(M, kTileRows), Nt = tiles(N, kTileCols), Kt = tiles(K, kTileK);
  for (int64_t mb = 0; mb < Mt; ++mb)
    for (int64_t nb = 0; nb < Nt; ++nb) {
      // C's tile straight in and out of the accumulators, by masked rows
      // (a copy through a buffer cost a third of the time at K = 32).
      const CTile ct = c_tile(c, ldc, M, N, mb, nb);
      const __mmask16 cols = static_cast<__mmask16>((1u << ct.cols) - 1u);
      __m512 acc[16];
      for (int r = 0; r < 16; ++r)
        acc[r] =
            accumulate && r < ct.rows ? _mm512_maskz_loadu_ps(cols, ct.c + r * ct.ldc) : _mm512_setzero_ps();
      const uint16_t* ap = a + mb * Kt * kTileElems;
      const uint16_t* bp = b + nb * Kt * kTileElems;
      for (int64_t kb = 0; kb < Kt; ++kb, ap += kTileElems, bp += kTileElems)
        for (int q = 0; q < 16; ++q) {
          const __m512bh bv = reinterpret_cast<__m512bh>(_mm512_loadu_si512(bp + q * 32));
          for (int r = 0; r < 16; ++r) {
            int32_t pair;
            std::memcpy(&pair, ap + r * kTileK + 2 * q, sizeof pair);
            acc[r] = _mm512_dpbf16_ps(acc[r], reinterpret_cast<__m512bh>(_mm512_set1_epi32(pair)), bv);
          }
        }
      for (int r = 0; r < ct.rows; ++r) _mm512_mask_storeu_ps(ct.c + r * ct.ldc, cols, acc[r]);
    }
}

// AMX: tiles 0-3 hold a 32 x 32 block of C, 4-5 two A tiles, 6-7 two B
// tiles. K goes in blocks of kKBlock tiles so that a block of B (all of N)
// stays in L2 while the A tiles of every row block sweep it.
struct alignas(64) TileConfig {
  uint8_t palette, start_row, reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
};

#define DDPM_AMX __attribute__((target("avx512f,avx512bw,avx512bf16,amx-tile,amx-bf16")))

DDPM_AMX void gemm_amx(int64_t M, int64_t N, int64_t K, const uint16_t* a, const uint16_t* b, float* c,
                       int64_t ldc, bool accumulate) {
  constexpr int64_t kKBlock = 16;
  const int64_t Mt = tiles(M, kTileRows), Nt = tiles(N, kTileCols), Kt = tiles(K, kTileK);
  TileConfig cfg{};
  cfg.palette = 1;
  for (int t = 0; t < 8; ++t) {
    cfg.colsb[t] = 64;
    cfg.rows[t] = 16;
  }
  _tile_loadconfig(&cfg);
  alignas(64) float buf[4][256];
  const int64_t ldc_b = ldc * static_cast<int64_t>(sizeof(float));  // bytes
  for (int64_t k0 = 0; k0 < Kt; k0 += kKBlock) {
    const int64_t k1 = std::min(Kt, k0 + kKBlock);
    const bool acc = accumulate || k0 > 0;
    for (int64_t mb = 0; mb < Mt; mb += 2)
      for (int64_t nb = 0; nb < Nt; nb += 2) {
        const bool m2 = mb + 1 < Mt, n2 = nb + 1 < Nt;
        CTile ct[4] = {c_tile(c, ldc, M, N, mb, nb), {}, {}, {}};
        if (n2) ct[1] = c_tile(c, ldc, M, N, mb, nb + 1);
        if (m2) ct[2] = c_tile(c, ldc, M, N, mb + 1, nb);
        if (m2 && n2) ct[3] = c_tile(c, ldc, M, N, mb + 1, nb + 1);
          // Tile register numbers are immediates: one line per tile.
#define DDPM_C_IN(t)                  \
  do {                                \
    if (!acc) {                       \
      _tile_zero(t);                  \
    } else if (ct[t].full()) {        \
      _tile_loadd(t, ct[t].c, ldc_b); \
    } else {                          \
      ct[t].load(buf[t], true);       \
      _tile_loadd(t, buf[t], 64);     \
    }                                 \
  } while (0)
        DDPM_C_IN(0);
        if (n2) DDPM_C_IN(1);
        if (m2) DDPM_C_IN(2);
        if (m2 && n2) DDPM_C_IN(3);
#undef DDPM_C_IN
        const uint16_t* a0 = a + mb * Kt * kTileElems;
        const uint16_t* a1 = a0 + Kt * kTileElems;
        const uint16_t* b0 = b + nb * Kt * kTileElems;
        const uint16_t* b1 = b0 + Kt * kTileElems;
        for (int64_t kb = k0; kb < k1; ++kb) {
          const int64_t o = kb * kTileElems;
          _tile_loadd(4, a0 + o, 64);
          _tile_loadd(6, b0 + o, 64);
          _tile_dpbf16ps(0, 4, 6);
          if (n2) {
            _tile_loadd(7, b1 + o, 64);
            _tile_dpbf16ps(1, 4, 7);
          }
          if (m2) {
            _tile_loadd(5, a1 + o, 64);
            _tile_dpbf16ps(2, 5, 6);
            if (n2) _tile_dpbf16ps(3, 5, 7);
          }
        }
#define DDPM_C_OUT(t)                  \
  do {                                 \
    if (ct[t].full()) {                \
      _tile_stored(t, ct[t].c, ldc_b); \
    } else {                           \
      _tile_stored(t, buf[t], 64);     \
      ct[t].store(buf[t]);             \
    }                                  \
  } while (0)
        DDPM_C_OUT(0);
        if (n2) DDPM_C_OUT(1);
        if (m2) DDPM_C_OUT(2);
        if (m2 && n2) DDPM_C_OUT(3);
#undef DDPM_C_OUT
      }
  }
  _tile_release();
}
#endif

}  // namespace

const char* backend_name(Backend b) {
  switch (b) {
    case Backend::amx:
      return "amx";
    case Backend::avx512bf16:
      return "avx512bf16";
    case Backend::scalar:
      break;
  }
  return "scalar";
}

bool supported(Backend b) { return detect(b); }

Backend backend() {
  int v = g_backend.load(std::memory_order_relaxed);
  if (v < 0) {
    v = static_cast<int>(best());
    g_backend.store(v, std::memory_order_relaxed);
  }
  return static_cast<Backend>(v);
}

void set_backend(Backend b) {
  if (!supported(b))
    throw std::runtime_error(std::string("bf16 GEMM backend '") + backend_name(b) +
                             "' is not supported on this machine (CPU or OS); the best here is '" +
                             backend_name(best()) + "'");
  g_backend.store(static_cast<int>(b), std::memory_order_relaxed);
}

void pack_a(int64_t M, int64_t K, const float* a, int64_t rs, int64_t cs, uint16_t* dst) {
#ifdef DDPM_BF16_X86
  if (detect(Backend::avx512bf16)) {
    if (cs == 1) return pack_a_rows(M, K, a, rs, dst);
    if (rs == 1) return pack_a_cols(M, K, a, cs, dst);
  }
#endif
  pack_a_scalar(M, K, a, rs, cs, dst);
}

void pack_b(int64_t K, int64_t N, const float* b, int64_t rs, int64_t cs, uint16_t* dst) {
#ifdef DDPM_BF16_X86
  if (detect(Backend::avx512bf16)) {
    if (cs == 1) return pack_b_rows(K, N, b, rs, dst);
    if (rs == 1) return pack_b_cols(K, N, b, cs, dst);
  }
#endif
  pack_b_scalar(K, N, b, rs, cs, dst);
}

void gemm(int64_t M, int64_t N, int64_t K, const uint16_t* a, const uint16_t* b, float* c, int64_t ldc,
          bool accumulate) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    if (!accumulate)
      for (int64_t i = 0; i < M; ++i) std::fill(c + i * ldc, c + i * ldc + N, 0.f);
    return;
  }
  switch (backend()) {
#ifdef DDPM_BF16_X86
    case Backend::amx:
      return gemm_amx(M, N, K, a, b, c, ldc, accumulate);
    case Backend::avx512bf16:
      return gemm_avx512bf16(M, N, K, a, b, c, ldc, accumulate);
#endif
    default:
      break;
  }
  gemm_scalar(M, N, K, a, b, c, ldc, accumulate);
}

}  // namespace ddpm::kernels::cpu::bf16gemm
