// CUDA ddpm_step: one ancestral DDPM reverse step, x_t -> x_{t_prev}, one
// launch (the formulas are in kernels/ddpm_step.h).
//
//   x0     = (x - b*m) / a  (epsilon)  or  a*x - b*m  (v), optionally clipped
//   x_prev = c_x0 * x0 + c_xt * x + sigma * z,   z = normal(seed, stream, offset + i)
// Coefficients are rounded to float on the host as the CPU kernel does; the
// noise is the Philox draw of tensor/philox.h at the same flat index as the
// CPU (double Box-Muller, one rounding to float), skipped when sigma is 0.
// Flat: a thread per quad of 4 elements (float4 accesses when aligned) plus
// the n % 4 tail.
#include <cstdint>
#include <string>

#include "kernels/cuda/elementwise.cuh"
#include "kernels/ddpm_step.h"
#include "tensor/philox.h"

namespace ddpm::kernels::cuda {

namespace {

struct Coefs {
  float a, b, c0, ct, sigma;
  bool eps_pred, clip, noise;
  uint64_t seed, stream, offset;
};

__device__ __forceinline__ float step_one(float x, float m, const Coefs& c, int64_t i) {
  float x0 = c.eps_pred ? (x - c.b * m) / c.a : c.a * x - c.b * m;
  if (c.clip) x0 = x0 < -1.0f ? -1.0f : (1.0f < x0 ? 1.0f : x0);  // std::clamp: NaN stays NaN
  float v = c.c0 * x0 + c.ct * x;
  if (c.noise) v += c.sigma * static_cast<float>(philox::normal(c.seed, c.stream, c.offset + static_cast<uint64_t>(i)));
  return v;
}

template <bool Vec4>
__global__ void ddpm_step_kernel(const float* __restrict__ x_t, const float* __restrict__ m,
                                 float* __restrict__ out, int64_t n, const Coefs c) {
  for (int64_t q = global_thread(); q < n / 4; q += global_threads()) {
    const Quad vx = load_quad<Vec4>(x_t, q), vm = load_quad<Vec4>(m, q);
    Quad r;
#pragma unroll
    for (int k = 0; k < 4; ++k) r.v[k] = step_one(vx.v[k], vm.v[k], c, 4 * q + k);
    store_quad<Vec4>(out, q, r);
  }
  const int64_t i = tail_element(n);
  if (i < n) out[i] = step_one(x_t[i], m[i], c, i);
}

}  // namespace

void ddpm_step(const float* x_t, const float* model_out, float* x_prev, int64_t n, const DdpmStepParams& p) {
  if (n == 0) return;
  Coefs c;
  c.a = static_cast<float>(p.sqrt_ab);
  c.b = static_cast<float>(p.sqrt_one_minus_ab);
  c.c0 = static_cast<float>(p.c_x0);
  c.ct = static_cast<float>(p.c_xt);
  c.sigma = static_cast<float>(p.sigma);
  c.eps_pred = p.prediction == Prediction::epsilon;
  c.clip = p.clip_x0;
  c.noise = p.sigma != 0;
  c.seed = p.seed;
  c.stream = p.stream;
  c.offset = p.offset;
  const cudaStream_t s = ddpm::cuda::stream();
  if (vec4_ok(x_t, model_out, x_prev))
    ddpm_step_kernel<true><<<blocks_for_quads(n), kThreads, 0, s>>>(x_t, model_out, x_prev, n, c);
  else
    ddpm_step_kernel<false><<<blocks_for_quads(n), kThreads, 0, s>>>(x_t, model_out, x_prev, n, c);
  DDPM_CUDA_LAUNCHED("ddpm_step_kernel", std::to_string(n) + " elements");
}

}  // namespace ddpm::kernels::cuda
