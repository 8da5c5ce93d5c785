// CUDA bilinear upsampling by an integer factor, align_corners=True, forward
// and backward.
//
// Layout [planes = N*C, H, W] -> [planes, OH, OW] row-major. The taps of an
// output row (or column) o are computed exactly as the CPU kernel does, in
// float: scale = float(in-1) / float(out-1) (formed on the host), src =
// scale * o, i0 = min(int(src), in-1), i1 = min(i0+1, in-1), l1 = src - i0,
// l0 = 1 - l1; so the GPU uses the same source indices and weights.
// Forward: a thread per output element (grid-stride), four reads.
// Backward, gather form (no atomics, no zeroing pass): a thread per element
// (y, x) of gx sums the output columns whose taps include x, each column's
// value being the sum over the output rows whose taps include y. Taps are
// monotone in the output index, so those rows form one short run, found by
// starting a little before (y-1)/scale and stopping once i0 > y (about
// 2*factor + 3 rows; the same for columns). The sums are fused multiply-adds
// in the CPU kernel's order (rows in order within a column, columns in
// order; tap 0 before tap 1), so both give the same bits.
#include <cmath>
#include <cstdint>
#include <string>

#include "kernels/cuda/elementwise.cuh"
#include "kernels/upsample_bilinear2d.h"

namespace ddpm::kernels::cuda {

namespace {

struct Tap {
  int64_t i0, i1;
  float l0, l1;
};

__device__ __forceinline__ Tap tap_of(int64_t o, int64_t in, float scale) {
  const float src = scale * static_cast<float>(o);
  Tap t;
  t.i0 = static_cast<int64_t>(src) < in - 1 ? static_cast<int64_t>(src) : in - 1;
  t.i1 = t.i0 < in - 1 ? t.i0 + 1 : t.i0;
  t.l1 = src - static_cast<float>(t.i0);
  t.l0 = 1.0f - t.l1;
  return t;
}

// First output index whose taps can include input index v: a little before
// (v - 1) / scale, never past the first one that does.
__device__ __forceinline__ int64_t first_candidate(int64_t v, float scale) {
  if (scale <= 0.0f) return 0;
  const double est = floor(static_cast<double>(v - 1) / static_cast<double>(scale)) - 2.0;
  return est > 0.0 ? static_cast<int64_t>(est) : 0;
}

__global__ void upsample_bilinear2d_fwd_kernel(const float* __restrict__ x, float* __restrict__ y,
                                               const UpsampleBilinear2dDims d, float scale_h, float scale_w) {
  const int64_t per_plane = d.oh * d.ow, n = d.planes * per_plane;
  for (int64_t o = global_thread(); o < n; o += global_threads()) {
    const int64_t p = o / per_plane, r = o - p * per_plane;
    const int64_t i = r / d.ow, j = r - i * d.ow;
    const Tap th = tap_of(i, d.h, scale_h), tw = tap_of(j, d.w, scale_w);
    const float* r0 = x + p * d.h * d.w + th.i0 * d.w;
    const float* r1 = x + p * d.h * d.w + th.i1 * d.w;
    y[o] = th.l0 * (tw.l0 * r0[tw.i0] + tw.l1 * r0[tw.i1]) + th.l1 * (tw.l0 * r1[tw.i0] + tw.l1 * r1[tw.i1]);
  }
}

__global__ void upsample_bilinear2d_bwd_kernel(const float* __restrict__ g, float* __restrict__ gx,
                                               const UpsampleBilinear2dDims d, float scale_h, float scale_w) {
  const int64_t per_plane = d.h * d.w, n = d.planes * per_plane;
  for (int64_t e = global_thread(); e < n; e += global_threads()) {
    const int64_t p = e / per_plane, r = e - p * per_plane;
    const int64_t yy = r / d.w, xx = r - yy * d.w;
    const float* gp = g + p * d.oh * d.ow;
    const int64_t i_first = first_candidate(yy, scale_h);
    float acc = 0.0f;
    for (int64_t j = first_candidate(xx, scale_w); j < d.ow; ++j) {
      const Tap tw = tap_of(j, d.w, scale_w);
      if (tw.i0 > xx) break;
      const bool col0 = tw.i0 == xx, col1 = tw.i1 == xx;
      if (!col0 && !col1) continue;
      float column = 0.0f;
      for (int64_t i = i_first; i < d.oh; ++i) {
        const Tap th = tap_of(i, d.h, scale_h);
        if (th.i0 > yy) break;
        if (th.i0 != yy && th.i1 != yy) continue;
        const float v = gp[i * d.ow + j];
        if (th.i0 == yy) column = fmaf(th.l0, v, column);
        if (th.i1 == yy) column = fmaf(th.l1, v, column);
      }
      if (col0) acc = fmaf(tw.l0, column, acc);
      if (col1) acc = fmaf(tw.l1, column, acc);
    }
    gx[e] = acc;
  }
}

// The CPU kernel's scale, in float.
float scale_of(int64_t in, int64_t out) {
  return out > 1 ? static_cast<float>(in - 1) / static_cast<float>(out - 1) : 0.0f;
}

std::string describe(const UpsampleBilinear2dDims& d) {
  return std::to_string(d.planes) + " planes " + std::to_string(d.h) + "x" + std::to_string(d.w) + " -> " +
         std::to_string(d.oh) + "x" + std::to_string(d.ow);
}

}  // namespace

void upsample_bilinear2d_fwd(const float* x, float* y, const UpsampleBilinear2dDims& d) {
  const int64_t n = d.planes * d.oh * d.ow;
  if (n == 0) return;
  upsample_bilinear2d_fwd_kernel<<<blocks_for(n, kThreads), kThreads, 0, ddpm::cuda::stream()>>>(
      x, y, d, scale_of(d.h, d.oh), scale_of(d.w, d.ow));
  DDPM_CUDA_LAUNCHED("upsample_bilinear2d_fwd_kernel", describe(d));
}

void upsample_bilinear2d_bwd(const float* g, float* gx, const UpsampleBilinear2dDims& d) {
  const int64_t n = d.planes * d.h * d.w;
  if (n == 0) return;
  upsample_bilinear2d_bwd_kernel<<<blocks_for(n, kThreads), kThreads, 0, ddpm::cuda::stream()>>>(
      g, gx, d, scale_of(d.h, d.oh), scale_of(d.w, d.ow));
  DDPM_CUDA_LAUNCHED("upsample_bilinear2d_bwd_kernel", describe(d));
}

}  // namespace ddpm::kernels::cuda
