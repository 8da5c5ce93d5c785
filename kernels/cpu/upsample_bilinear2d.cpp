// CPU bilinear upsampling (align_corners=True). The source index and weight
// of every output row and column are tabulated once per call; then one task
// per (n, c) plane interpolates (forward: separably, along the width on the
// source rows, then whole-row blends) or scatters (backward).
#include "kernels/upsample_bilinear2d.h"

#include <algorithm>
#include <vector>

#include "kernels/cpu/parallel.h"

namespace ddpm::kernels::cpu {

namespace {
template <class T>
struct Taps {
  std::vector<int64_t> i0, i1;  // the two source indices
  std::vector<T> l0, l1;        // their weights (1 - lambda, lambda)
};

// Source taps for `out` positions sampled from `in` (align_corners=True).
template <class T>
Taps<T> make_taps(int64_t in, int64_t out) {
  const T scale = out > 1 ? static_cast<T>(in - 1) / static_cast<T>(out - 1) : T(0);
  Taps<T> t;
  const size_t n = static_cast<size_t>(out);
  t.i0.resize(n);
  t.i1.resize(n);
  t.l0.resize(n);
  t.l1.resize(n);
  for (int64_t o = 0; o < out; ++o) {
    const T src = scale * static_cast<T>(o);
    const int64_t i0 = std::min(static_cast<int64_t>(src), in - 1);
    const size_t k = static_cast<size_t>(o);
    t.i0[k] = i0;
    t.i1[k] = i0 < in - 1 ? i0 + 1 : i0;
    t.l1[k] = src - static_cast<T>(i0);
    t.l0[k] = T(1) - t.l1[k];
  }
  return t;
}
}  // namespace

// Separable: each source row is interpolated along the width once (h rows,
// not oh), then output rows are blends of two of those, contiguous and
// vectorised. The same products and sums as the direct formula
// h0 (l0 a + l1 b) + h1 (l0 c + l1 d).
template <class T>
void upsample_bilinear2d_fwd(const T* x, T* y, const UpsampleBilinear2dDims& d) {
  const Taps<T> rows = make_taps<T>(d.h, d.oh), cols = make_taps<T>(d.w, d.ow);
  parallel_for(d.planes, d.oh * d.ow * 8, [&](int64_t p) {
    const T* xp = x + p * d.h * d.w;
    T* yp = y + p * d.oh * d.ow;
    thread_local std::vector<T> wide;
    wide.resize(static_cast<size_t>(d.h * d.ow));
    for (int64_t r = 0; r < d.h; ++r) {
      const T* src = xp + r * d.w;
      T* dst = wide.data() + r * d.ow;
      for (int64_t j = 0; j < d.ow; ++j) {
        const size_t cj = static_cast<size_t>(j);
        dst[j] = cols.l0[cj] * src[cols.i0[cj]] + cols.l1[cj] * src[cols.i1[cj]];
      }
    }
    for (int64_t i = 0; i < d.oh; ++i) {
      const size_t ri = static_cast<size_t>(i);
      const T* r0 = wide.data() + rows.i0[ri] * d.ow;
      const T* r1 = wide.data() + rows.i1[ri] * d.ow;
      const T h0 = rows.l0[ri], h1 = rows.l1[ri];
      T* o = yp + i * d.ow;
      for (int64_t j = 0; j < d.ow; ++j) o[j] = h0 * r0[j] + h1 * r1[j];
    }
  });
}

// The transpose, output by output: each gradient value is scattered to its
// four sources with the weight products h*l, in the order the CUDA kernel's
// emulation checks bit for bit (a separable version rounds differently).
template <class T>
void upsample_bilinear2d_bwd(const T* g, T* gx, const UpsampleBilinear2dDims& d) {
  const Taps<T> rows = make_taps<T>(d.h, d.oh), cols = make_taps<T>(d.w, d.ow);
  parallel_for(d.planes, d.oh * d.ow * 8, [&](int64_t p) {
    const T* gp = g + p * d.oh * d.ow;
    T* op = gx + p * d.h * d.w;
    std::fill(op, op + d.h * d.w, T(0));
    for (int64_t i = 0; i < d.oh; ++i) {
      const size_t ri = static_cast<size_t>(i);
      T* r0 = op + rows.i0[ri] * d.w;
      T* r1 = op + rows.i1[ri] * d.w;
      const T h0 = rows.l0[ri], h1 = rows.l1[ri];
      for (int64_t j = 0; j < d.ow; ++j) {
        const size_t cj = static_cast<size_t>(j);
        const int64_t w0 = cols.i0[cj], w1 = cols.i1[cj];
        const T l0 = cols.l0[cj], l1 = cols.l1[cj];
        const T v = gp[i * d.ow + j];
        r0[w0] += h0 * l0 * v;
        r0[w1] += h0 * l1 * v;
        r1[w0] += h1 * l0 * v;
        r1[w1] += h1 * l1 * v;
      }
    }
  });
}

template void upsample_bilinear2d_fwd<float>(const float*, float*, const UpsampleBilinear2dDims&);
template void upsample_bilinear2d_fwd<double>(const double*, double*, const UpsampleBilinear2dDims&);
template void upsample_bilinear2d_bwd<float>(const float*, float*, const UpsampleBilinear2dDims&);
template void upsample_bilinear2d_bwd<double>(const double*, double*, const UpsampleBilinear2dDims&);

}  // namespace ddpm::kernels::cpu
