// CUDA 2-d max pooling (k x k windows, stride k, no padding), forward and
// backward.
//
// Layout [planes = N*C, H, W] row-major. The window argmax is the first
// maximum in row-major window order, a NaN counting as the maximum (as the
// CPU kernel and PyTorch).
// Forward: a thread per output element (grid-stride over planes*oh*ow);
// neighbouring threads read neighbouring windows of the same rows.
// Backward, gather form (no zeroing pass, no atomics): a thread per element
// of gx recomputes the argmax of the window it lies in and writes g there if
// it is the argmax, else 0; elements past the last whole window (rows >=
// oh*k or columns >= ow*k) get 0. Windows never overlap, so each gx element
// has at most one source. The argmax is recomputed k*k times per window,
// from cached reads of x: cheaper than a saved index tensor for k = 2.
#include <cstdint>
#include <string>

#include "kernels/cuda/elementwise.cuh"
#include "kernels/max_pool2d.h"

namespace ddpm::kernels::cuda {

namespace {

// Offset within the plane of window (i, j)'s maximum.
__device__ __forceinline__ int64_t window_argmax(const float* plane, int64_t i, int64_t j, const MaxPool2dDims& d) {
  int64_t best = i * d.k * d.w + j * d.k;
  float best_v = plane[best];
  for (int64_t a = 0; a < d.k; ++a) {
    const int64_t row = (i * d.k + a) * d.w + j * d.k;
    for (int64_t b = 0; b < d.k; ++b) {
      const float v = plane[row + b];
      if (v > best_v || isnan(v)) {
        best_v = v;
        best = row + b;
      }
    }
  }
  return best;
}

__global__ void max_pool2d_fwd_kernel(const float* __restrict__ x, float* __restrict__ y, const MaxPool2dDims d) {
  const int64_t per_plane = d.oh * d.ow, n = d.planes * per_plane;
  for (int64_t o = global_thread(); o < n; o += global_threads()) {
    const int64_t p = o / per_plane, r = o - p * per_plane;
    const int64_t i = r / d.ow, j = r - i * d.ow;
    const float* plane = x + p * d.h * d.w;
    y[o] = plane[window_argmax(plane, i, j, d)];
  }
}

__global__ void max_pool2d_bwd_kernel(const float* __restrict__ x, const float* __restrict__ g,
                                      float* __restrict__ gx, const MaxPool2dDims d) {
  const int64_t per_plane = d.h * d.w, n = d.planes * per_plane;
  for (int64_t e = global_thread(); e < n; e += global_threads()) {
    const int64_t p = e / per_plane, r = e - p * per_plane;
    const int64_t row = r / d.w, col = r - row * d.w;
    const int64_t i = row / d.k, j = col / d.k;
    float v = 0.0f;
    if (i < d.oh && j < d.ow && window_argmax(x + p * per_plane, i, j, d) == r) v = g[p * d.oh * d.ow + i * d.ow + j];
    gx[e] = v;
  }
}

std::string describe(const MaxPool2dDims& d) {
  return std::to_string(d.planes) + " planes " + std::to_string(d.h) + "x" + std::to_string(d.w) + ", k " +
         std::to_string(d.k);
}

}  // namespace

void max_pool2d_fwd(const float* x, float* y, const MaxPool2dDims& d) {
  const int64_t n = d.planes * d.oh * d.ow;
  if (n == 0) return;
  max_pool2d_fwd_kernel<<<blocks_for(n, kThreads), kThreads, 0, ddpm::cuda::stream()>>>(x, y, d);
  DDPM_CUDA_LAUNCHED("max_pool2d_fwd_kernel", describe(d));
}

void max_pool2d_bwd(const float* x, const float* g, float* gx, const MaxPool2dDims& d) {
  const int64_t n = d.planes * d.h * d.w;
  if (n == 0) return;
  max_pool2d_bwd_kernel<<<blocks_for(n, kThreads), kThreads, 0, ddpm::cuda::stream()>>>(x, g, gx, d);
  DDPM_CUDA_LAUNCHED("max_pool2d_bwd_kernel", describe(d));
}

}  // namespace ddpm::kernels::cuda
