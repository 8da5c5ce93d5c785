// AVX-512 helpers that round float to BF16 (tensor/bf16.h's rounding: to
// nearest even, a NaN stays a quiet NaN with its sign) for the BF16 packing
// code (kernels/cpu/bf16_gemm.cpp, conv2d_amx.cpp). Compiled with target
// attributes, so a build for any x86-64 has them; callers run them only where
// the CPU has AVX-512 (bf16gemm::supported(avx512bf16)).
#pragma once

#if defined(__x86_64__) && defined(__GNUC__)
#define DDPM_BF16_X86 1
#include <immintrin.h>

#include <cstdint>

#define DDPM_AVX512 __attribute__((target("avx512f,avx512bw")))

namespace ddpm::kernels::cpu::bf16simd {

// 16 floats -> u32 lanes whose high halves are their BF16 (RNE; a NaN stays
// a quiet NaN with its sign), as float_to_bf16_bits.
DDPM_AVX512 inline __m512i round16(__m512 x) {
  const __m512i u = _mm512_castps_si512(x);
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
  const __m512i r = _mm512_add_epi32(u, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff)));
  const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)),
                                                _mm512_set1_epi32(0x7f800000));
  return _mm512_mask_mov_epi32(r, nan, _mm512_or_si512(u, _mm512_set1_epi32(0x00400000)));
}

DDPM_AVX512 inline __m512 load16(const float* p, int64_t n) {
  if (n >= 16) return _mm512_loadu_ps(p);
  if (n <= 0) return _mm512_setzero_ps();
  return _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << n) - 1), p);
}

// The first n (<= 32) values at p, rounded, as 32 contiguous BF16 (zeros
// past n).
DDPM_AVX512 inline __m512i row32(const float* p, int64_t n) {
  const __m512i lo = round16(load16(p, n)), hi = round16(load16(p + 16, n - 16));
  alignas(64) static const uint16_t odd[32] = {1,  3,  5,  7,  9,  11, 13, 15, 17, 19, 21,
                                               23, 25, 27, 29, 31, 33, 35, 37, 39, 41, 43,
                                               45, 47, 49, 51, 53, 55, 57, 59, 61, 63};
  return _mm512_permutex2var_epi16(lo, _mm512_load_si512(odd), hi);
}

// Two rows of 16 (the first n valid), rounded and interleaved into 16
// k-pairs: lane j = (bf16(p0[j]), bf16(p1[j])). p1 may be null (zeros).
DDPM_AVX512 inline __m512i pair16(const float* p0, const float* p1, int64_t n) {
  const __m512i lo = _mm512_srli_epi32(round16(load16(p0, n)), 16);
  if (!p1) return lo;
  const __m512i hi =
      _mm512_and_si512(round16(load16(p1, n)), _mm512_set1_epi32(static_cast<int>(0xffff0000u)));
  return _mm512_or_si512(lo, hi);
}

}  // namespace ddpm::kernels::cpu::bf16simd
#endif
