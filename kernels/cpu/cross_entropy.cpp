// CPU cross-entropy: one task per row (max, then the sum of exp in double,
// then lse); the row losses are added in row order, so the loss does not
// depend on the thread count. The backward recomputes each row's lse.
#include "kernels/cross_entropy.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/cpu/parallel.h"

namespace ddpm::kernels::cpu {

namespace {
// log sum_j exp(row[j]), stably: the row maximum first, the sum in double.
template <class T>
double row_lse(const T* row, int64_t k) {
  double m = static_cast<double>(row[0]);
  for (int64_t j = 1; j < k; ++j) m = std::max(m, static_cast<double>(row[j]));
  double s = 0;
  for (int64_t j = 0; j < k; ++j) s += std::exp(static_cast<double>(row[j]) - m);
  return m + std::log(s);
}
}  // namespace

template <class T>
double cross_entropy_fwd(const T* z, const T* y, const CrossEntropyDims& d) {
  std::vector<double> loss(static_cast<size_t>(d.n));
  parallel_for(d.n, d.k * 8, [&](int64_t n) {
    const T* row = z + n * d.k;
    const auto label = static_cast<int64_t>(y[n]);
    loss[static_cast<size_t>(n)] = row_lse(row, d.k) - static_cast<double>(row[label]);
  });
  double total = 0;
  for (double v : loss) total += v;
  return total / static_cast<double>(d.n);
}

template <class T>
void cross_entropy_bwd(const T* z, const T* y, const T* g, T* gz, const CrossEntropyDims& d) {
  const double scale = static_cast<double>(g[0]) / static_cast<double>(d.n);
  parallel_for(d.n, d.k * 8, [&](int64_t n) {
    const T* row = z + n * d.k;
    T* out = gz + n * d.k;
    const auto label = static_cast<int64_t>(y[n]);
    const double lse = row_lse(row, d.k);
    for (int64_t j = 0; j < d.k; ++j) {
      const double p = std::exp(static_cast<double>(row[j]) - lse);
      out[j] = static_cast<T>((p - (j == label ? 1.0 : 0.0)) * scale);
    }
  });
}

template double cross_entropy_fwd<float>(const float*, const float*, const CrossEntropyDims&);
template double cross_entropy_fwd<double>(const double*, const double*, const CrossEntropyDims&);
template void cross_entropy_bwd<float>(const float*, const float*, const float*, float*,
                                       const CrossEntropyDims&);
template void cross_entropy_bwd<double>(const double*, const double*, const double*, double*,
                                        const CrossEntropyDims&);

}  // namespace ddpm::kernels::cpu
