// CPU elementwise unary functions: one flat loop, split across threads.
#include "kernels/unary.h"

#include <cmath>

#include "kernels/cpu/parallel.h"

namespace ddpm::kernels::cpu {

namespace {
constexpr int64_t kChunk = 4096;

template <class F>
void chunked(int64_t n, F&& f) {
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  parallel_for(chunks, kChunk * 4, [&](int64_t c) {
    const int64_t lo = c * kChunk, hi = std::min(n, lo + kChunk);
    for (int64_t i = lo; i < hi; ++i) f(i);
  });
}
}  // namespace

template <class T>
void unary_fwd(UnaryOp op, const T* x, T* y, int64_t n) {
  switch (op) {
    case UnaryOp::neg:
      return chunked(n, [&](int64_t i) { y[i] = -x[i]; });
    case UnaryOp::exp:
      return chunked(n, [&](int64_t i) { y[i] = std::exp(x[i]); });
    case UnaryOp::log:
      return chunked(n, [&](int64_t i) { y[i] = std::log(x[i]); });
    case UnaryOp::sqrt:
      return chunked(n, [&](int64_t i) { y[i] = std::sqrt(x[i]); });
    case UnaryOp::sin:
      return chunked(n, [&](int64_t i) { y[i] = std::sin(x[i]); });
    case UnaryOp::cos:
      return chunked(n, [&](int64_t i) { y[i] = std::cos(x[i]); });
  }
}

template <class T>
void unary_bwd(UnaryOp op, const T* x, const T* y, const T* g, T* gx, int64_t n) {
  switch (op) {
    case UnaryOp::neg:
      return chunked(n, [&](int64_t i) { gx[i] = -g[i]; });
    case UnaryOp::exp:
      return chunked(n, [&](int64_t i) { gx[i] = g[i] * y[i]; });
    case UnaryOp::log:
      return chunked(n, [&](int64_t i) { gx[i] = g[i] / x[i]; });
    case UnaryOp::sqrt:
      return chunked(n, [&](int64_t i) { gx[i] = g[i] / (T(2) * y[i]); });
    case UnaryOp::sin:
      return chunked(n, [&](int64_t i) { gx[i] = g[i] * std::cos(x[i]); });
    case UnaryOp::cos:
      return chunked(n, [&](int64_t i) { gx[i] = -g[i] * std::sin(x[i]); });
  }
}

template void unary_fwd<float>(UnaryOp, const float*, float*, int64_t);
template void unary_fwd<double>(UnaryOp, const double*, double*, int64_t);
template void unary_bwd<float>(UnaryOp, const float*, const float*, const float*, float*, int64_t);
template void unary_bwd<double>(UnaryOp, const double*, const double*, const double*, double*, int64_t);

}  // namespace ddpm::kernels::cpu
