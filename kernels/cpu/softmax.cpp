// CPU softmax / log-softmax over rows (scale, optional mask) and the
// softmax backward: one task per row; z = scale * x, exp, the row sums and
// the backward's dot product in double, each output rounded once.
//
// An unmasked row whose z are all finite takes the vector path: Eigen's
// packet exp in double (a few ulp of double, invisible after the rounding
// to float), the exponentials kept in a per-thread row buffer and scaled by
// 1 / sum, so one exp per element instead of two. Masked rows, and rows with
// an inf or a NaN (whose exact IEEE behaviour the scalar path defines: a NaN
// poisons the row, -inf entries get 0) or a spread of logits past 700
// (where exp underflows), take the scalar path.
#include "kernels/softmax.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/cpu/gemm.h"  // brings Eigen; see its note on GCC 12
#include "kernels/cpu/parallel.h"

namespace ddpm::kernels::cpu {

namespace {

// The vector path of one unmasked row; false (nothing written) when a z is
// not finite, for the scalar path to handle.
template <class T>
bool softmax_row_vector(const T* row, T* out, const SoftmaxDims& d) {
  using Array = Eigen::Array<double, Eigen::Dynamic, 1>;
  thread_local Array z;
  z = d.scale * Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>(row, d.k).template cast<double>();
  if (!std::isfinite(z.sum())) return false;  // an inf or a NaN (or a sum past the double range)
  const double m = z.maxCoeff();
  // Past a spread of ~708 exp(z - m) leaves the normal doubles, where
  // Eigen's exp (clamped, and on SSE2 not flushed to 0) and libm part ways:
  // such rows take the scalar path, so exp(-1e4) is exactly 0 as there.
  if (!(m - z.minCoeff() < 700.0)) return false;
  Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>> y(out, d.k);
  if (d.log) {
    const double lse = m + std::log((z - m).exp().sum());
    y = (z - lse).template cast<T>();
  } else {
    z = (z - m).exp();
    y = (z * (1.0 / z.sum())).template cast<T>();
  }
  return true;
}

}  // namespace

template <class T>
void softmax_fwd(const T* x, const T* mask, T* y, const SoftmaxDims& d) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  parallel_for(d.n, d.k * 8, [&](int64_t n) {
    const T* row = x + n * d.k;
    const T* keep = d.mask_rows ? mask + (n % d.mask_rows) * d.k : nullptr;
    T* out = y + n * d.k;
    if (!keep && softmax_row_vector(row, out, d)) return;
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
