// CPU bilinear upsampling (align_corners=True). The source index and weight
// of every output row and column are tabulated once per call; then one task
// per (n, c) plane interpolates (forward: separably, along the width on the
// source rows, then whole-row blends) or takes the transpose the same way
// round (backward).
#include "kernels/upsample_bilinear2d.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/cpu/gemm.h"  // first: its GCC 12 pragmas must precede the AVX-512 headers
#include "kernels/cpu/packed_gemm.h"
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

// The transpose, separably and in the order the CUDA kernel's emulation
// checks bit for bit: per plane, each output row's gradient is first added
// (fused multiply-adds, rows in order) into the two source rows it came
// from, as whole rows of ow values; then each input column gathers, in the
// order of the output columns, its taps from those h rows. So
//   gx[y][x] = sum_j lw_j (sum_i lh_i g[i][j])
// over the output rows i and columns j whose taps include y and x. (The
// direct scatter of every value to its four inputs was 4 scalar
// read-modify-writes per value: 17 ms of a 600 ms quick-start step, now 7.)
template <class T>
void upsample_bilinear2d_bwd(const T* g, T* gx, const UpsampleBilinear2dDims& d) {
  const Taps<T> rows = make_taps<T>(d.h, d.oh), cols = make_taps<T>(d.w, d.ow);
  // Input column x takes output columns col_j[first[x] .. first[x+1]) with
  // weights col_w, in the order of j (tap 0 before tap 1 where both are x).
  std::vector<int64_t> first(static_cast<size_t>(d.w + 1), 0), col_j;
  std::vector<T> col_w;
  for (int64_t x = 0; x < d.w; ++x) {
    for (int64_t j = 0; j < d.ow; ++j) {
      const size_t cj = static_cast<size_t>(j);
      if (cols.i0[cj] == x) {
        col_j.push_back(j);
        col_w.push_back(cols.l0[cj]);
      }
      if (cols.i1[cj] == x) {
        col_j.push_back(j);
        col_w.push_back(cols.l1[cj]);
      }
    }
    first[static_cast<size_t>(x + 1)] = static_cast<int64_t>(col_j.size());
  }
  parallel_for(d.planes, d.oh * d.ow * 4, [&](int64_t p) {
    const T* gp = g + p * d.oh * d.ow;
    T* op = gx + p * d.h * d.w;
    thread_local std::vector<T> part;  // [h][ow]: the output rows summed into their source rows
    part.assign(static_cast<size_t>(d.h * d.ow), T(0));
    for (int64_t i = 0; i < d.oh; ++i) {
      const size_t ri = static_cast<size_t>(i);
      const T* gi = gp + i * d.ow;
      T* r0 = part.data() + rows.i0[ri] * d.ow;
      const T h0 = rows.l0[ri], h1 = rows.l1[ri];
      for (int64_t j = 0; j < d.ow; ++j) r0[j] = std::fma(h0, gi[j], r0[j]);
      T* r1 = part.data() + rows.i1[ri] * d.ow;
      for (int64_t j = 0; j < d.ow; ++j) r1[j] = std::fma(h1, gi[j], r1[j]);
    }
    if (d.h % gemm::kTransposeTile<T> != 0) {
      for (int64_t y = 0; y < d.h; ++y) {
        const T* pr = part.data() + y * d.ow;
        T* o = op + y * d.w;
        for (int64_t x = 0; x < d.w; ++x) {
          T acc = T(0);
          for (int64_t e = first[static_cast<size_t>(x)]; e < first[static_cast<size_t>(x + 1)]; ++e)
            acc = std::fma(col_w[static_cast<size_t>(e)], pr[col_j[static_cast<size_t>(e)]], acc);
          o[x] = acc;
        }
      }
      return;
    }
    // Columns of whole register tiles (float: 16 rows and more): the same
    // sums over whole columns of y as vectors, on the transposes of part
    // ([ow][h]) and of the result ([w][h]). At 16x16 -> 32x32, 3.9 against
    // 7.0 ms for 16384 planes; at 8x8 and 4x4 the transposes cost more.
    thread_local std::vector<T> part_t, out_t;
    part_t.resize(static_cast<size_t>(d.ow * d.h));
    out_t.resize(static_cast<size_t>(d.w * d.h));
    gemm::transpose_block(part.data(), d.ow, d.h, d.ow, part_t.data(), d.h, false);
    for (int64_t x = 0; x < d.w; ++x) {
      T* acc = out_t.data() + x * d.h;
      std::fill(acc, acc + d.h, T(0));
      for (int64_t e = first[static_cast<size_t>(x)]; e < first[static_cast<size_t>(x + 1)]; ++e) {
        const T wt = col_w[static_cast<size_t>(e)];
        const T* col = part_t.data() + col_j[static_cast<size_t>(e)] * d.h;
        for (int64_t y = 0; y < d.h; ++y) acc[y] = std::fma(wt, col[y], acc[y]);
      }
    }
    gemm::transpose_block(out_t.data(), d.h, d.w, d.h, op, d.w, false);
  });
}

template void upsample_bilinear2d_fwd<float>(const float*, float*, const UpsampleBilinear2dDims&);
template void upsample_bilinear2d_fwd<double>(const double*, double*, const UpsampleBilinear2dDims&);
template void upsample_bilinear2d_bwd<float>(const float*, float*, const UpsampleBilinear2dDims&);
template void upsample_bilinear2d_bwd<double>(const double*, double*, const UpsampleBilinear2dDims&);

}  // namespace ddpm::kernels::cpu
