// CPU max pooling: one task per (n, c) plane; the backward zeroes its plane
// of gx and writes each window's gradient to the recomputed argmax.
#include "kernels/max_pool2d.h"

#include <algorithm>
#include <cmath>

#include "kernels/cpu/parallel.h"

namespace ddpm::kernels::cpu {

namespace {
// Offset (within the plane) of the window's maximum: first in row-major order,
// NaN wins (the comparison PyTorch uses).
template <class T>
int64_t window_argmax(const T* plane, int64_t i, int64_t j, const MaxPool2dDims& d) {
  int64_t best = i * d.k * d.w + j * d.k;
  T best_v = plane[best];
  for (int64_t a = 0; a < d.k; ++a) {
    const int64_t row = (i * d.k + a) * d.w + j * d.k;
    for (int64_t b = 0; b < d.k; ++b) {
      const T v = plane[row + b];
      if (v > best_v || std::isnan(v)) {
        best_v = v;
        best = row + b;
      }
    }
  }
  return best;
}
}  // namespace

// The 2x2 windows (the UNet's pooling), branch-free so that the compiler
// vectorises them: the same result as window_argmax (the first maximum in
// row-major order; a NaN replaces the best so far, so the last NaN wins).
template <class T>
inline int argmax2x2(T a0, T a1, T b0, T b1, T& best) {
  int idx = 0;
  best = a0;
  const T v[3] = {a1, b0, b1};
  for (int k = 0; k < 3; ++k) {
    const bool take = v[k] > best || v[k] != v[k];
    best = take ? v[k] : best;
    idx = take ? k + 1 : idx;
  }
  return idx;
}

template <class T>
void max_pool2d_fwd(const T* x, T* y, const MaxPool2dDims& d) {
  if (d.k == 2) {
    parallel_for(d.planes, d.h * d.w, [&](int64_t p) {
      const T* xp = x + p * d.h * d.w;
      T* yp = y + p * d.oh * d.ow;
      for (int64_t i = 0; i < d.oh; ++i) {
        const T* r0 = xp + 2 * i * d.w;
        const T* r1 = r0 + d.w;
        T* o = yp + i * d.ow;
        for (int64_t j = 0; j < d.ow; ++j) {
          T best;
          argmax2x2(r0[2 * j], r0[2 * j + 1], r1[2 * j], r1[2 * j + 1], best);
          o[j] = best;
        }
      }
    });
    return;
  }
  parallel_for(d.planes, d.h * d.w, [&](int64_t p) {
    const T* xp = x + p * d.h * d.w;
    T* yp = y + p * d.oh * d.ow;
    for (int64_t i = 0; i < d.oh; ++i)
      for (int64_t j = 0; j < d.ow; ++j) yp[i * d.ow + j] = xp[window_argmax(xp, i, j, d)];
  });
}

template <class T>
void max_pool2d_bwd(const T* x, const T* g, T* gx, const MaxPool2dDims& d) {
  if (d.k == 2) {
    parallel_for(d.planes, d.h * d.w, [&](int64_t p) {
      const T* xp = x + p * d.h * d.w;
      const T* gp = g + p * d.oh * d.ow;
      T* op = gx + p * d.h * d.w;
      for (int64_t i = 0; i < d.oh; ++i) {
        const T* r0 = xp + 2 * i * d.w;
        const T* r1 = r0 + d.w;
        T* o0 = op + 2 * i * d.w;
        T* o1 = o0 + d.w;
        const T* gi = gp + i * d.ow;
        for (int64_t j = 0; j < d.ow; ++j) {
          T best;
          const int idx = argmax2x2(r0[2 * j], r0[2 * j + 1], r1[2 * j], r1[2 * j + 1], best);
          const T v = gi[j];
          o0[2 * j] = idx == 0 ? v : T(0);
          o0[2 * j + 1] = idx == 1 ? v : T(0);
          o1[2 * j] = idx == 2 ? v : T(0);
          o1[2 * j + 1] = idx == 3 ? v : T(0);
        }
        // An odd width's last column is in no window.
        if (d.w > 2 * d.ow) {
          o0[d.w - 1] = T(0);
          o1[d.w - 1] = T(0);
        }
      }
      // An odd height's last row is in no window.
      if (d.h > 2 * d.oh) std::fill(op + 2 * d.oh * d.w, op + d.h * d.w, T(0));
    });
    return;
  }
  parallel_for(d.planes, d.h * d.w, [&](int64_t p) {
    const T* xp = x + p * d.h * d.w;
    const T* gp = g + p * d.oh * d.ow;
    T* op = gx + p * d.h * d.w;
    std::fill(op, op + d.h * d.w, T(0));
    for (int64_t i = 0; i < d.oh; ++i)
      for (int64_t j = 0; j < d.ow; ++j) op[window_argmax(xp, i, j, d)] = gp[i * d.ow + j];
  });
}

template void max_pool2d_fwd<float>(const float*, float*, const MaxPool2dDims&);
template void max_pool2d_fwd<double>(const double*, double*, const MaxPool2dDims&);
template void max_pool2d_bwd<float>(const float*, const float*, float*, const MaxPool2dDims&);
template void max_pool2d_bwd<double>(const double*, const double*, double*, const MaxPool2dDims&);

}  // namespace ddpm::kernels::cpu
