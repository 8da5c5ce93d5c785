// CPU GroupNorm. A group (n, g) is one contiguous block of M = C/G * HW
// elements, handled by one task: the forward reads it twice (mean, then the
// centred sum of squares, both in double; at the UNet's sizes the block is at
// most 32 KB of float and stays in cache) and writes y = x * scale[c] + shift[c]
// once. The backward task computes its channels' ds/db (double), then writes
// gx = a[c] * g + b * x + c0 in a second pass over the same block. The
// reductions are `omp simd` so they vectorise; their order is fixed by the
// code, not by the thread count.
#include "kernels/group_norm.h"

#include <cmath>
#include <vector>

#include "kernels/cpu/parallel.h"

namespace ddpm::kernels::cpu {

namespace {
template <class T>
double block_sum(const T* p, int64_t n) {
  double acc = 0;
#pragma omp simd reduction(+ : acc)
  for (int64_t i = 0; i < n; ++i) acc += static_cast<double>(p[i]);
  return acc;
}

template <class T>
double block_centred_sq(const T* p, int64_t n, double mu) {
  double acc = 0;
#pragma omp simd reduction(+ : acc)
  for (int64_t i = 0; i < n; ++i) {
    const double v = static_cast<double>(p[i]) - mu;
    acc += v * v;
  }
  return acc;
}
}  // namespace

template <class T>
void group_norm_fwd(const T* x, const T* gamma, const T* beta, T* y, T* mean, T* rstd, const GroupNormDims& d,
                    double eps) {
  const int64_t cpg = d.c / d.groups;
  const int64_t m = cpg * d.hw;
  parallel_for(d.n * d.groups, m * 4, [&](int64_t ng) {
    const int64_t n = ng / d.groups, g = ng % d.groups;
    const int64_t c0 = g * cpg;
    const T* xb = x + (n * d.c + c0) * d.hw;
    T* yb = y + (n * d.c + c0) * d.hw;
    const double mu = block_sum(xb, m) / static_cast<double>(m);
    const double var = block_centred_sq(xb, m, mu) / static_cast<double>(m);
    const double rs = 1.0 / std::sqrt(var + eps);
    mean[ng] = static_cast<T>(mu);
    rstd[ng] = static_cast<T>(rs);
    for (int64_t ci = 0; ci < cpg; ++ci) {
      const int64_t c = c0 + ci;
      const double sc = gamma ? rs * static_cast<double>(gamma[c]) : rs;
      const double sh = (beta ? static_cast<double>(beta[c]) : 0.0) - mu * sc;
      const T scale = static_cast<T>(sc), shift = static_cast<T>(sh);
      const T* xp = xb + ci * d.hw;
      T* yp = yb + ci * d.hw;
#pragma omp simd
      for (int64_t i = 0; i < d.hw; ++i) yp[i] = xp[i] * scale + shift;
    }
  });
}

template <class T>
void group_norm_bwd(const T* x, const T* mean, const T* rstd, const T* gamma, const T* g, T* gx, T* ggamma,
                    T* gbeta, const GroupNormDims& d) {
  const int64_t cpg = d.c / d.groups;
  const int64_t m = cpg * d.hw;
  // Per (n, c): ds = sum_hw g * x, db = sum_hw g.
  std::vector<double> ds(static_cast<size_t>(d.n * d.c)), db(ds.size());
  parallel_for(d.n * d.groups, m * 6, [&](int64_t ng) {
    const int64_t n = ng / d.groups, grp = ng % d.groups;
    const int64_t c0 = grp * cpg;
    for (int64_t ci = 0; ci < cpg; ++ci) {
      const int64_t nc = n * d.c + c0 + ci;
      const T* xp = x + nc * d.hw;
      const T* gp = g + nc * d.hw;
      double s = 0, b = 0;
#pragma omp simd reduction(+ : s, b)
      for (int64_t i = 0; i < d.hw; ++i) {
        s += static_cast<double>(gp[i]) * static_cast<double>(xp[i]);
        b += static_cast<double>(gp[i]);
      }
      ds[static_cast<size_t>(nc)] = s;
      db[static_cast<size_t>(nc)] = b;
    }
    if (!gx) return;
    const double mu = static_cast<double>(mean[ng]), rs = static_cast<double>(rstd[ng]);
    double sum_a = 0, sum_b = 0;
    for (int64_t ci = 0; ci < cpg; ++ci) {
      const size_t nc = static_cast<size_t>(n * d.c + c0 + ci);
      const double gam = gamma ? static_cast<double>(gamma[c0 + ci]) : 1.0;
      sum_a += gam * db[nc];
      sum_b += gam * (ds[nc] - mu * db[nc]);
    }
    sum_b *= rs;
    const double inv_m = 1.0 / static_cast<double>(m);
    const double bd = -rs * rs * sum_b * inv_m;
    const T b = static_cast<T>(bd);
    const T cc = static_cast<T>(-bd * mu - rs * sum_a * inv_m);
    for (int64_t ci = 0; ci < cpg; ++ci) {
      const int64_t nc = n * d.c + c0 + ci;
      const T a = static_cast<T>(rs * (gamma ? static_cast<double>(gamma[c0 + ci]) : 1.0));
      const T* xp = x + nc * d.hw;
      const T* gp = g + nc * d.hw;
      T* op = gx + nc * d.hw;
#pragma omp simd
      for (int64_t i = 0; i < d.hw; ++i) op[i] = a * gp[i] + b * xp[i] + cc;
    }
  });
  if (!ggamma) return;
  for (int64_t c = 0; c < d.c; ++c) {
    const int64_t grp = c / cpg;
    double sg = 0, sb = 0;
    for (int64_t n = 0; n < d.n; ++n) {
      const size_t nc = static_cast<size_t>(n * d.c + c);
      const int64_t ng = n * d.groups + grp;
      sg += (ds[nc] - static_cast<double>(mean[ng]) * db[nc]) * static_cast<double>(rstd[ng]);
      sb += db[nc];
    }
    ggamma[c] = static_cast<T>(sg);
    gbeta[c] = static_cast<T>(sb);
  }
}

template void group_norm_fwd<float>(const float*, const float*, const float*, float*, float*, float*,
                                    const GroupNormDims&, double);
template void group_norm_fwd<double>(const double*, const double*, const double*, double*, double*, double*,
                                     const GroupNormDims&, double);
template void group_norm_bwd<float>(const float*, const float*, const float*, const float*, const float*,
                                    float*, float*, float*, const GroupNormDims&);
template void group_norm_bwd<double>(const double*, const double*, const double*, const double*,
                                     const double*, double*, double*, double*, const GroupNormDims&);

}  // namespace ddpm::kernels::cpu
