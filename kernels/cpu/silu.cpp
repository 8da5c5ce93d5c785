// CPU SiLU: flat loops over fixed-size chunks, chunks split across threads.
// The float loops are `omp simd` with a branch-free sigmoid (select instead of
// if) and the polynomial exp, so they run 8-16 lanes wide.
#include "kernels/silu.h"

#include <algorithm>
#include <cmath>

#include "kernels/cpu/fast_exp.h"
#include "kernels/cpu/parallel.h"

namespace ddpm::kernels::cpu {

namespace {
constexpr int64_t kChunk = 8192;

// exp(-|x|) in (0, 1]: never overflows. Computed unconditionally and then
// selected, so the loops stay branch-free: below -87 the polynomial's 2^k would
// leave float's normal range, and s is 0 or 1 to float precision there anyway.
inline float exp_neg_abs(float x) {
  const float a = -std::fabs(x);
  const float e = fast_exp(std::max(a, -87.0f));
  return a < -87.0f ? 0.0f : e;
}
inline double exp_neg_abs(double x) { return std::exp(-std::fabs(x)); }

template <class T>
inline T sigmoid(T x) {
  const T e = exp_neg_abs(x);
  const T inv = T(1) / (T(1) + e);
  return x >= T(0) ? inv : e * inv;
}

template <class T>
void silu_fwd_range(const T* __restrict x, T* __restrict y, int64_t lo, int64_t hi) {
#pragma omp simd
  for (int64_t i = lo; i < hi; ++i) y[i] = x[i] * sigmoid(x[i]);
}

template <class T>
void silu_bwd_range(const T* __restrict x, const T* __restrict g, T* __restrict gx, int64_t lo, int64_t hi) {
#pragma omp simd
  for (int64_t i = lo; i < hi; ++i) {
    const T s = sigmoid(x[i]);
    gx[i] = g[i] * s * (T(1) + x[i] * (T(1) - s));
  }
}

template <class F>
void chunked(int64_t n, F&& f) {
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  parallel_for(chunks, kChunk * 16, [&](int64_t c) {
    const int64_t lo = c * kChunk;
    f(lo, std::min(n, lo + kChunk));
  });
}
}  // namespace

template <class T>
void silu_fwd(const T* x, T* y, int64_t n) {
  chunked(n, [&](int64_t lo, int64_t hi) { silu_fwd_range(x, y, lo, hi); });
}

template <class T>
void silu_bwd(const T* x, const T* g, T* gx, int64_t n) {
  chunked(n, [&](int64_t lo, int64_t hi) { silu_bwd_range(x, g, gx, lo, hi); });
}

template void silu_fwd<float>(const float*, float*, int64_t);
template void silu_fwd<double>(const double*, double*, int64_t);
template void silu_bwd<float>(const float*, const float*, float*, int64_t);
template void silu_bwd<double>(const double*, const double*, double*, int64_t);

}  // namespace ddpm::kernels::cpu
