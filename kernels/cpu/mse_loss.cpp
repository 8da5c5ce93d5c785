// CPU mean squared error: a blocked double-precision sum (fixed chunks, fixed
// order of partials), optionally writing the gradient in the same pass, and
// an elementwise backward.
#include "kernels/mse_loss.h"

#include <algorithm>
#include <vector>

#include "kernels/cpu/parallel.h"

namespace ddpm::kernels::cpu {

namespace {
constexpr int64_t kChunk = 8192;
}

template <class T>
double mse_loss_fwd(const T* p, const T* t, T* gp, const MseLossDims& d) {
  const int64_t chunks = (d.n + kChunk - 1) / kChunk;
  std::vector<double> partial(static_cast<size_t>(chunks), 0.0);
  // mse_loss_bwd's scale for g = 1, so that gp is bit for bit its result.
  const T scale = static_cast<T>(2.0 * 1.0 / static_cast<double>(d.n));
  parallel_for(chunks, kChunk * 2, [&](int64_t c) {
    const int64_t lo = c * kChunk, hi = std::min(d.n, lo + kChunk);
    double acc = 0;
    if (gp) {
#pragma omp simd reduction(+ : acc)
      for (int64_t i = lo; i < hi; ++i) {
        const double e = static_cast<double>(p[i]) - static_cast<double>(t[i]);
        acc += e * e;
        gp[i] = scale * (p[i] - t[i]);
      }
    } else {
#pragma omp simd reduction(+ : acc)
      for (int64_t i = lo; i < hi; ++i) {
        const double e = static_cast<double>(p[i]) - static_cast<double>(t[i]);
        acc += e * e;
      }
    }
    partial[static_cast<size_t>(c)] = acc;
  });
  double total = 0;
  for (double v : partial) total += v;
  return total / static_cast<double>(d.n);
}

template <class T>
void mse_loss_bwd(const T* p, const T* t, const T* g, T* gp, T* gt, const MseLossDims& d) {
  const T scale = static_cast<T>(2.0 * static_cast<double>(g[0]) / static_cast<double>(d.n));
  const int64_t chunks = (d.n + kChunk - 1) / kChunk;
  parallel_for(chunks, kChunk, [&](int64_t c) {
    const int64_t lo = c * kChunk, hi = std::min(d.n, lo + kChunk);
    for (int64_t i = lo; i < hi; ++i) {
      const T v = scale * (p[i] - t[i]);
      if (gp) gp[i] = v;
      if (gt) gt[i] = -v;
    }
  });
}

template double mse_loss_fwd<float>(const float*, const float*, float*, const MseLossDims&);
template double mse_loss_fwd<double>(const double*, const double*, double*, const MseLossDims&);
template void mse_loss_bwd<float>(const float*, const float*, const float*, float*, float*,
                                  const MseLossDims&);
template void mse_loss_bwd<double>(const double*, const double*, const double*, double*, double*,
                                   const MseLossDims&);

}  // namespace ddpm::kernels::cpu
