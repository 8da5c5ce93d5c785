// CPU softmax / log-softmax over rows: one task per row, exp and the row sum
// in double, each output rounded once.
#include "kernels/softmax.h"

#include <algorithm>
#include <cmath>

#include "kernels/cpu/parallel.h"

namespace ddpm::kernels::cpu {

template <class T>
void softmax_fwd(const T* x, T* y, const SoftmaxDims& d) {
  parallel_for(d.n, d.k * 8, [&](int64_t n) {
    const T* row = x + n * d.k;
    T* out = y + n * d.k;
    double m = static_cast<double>(row[0]);
    for (int64_t j = 1; j < d.k; ++j) m = std::max(m, static_cast<double>(row[j]));
    double s = 0;
    for (int64_t j = 0; j < d.k; ++j) s += std::exp(static_cast<double>(row[j]) - m);
    const double lse = m + std::log(s);
    for (int64_t j = 0; j < d.k; ++j) {
      const double v = static_cast<double>(row[j]) - lse;
      out[j] = static_cast<T>(d.log ? v : std::exp(v));
    }
  });
}

template void softmax_fwd<float>(const float*, float*, const SoftmaxDims&);
template void softmax_fwd<double>(const double*, double*, const SoftmaxDims&);

}  // namespace ddpm::kernels::cpu
