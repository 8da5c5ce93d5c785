// CPU softmax / log-softmax over rows (scale, optional mask) and the
// softmax backward: one task per row; z = scale * x, exp, the row sums and
// the backward's dot product in double, each output rounded once.
#include "kernels/softmax.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/cpu/parallel.h"

namespace ddpm::kernels::cpu {

template <class T>
void softmax_fwd(const T* x, const T* mask, T* y, const SoftmaxDims& d) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  parallel_for(d.n, d.k * 8, [&](int64_t n) {
    const T* row = x + n * d.k;
    const T* keep = d.mask_rows ? mask + (n % d.mask_rows) * d.k : nullptr;
    T* out = y + n * d.k;
    auto included = [&](int64_t j) { return !keep || keep[j] != T(0); };
    double m = -kInf;
    for (int64_t j = 0; j < d.k; ++j)
      if (included(j)) m = std::max(m, d.scale * static_cast<double>(row[j]));
    if (m == -kInf) {  // no included entry (or only -inf ones)
      for (int64_t j = 0; j < d.k; ++j) out[j] = static_cast<T>(d.log ? -kInf : 0.0);
      return;
    }
    double s = 0;
    for (int64_t j = 0; j < d.k; ++j)
      if (included(j)) s += std::exp(d.scale * static_cast<double>(row[j]) - m);
    const double lse = m + std::log(s);
    for (int64_t j = 0; j < d.k; ++j) {
      if (!included(j)) {
        out[j] = static_cast<T>(d.log ? -kInf : 0.0);
        continue;
      }
      const double v = d.scale * static_cast<double>(row[j]) - lse;
      out[j] = static_cast<T>(d.log ? v : std::exp(v));
    }
  });
}

template <class T>
void softmax_bwd(const T* y, const T* g, T* gx, const SoftmaxDims& d) {
  parallel_for(d.n, d.k * 4, [&](int64_t n) {
    const T* yr = y + n * d.k;
    const T* gr = g + n * d.k;
    T* out = gx + n * d.k;
    double dot = 0;
    for (int64_t j = 0; j < d.k; ++j) dot += static_cast<double>(gr[j]) * static_cast<double>(yr[j]);
    for (int64_t j = 0; j < d.k; ++j)
      out[j] = static_cast<T>(d.scale * static_cast<double>(yr[j]) * (static_cast<double>(gr[j]) - dot));
  });
}

template void softmax_fwd<float>(const float*, const float*, float*, const SoftmaxDims&);
template void softmax_fwd<double>(const double*, const double*, double*, const SoftmaxDims&);
template void softmax_bwd<float>(const float*, const float*, float*, const SoftmaxDims&);
template void softmax_bwd<double>(const double*, const double*, double*, const SoftmaxDims&);

}  // namespace ddpm::kernels::cpu
