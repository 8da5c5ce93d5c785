// exp for float that the compiler can vectorise (std::exp stays a scalar call
// without -ffast-math).
//
// Range reduction x = k ln2 + r with |r| <= ln2/2 (ln2 split in two parts so
// k ln2 is exact enough), exp(r) = 1 + r + r^2 P(r) with P the degree-5
// minimax polynomial of the Cephes library's expf (about 1 ulp), and 2^k built
// in the exponent bits. Valid for x in [-87, 88]; callers clamp (2^k must stay a
// normal float).
#pragma once

#include <bit>
#include <cstdint>

namespace ddpm::kernels::cpu {

inline float fast_exp(float x) {
  // k = round(x / ln2) by the 1.5 * 2^23 trick (std::floor/nearbyint do not
  // vectorise under the default -ftrapping-math).
  constexpr float kRound = 12582912.0f;
  const float k = (x * 1.44269504088896341f + kRound) - kRound;
  float r = x - k * 0.693359375f;  // ln2 high part (exact in few bits)
  r = r - k * -2.12194440e-4f;     // ln2 low part
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(k) + 127) << 23;
  return p * std::bit_cast<float>(bits);
}

}  // namespace ddpm::kernels::cpu
