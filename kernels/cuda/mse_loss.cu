// CUDA mean squared error, forward and backward.
//
// Forward: the two-pass deterministic reduction of kernels/cuda/sum.cu with
// the term (double(p) - double(t))^2: B blocks (a function of n alone) stride
// over quads (float4 loads when aligned) accumulating in double, a fixed-order
// block sum per block, then one block adds the B partials in order and writes
// float(total / n) to the device scalar. No atomics; repeatable bit for bit.
// Backward: elementwise, with the scale 2 g / n formed in double from the
// device scalar g and rounded to float as the CPU does, then
//   gp = scale * (p - t),  gt = -gp   (either output may be absent).
#include <cstdint>
#include <string>

#include "kernels/cuda/elementwise.cuh"
#include "kernels/cuda/reduce.cuh"
#include "kernels/mse_loss.h"

namespace ddpm::kernels::cuda {

namespace {

template <bool Vec4>
__global__ void mse_loss_fwd_kernel(const float* __restrict__ p, const float* __restrict__ t, int64_t n,
                                    double* __restrict__ partials) {
  double acc = 0;
  for (int64_t q = global_thread(); q < n / 4; q += global_threads()) {
    const Quad vp = load_quad<Vec4>(p, q), vt = load_quad<Vec4>(t, q);
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const double e = static_cast<double>(vp.v[k]) - static_cast<double>(vt.v[k]);
      acc += e * e;
    }
  }
  const int64_t i = tail_element(n);
  if (i < n) {
    const double e = static_cast<double>(p[i]) - static_cast<double>(t[i]);
    acc += e * e;
  }
  const double total = block_sum<kThreads>(acc);
  if (threadIdx.x == 0) partials[blockIdx.x] = total;
}

// gp or gt may be null (that gradient is not needed).
template <bool Vec4>
__global__ void mse_loss_bwd_kernel(const float* __restrict__ p, const float* __restrict__ t,
                                    const float* __restrict__ g, float* __restrict__ gp, float* __restrict__ gt,
                                    int64_t n) {
  const float scale = static_cast<float>(2.0 * static_cast<double>(g[0]) / static_cast<double>(n));
  for (int64_t q = global_thread(); q < n / 4; q += global_threads()) {
    const Quad vp = load_quad<Vec4>(p, q), vt = load_quad<Vec4>(t, q);
    Quad rp, rt;
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      rp.v[k] = scale * (vp.v[k] - vt.v[k]);
      rt.v[k] = -rp.v[k];
    }
    if (gp) store_quad<Vec4>(gp, q, rp);
    if (gt) store_quad<Vec4>(gt, q, rt);
  }
  const int64_t i = tail_element(n);
  if (i < n) {
    const float v = scale * (p[i] - t[i]);
    if (gp) gp[i] = v;
    if (gt) gt[i] = -v;
  }
}

}  // namespace

void mse_loss_fwd(const float* pred, const float* target, float* out, const MseLossDims& d) {
  const cudaStream_t s = ddpm::cuda::stream();
  const int blocks = reduce_blocks(d.n, kThreads);
  DeviceScratch partials(static_cast<size_t>(blocks) * sizeof(double));
  if (vec4_ok(pred, target))
    mse_loss_fwd_kernel<true><<<blocks, kThreads, 0, s>>>(pred, target, d.n, partials.as<double>());
  else
    mse_loss_fwd_kernel<false><<<blocks, kThreads, 0, s>>>(pred, target, d.n, partials.as<double>());
  DDPM_CUDA_LAUNCHED("mse_loss_fwd_kernel", std::to_string(d.n) + " elements, " + std::to_string(blocks) + " blocks");
  reduce_finish_kernel<kThreads><<<1, kThreads, 0, s>>>(partials.as<double>(), blocks, out, 1.0,
                                                        static_cast<double>(d.n));
  DDPM_CUDA_LAUNCHED("reduce_finish_kernel", "mse_loss over " + std::to_string(blocks) + " partials");
}

void mse_loss_bwd(const float* pred, const float* target, const float* g, float* gp, float* gt,
                  const MseLossDims& d) {
  if (d.n == 0 || (!gp && !gt)) return;
  const cudaStream_t s = ddpm::cuda::stream();
  if (vec4_ok(pred, target, gp, gt))
    mse_loss_bwd_kernel<true><<<blocks_for_quads(d.n), kThreads, 0, s>>>(pred, target, g, gp, gt, d.n);
  else
    mse_loss_bwd_kernel<false><<<blocks_for_quads(d.n), kThreads, 0, s>>>(pred, target, g, gp, gt, d.n);
  DDPM_CUDA_LAUNCHED("mse_loss_bwd_kernel", std::to_string(d.n) + " elements");
}

}  // namespace ddpm::kernels::cuda
