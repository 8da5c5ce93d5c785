// CPU SiLU: flat loops over fixed-size chunks, chunks split across threads.
// The float loops are `omp simd` with a branch-free sigmoid (select instead of
// if) and the polynomial exp, so they run 8-16 lanes wide.
#include "kernels/silu.h"

#include <algorithm>

#include "kernels/cpu/parallel.h"
#include "kernels/cpu/sigmoid.h"

namespace ddpm::kernels::cpu {

namespace {
constexpr int64_t kChunk = 8192;

template <class T>
void silu_fwd_range(const T* __restrict x, T* __restrict y, int64_t lo, int64_t hi) {
#pragma omp simd
  for (int64_t i = lo; i < hi; ++i) y[i] = x[i] * sigmoid(x[i]);
}

template <class T>
void silu_bwd_range(const T* __restrict x, const T* __restrict g, T* __restrict gx, int64_t lo, int64_t hi) {
#pragma omp simd
  for (int64_t i = lo; i < hi; ++i) {
    gx[i] = silu_grad(x[i], g[i]);
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
