// The CPU GroupNorm loops, shared by group_norm (kernels/cpu/group_norm.cpp)
// and the fused group_norm_silu (kernels/cpu/group_norm_silu.cpp): templated
// on whether SiLU follows, so the fused op is the plain one with the
// activation applied where the value is in a register.
//
// A group (n, g) is one contiguous block of M = C/G * HW elements, handled by
// one task: the forward reads it twice (mean, then the centred sum of
// squares, both in double; at the UNet's sizes the block is at most 32 KB of
// float and stays in cache) and writes y = act(x * scale[c] + shift[c]) once.
// The backward task first forms the gradient at the normalised output (gz =
// g, or with SiLU gz = g s(z)(1 + z(1 - s(z))) with z recomputed from x by the
// forward's float operations, kept in a per-task buffer of M elements),
// sums its channels' ds/db (double), then writes gx = a[c] * gz + b * x + c0
// in a second pass over the same block. The reductions are `omp simd` so they
// vectorise; their order is fixed by the code, not by the thread count.
// ggamma/gbeta add the per-(n, c) partials over n in a fixed order.
#pragma once

#include <cmath>
#include <memory>
#include <vector>

#include "kernels/cpu/parallel.h"
#include "kernels/cpu/sigmoid.h"
#include "kernels/group_norm.h"

namespace ddpm::kernels::cpu::group_norm_impl {

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

// The per-channel affine map of group (mu, rs): y = x * scale + shift.
template <class T>
struct ChannelAffine {
  T scale, shift;
};
template <class T>
ChannelAffine<T> channel_affine(const T* gamma, const T* beta, int64_t c, double mu, double rs) {
  const double sc = gamma ? rs * static_cast<double>(gamma[c]) : rs;
  const double sh = (beta ? static_cast<double>(beta[c]) : 0.0) - mu * sc;
  return {static_cast<T>(sc), static_cast<T>(sh)};
}

template <bool Silu, class T>
void forward(const T* x, const T* gamma, const T* beta, T* y, T* mean, T* rstd, const GroupNormDims& d,
             double eps) {
  const int64_t cpg = d.c / d.groups;
  const int64_t m = cpg * d.hw;
  parallel_for(d.n * d.groups, m * (Silu ? 12 : 4), [&](int64_t ng) {
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
      const ChannelAffine<T> af = channel_affine(gamma, beta, c0 + ci, mu, rs);
      const T scale = af.scale, shift = af.shift;
      const T* __restrict xp = xb + ci * d.hw;
      T* __restrict yp = yb + ci * d.hw;
      if constexpr (Silu) {
#pragma omp simd
        for (int64_t i = 0; i < d.hw; ++i) {
          const T z = xp[i] * scale + shift;
          yp[i] = z * sigmoid(z);
        }
      } else {
#pragma omp simd
        for (int64_t i = 0; i < d.hw; ++i) yp[i] = xp[i] * scale + shift;
      }
    }
  });
}

// beta is read only with Silu (to recompute z).
template <bool Silu, class T>
void backward(const T* x, const T* mean, const T* rstd, const T* gamma, const T* beta, const T* g, T* gx,
              T* ggamma, T* gbeta, const GroupNormDims& d) {
  const int64_t cpg = d.c / d.groups;
  const int64_t m = cpg * d.hw;
  // Per (n, c): ds = sum_hw gz * x, db = sum_hw gz.
  std::vector<double> ds(static_cast<size_t>(d.n * d.c)), db(ds.size());
  parallel_for(d.n * d.groups, m * (Silu ? 18 : 6), [&](int64_t ng) {
    const int64_t n = ng / d.groups, grp = ng % d.groups;
    const int64_t c0 = grp * cpg;
    const double mu = static_cast<double>(mean[ng]), rs = static_cast<double>(rstd[ng]);
    // The gradient at the normalised output, for this group's M elements
    // (with SiLU formed into the buffer in the same pass as the sums).
    // (A buffer per task: M floats, at most tens of KB, against M elements of
    // work; a thread_local one would outlive OpenMP's pool threads.)
    const T* gz = g + (n * d.c + c0) * d.hw;
    std::unique_ptr<T[]> buffer;
    if constexpr (Silu) {
      buffer = std::make_unique_for_overwrite<T[]>(static_cast<size_t>(m));
      gz = buffer.get();
    }
    for (int64_t ci = 0; ci < cpg; ++ci) {
      const int64_t nc = n * d.c + c0 + ci;
      const T* __restrict xp = x + nc * d.hw;
      const T* __restrict gp = g + nc * d.hw;
      double s = 0, b = 0;
      if constexpr (Silu) {
        const ChannelAffine<T> af = channel_affine(gamma, beta, c0 + ci, mu, rs);
        const T scale = af.scale, shift = af.shift;
        T* __restrict op = buffer.get() + ci * d.hw;
#pragma omp simd reduction(+ : s, b)
        for (int64_t i = 0; i < d.hw; ++i) {
          const T v = silu_grad(xp[i] * scale + shift, gp[i]);
          op[i] = v;
          s += static_cast<double>(v) * static_cast<double>(xp[i]);
          b += static_cast<double>(v);
        }
      } else {
#pragma omp simd reduction(+ : s, b)
        for (int64_t i = 0; i < d.hw; ++i) {
          s += static_cast<double>(gp[i]) * static_cast<double>(xp[i]);
          b += static_cast<double>(gp[i]);
        }
      }
      ds[static_cast<size_t>(nc)] = s;
      db[static_cast<size_t>(nc)] = b;
    }
    if (!gx) return;
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
      const T* __restrict xp = x + nc * d.hw;
      const T* __restrict gp = gz + ci * d.hw;
      T* __restrict op = gx + nc * d.hw;
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

}  // namespace ddpm::kernels::cpu::group_norm_impl
