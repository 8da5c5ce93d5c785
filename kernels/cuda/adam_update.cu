// CUDA Adam / AdamW step over the flat parameter buffer, one launch for the
// whole model (the formulas are in kernels/adam_update.h).
//
// Per element, reading p, g, m, v and writing p, m, v (28 bytes):
//   Adam: g += wd * p        AdamW: p *= 1 - lr * wd
//   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
//   p -= step_size * m / (sqrt(v) / sqrt(bc2) + eps)
// step_size = lr / bc1 and sqrt(bc2) are formed in double on the host and
// rounded to float, as the CPU kernel does. With an EMA buffer (the
// trainer's sampling weights) the same pass also does
// ema = d ema + (1 - d) p from the new p (kernels/cuda/ema_update.cu's
// arithmetic; 40 -> 32 bytes per element against a separate EMA launch). Flat and memory bound: a thread
// per quad of 4 elements (float4 accesses when every buffer is 16-byte
// aligned) plus the n % 4 tail.
#include <cmath>
#include <cstdint>
#include <string>

#include "kernels/adam_update.h"
#include "kernels/cuda/elementwise.cuh"

namespace ddpm::kernels::cuda {

namespace {

struct Coefs {
  float lr, b1, b2, eps, wd, step_size, bc2_sqrt, decay, ema_d, ema_e;
  bool weight_decay, decoupled;
};

__device__ __forceinline__ void adam_one(float& w, float g, float& m, float& v, const Coefs& c) {
  if (c.weight_decay) {
    if (c.decoupled)
      w *= c.decay;
    else
      g += c.wd * w;
  }
  m = c.b1 * m + (1.0f - c.b1) * g;
  v = c.b2 * v + (1.0f - c.b2) * g * g;
  w = w - c.step_size * m / (sqrtf(v) / c.bc2_sqrt + c.eps);
}

__device__ __forceinline__ float ema_one(float e, float w, const Coefs& c) {
  return c.ema_d * e + c.ema_e * w;
}

template <bool Vec4, bool Ema>
__global__ void adam_update_kernel(float* __restrict__ param, const float* __restrict__ grad,
                                   float* __restrict__ exp_avg, float* __restrict__ exp_avg_sq,
                                   float* __restrict__ ema, int64_t n, const Coefs c) {
  for (int64_t q = global_thread(); q < n / 4; q += global_threads()) {
    Quad w = load_quad<Vec4>(param, q), m = load_quad<Vec4>(exp_avg, q), v = load_quad<Vec4>(exp_avg_sq, q);
    const Quad g = load_quad<Vec4>(grad, q);
#pragma unroll
    for (int k = 0; k < 4; ++k) adam_one(w.v[k], g.v[k], m.v[k], v.v[k], c);
    store_quad<Vec4>(param, q, w);
    store_quad<Vec4>(exp_avg, q, m);
    store_quad<Vec4>(exp_avg_sq, q, v);
    if constexpr (Ema) {
      Quad e = load_quad<Vec4>(ema, q);
#pragma unroll
      for (int k = 0; k < 4; ++k) e.v[k] = ema_one(e.v[k], w.v[k], c);
      store_quad<Vec4>(ema, q, e);
    }
  }
  const int64_t i = tail_element(n);
  if (i < n) {
    float w = param[i], m = exp_avg[i], v = exp_avg_sq[i];
    adam_one(w, grad[i], m, v, c);
    param[i] = w;
    exp_avg[i] = m;
    exp_avg_sq[i] = v;
    if constexpr (Ema) ema[i] = ema_one(ema[i], w, c);
  }
}

}  // namespace

void adam_update(float* param, const float* grad, float* m, float* v, float* ema, int64_t n,
                 const AdamParams& p) {
  if (n == 0) return;
  Coefs c;
  c.lr = static_cast<float>(p.lr);
  c.b1 = static_cast<float>(p.beta1);
  c.b2 = static_cast<float>(p.beta2);
  c.eps = static_cast<float>(p.eps);
  c.wd = static_cast<float>(p.weight_decay);
  const double step = static_cast<double>(p.step);
  c.step_size = static_cast<float>(p.lr / (1 - std::pow(p.beta1, step)));
  c.bc2_sqrt = static_cast<float>(std::sqrt(1 - std::pow(p.beta2, step)));
  c.decay = 1.0f - c.lr * c.wd;
  c.weight_decay = p.weight_decay != 0;
  c.decoupled = p.decoupled;
  c.ema_d = static_cast<float>(p.ema_decay);
  c.ema_e = static_cast<float>(1 - p.ema_decay);
  const cudaStream_t s = ddpm::cuda::stream();
  const bool vec4 = vec4_ok(param, grad, m, v) && (!ema || vec4_ok(ema));
  const unsigned blocks = blocks_for_quads(n);
  if (ema) {
    if (vec4)
      adam_update_kernel<true, true><<<blocks, kThreads, 0, s>>>(param, grad, m, v, ema, n, c);
    else
      adam_update_kernel<false, true><<<blocks, kThreads, 0, s>>>(param, grad, m, v, ema, n, c);
  } else if (vec4) {
    adam_update_kernel<true, false><<<blocks, kThreads, 0, s>>>(param, grad, m, v, nullptr, n, c);
  } else {
    adam_update_kernel<false, false><<<blocks, kThreads, 0, s>>>(param, grad, m, v, nullptr, n, c);
  }
  DDPM_CUDA_LAUNCHED("adam_update_kernel", std::to_string(n) + " parameters, step " + std::to_string(p.step));
}

}  // namespace ddpm::kernels::cuda
