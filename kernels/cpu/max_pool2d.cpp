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

template <class T>
void max_pool2d_fwd(const T* x, T* y, const MaxPool2dDims& d) {
  parallel_for(d.planes, d.h * d.w, [&](int64_t p) {
    const T* xp = x + p * d.h * d.w;
    T* yp = y + p * d.oh * d.ow;
    for (int64_t i = 0; i < d.oh; ++i)
      for (int64_t j = 0; j < d.ow; ++j) yp[i * d.ow + j] = xp[window_argmax(xp, i, j, d)];
  });
}

template <class T>
void max_pool2d_bwd(const T* x, const T* g, T* gx, const MaxPool2dDims& d) {
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
