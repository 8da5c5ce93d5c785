// Philox4x32-10, a counter-based random number generator (Salmon et al.,
// "Parallel random numbers: as easy as 1, 2, 3", SC'11).
//
// Every draw is a pure function value = f(seed, stream, index): no state to
// carry, so a CUDA thread and a CPU loop produce the same numbers for the same
// (seed, stream, index). This header is plain arithmetic so that the CUDA
// kernels include it unchanged (DDPM_HD marks the functions host+device).
//
// Layout of a draw: counter = (index lo, index hi, stream lo, stream hi),
// key = (seed lo, seed hi). One draw yields four 32-bit words; a uniform double
// takes 53 bits from words 0-1, a normal takes two uniforms (words 0-1 and
// 2-3) through Box-Muller, computed in double and only then rounded to the
// tensor's dtype, so float results agree across devices.
#pragma once

#include <cmath>
#include <cstdint>

#include "tensor/host_device.h"

namespace ddpm::philox {

struct Words {
  uint32_t w[4];
};

DDPM_HD void mulhilo(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
  const uint64_t p = static_cast<uint64_t>(a) * static_cast<uint64_t>(b);
  hi = static_cast<uint32_t>(p >> 32);
  lo = static_cast<uint32_t>(p);
}

DDPM_HD Words draw(uint64_t seed, uint64_t stream, uint64_t index) {
  uint32_t c0 = static_cast<uint32_t>(index), c1 = static_cast<uint32_t>(index >> 32);
  uint32_t c2 = static_cast<uint32_t>(stream), c3 = static_cast<uint32_t>(stream >> 32);
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, lo0, hi1, lo1;
    mulhilo(0xD2511F53u, c0, hi0, lo0);
    mulhilo(0xCD9E8D57u, c2, hi1, lo1);
    const uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
    c0 = n0;
    c1 = n1;
    c2 = n2;
    c3 = n3;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return Words{{c0, c1, c2, c3}};
}

// 53 random bits from two words, mapped to the open interval (0, 1).
DDPM_HD double to_unit(uint32_t a, uint32_t b) {
  const uint64_t bits = (static_cast<uint64_t>(a) << 21) ^ (static_cast<uint64_t>(b) >> 11);
  return (static_cast<double>(bits & ((1ull << 53) - 1)) + 0.5) * (1.0 / 9007199254740992.0);
}

// Uniform on (0, 1).
DDPM_HD double uniform(uint64_t seed, uint64_t stream, uint64_t index) {
  const Words r = draw(seed, stream, index);
  return to_unit(r.w[0], r.w[1]);
}

// Standard normal (Box-Muller, cosine branch).
DDPM_HD double normal(uint64_t seed, uint64_t stream, uint64_t index) {
  const Words r = draw(seed, stream, index);
  const double u1 = to_unit(r.w[0], r.w[1]);
  const double u2 = to_unit(r.w[2], r.w[3]);
  return ::sqrt(-2.0 * ::log(u1)) * ::cos(6.283185307179586476925286766559 * u2);
}

// Integer uniform on [0, n).
DDPM_HD int64_t uniform_int(uint64_t seed, uint64_t stream, uint64_t index, int64_t n) {
  const Words r = draw(seed, stream, index);
  const uint64_t bits = (static_cast<uint64_t>(r.w[0]) << 32) | r.w[1];
  return static_cast<int64_t>(bits % static_cast<uint64_t>(n));
}

}  // namespace ddpm::philox
