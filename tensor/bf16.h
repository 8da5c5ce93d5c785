// bf16: the 16-bit brain float (1 sign, 8 exponent, 7 mantissa bits), the
// storage type of DType::bf16. It is the upper half of an IEEE float32, so
// it keeps float32's range (no overflow or underflow on conversion beyond
// what rounding to 8 significant bits does) with ~2-3 significant decimal
// digits.
//
// Conversion from float rounds to nearest, ties to even (what tensor cores,
// AVX512-BF16's vcvtneps2bf16 and PyTorch do); a NaN stays a NaN (quiet,
// sign kept) rather than rounding into an infinity; +-inf stay infinite;
// finite values above the largest bf16 (~3.39e38) round to infinity.
// Conversion to float is exact. From double the value goes through float
// (two roundings), as PyTorch's .to(torch.bfloat16) does.
//
// The same inline functions serve the CPU and the CUDA kernels (DDPM_HD), so
// both round the same way bit for bit.
#pragma once

#include <cstdint>
#include <cstring>

#include "tensor/host_device.h"

namespace ddpm {

DDPM_HD uint16_t float_to_bf16_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  if ((u & 0x7fffffffu) > 0x7f800000u)  // NaN: keep the sign and the top payload bits, set quiet
    return static_cast<uint16_t>((u >> 16) | 0x0040u);
  const uint32_t lsb = (u >> 16) & 1u;  // ties go to the even result
  u += 0x7fffu + lsb;
  return static_cast<uint16_t>(u >> 16);
}

DDPM_HD float bf16_bits_to_float(uint16_t b) {
  const uint32_t u = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// A value type for storage and host code: converts from and to float
// (explicitly from, implicitly to), compares by value through float. No
// arithmetic: kernels compute in float and store bf16.
struct bf16 {
  uint16_t bits = 0;

  bf16() = default;
  DDPM_HD explicit bf16(float f) : bits(float_to_bf16_bits(f)) {}
  DDPM_HD explicit bf16(double d) : bits(float_to_bf16_bits(static_cast<float>(d))) {}
  DDPM_HD operator float() const { return bf16_bits_to_float(bits); }

  DDPM_HD static bf16 from_bits(uint16_t b) {
    bf16 v;
    v.bits = b;
    return v;
  }
};

static_assert(sizeof(bf16) == 2, "bf16 must be two bytes");

}  // namespace ddpm
