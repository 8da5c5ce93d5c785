// The logistic sigmoid s(x) = 1 / (1 + exp(-x)) for the CPU kernels of SiLU
// and of the fused GroupNorm + SiLU (one definition, so both give the same
// bits).
//
// s is evaluated from e = exp(-|x|) in (0, 1], which never overflows:
// s = 1 / (1 + e) for x >= 0 and e / (1 + e) for x < 0. For float the
// exponential is the polynomial of fast_exp.h (about 1 ulp), computed
// unconditionally and then selected so that `omp simd` loops stay
// branch-free: below -87 its 2^k would leave float's normal range, and s is
// 0 or 1 to float precision there anyway. Double uses std::exp.
#pragma once

#include <algorithm>
#include <cmath>

#include "kernels/cpu/fast_exp.h"

namespace ddpm::kernels::cpu {

inline float exp_neg_abs(float x) {
  const float a = -std::fabs(x);
  const float e = fast_exp(std::max(a, -87.0f));
  return a < -87.0f ? 0.0f : e;
}
inline double exp_neg_abs(double x) { return std::exp(-std::fabs(x)); }

// Both candidates are computed before the select: a multiply inside one arm
// of ?: is a conditional floating-point operation that GCC will not
// speculate under the default -ftrapping-math, which leaves the loop
// unvectorised on AVX2 (AVX-512 hides this with masked lanes).
template <class T>
inline T sigmoid(T x) {
  const T e = exp_neg_abs(x);
  const T inv = T(1) / (T(1) + e);
  const T neg = e * inv;
  return x >= T(0) ? inv : neg;
}

// SiLU's derivative applied to an incoming gradient: g * s(x) * (1 + x (1 - s(x))).
template <class T>
inline T silu_grad(T x, T g) {
  const T s = sigmoid(x);
  return g * s * (T(1) + x * (T(1) - s));
}

}  // namespace ddpm::kernels::cpu
