// CUDA ddim_step: one DDIM step, x_t -> x_{t_prev}, one launch (the formulas
// are in kernels/ddim_step.h).
//
//   x0, eps from the model output (epsilon or v prediction); with clipping,
//   x0 is clipped to [-1, 1] and eps recomputed as (x - a*x0) / b
//   x_prev = sqrt(alphabar_prev) * x0 + c_eps * eps + sigma * z
// Coefficients are rounded to float on the host as the CPU kernel does; z is
// the Philox draw of tensor/philox.h at the CPU's flat index (double
// Box-Muller, one rounding to float), drawn only when sigma != 0 (eta > 0).
// Flat: a thread per quad of 4 elements (float4 accesses when aligned) plus
// the n % 4 tail.
#include <cstdint>
#include <string>

#include "kernels/cuda/elementwise.cuh"
#include "kernels/ddim_step.h"
#include "kernels/model_output.h"
#include "tensor/philox.h"

namespace ddpm::kernels::cuda {

namespace {

// One element of the step: x_t and model output m at flat index i.
struct DdimStep {
  float a, b, ap, ce, sigma;
  bool eps_pred, clip, noise;
  uint64_t seed, stream, offset;

  __device__ __forceinline__ float operator()(float x, float m, int64_t i) const {
    float x0 = x0_from_model(x, m, a, b, eps_pred);
    float eps = eps_from_model(x, m, a, b, eps_pred);
    if (clip) {
      x0 = clip_unit(x0);
      eps = (x - a * x0) / b;
    }
    float v = ap * x0 + ce * eps;
    if (noise)
      v += sigma * static_cast<float>(philox::normal(seed, stream, offset + static_cast<uint64_t>(i)));
    return v;
  }
};

}  // namespace

void ddim_step(const float* x_t, const float* model_out, float* x_prev, int64_t n, const DdimStepParams& p) {
  if (n == 0) return;
  DdimStep c;
  c.a = static_cast<float>(p.sqrt_ab);
  c.b = static_cast<float>(p.sqrt_one_minus_ab);
  c.ap = static_cast<float>(p.sqrt_ab_prev);
  c.ce = static_cast<float>(p.c_eps);
  c.sigma = static_cast<float>(p.sigma);
  c.eps_pred = !p.v_pred;
  c.clip = p.clip_x0;
  c.noise = p.sigma != 0;
  c.seed = p.seed;
  c.stream = p.stream;
  c.offset = p.offset;
  const cudaStream_t s = ddpm::cuda::stream();
  if (vec4_ok(x_t, model_out, x_prev))
    map2_kernel<true, DdimStep><<<blocks_for_quads(n), kThreads, 0, s>>>(x_t, model_out, x_prev, n, c);
  else
    map2_kernel<false, DdimStep><<<blocks_for_quads(n), kThreads, 0, s>>>(x_t, model_out, x_prev, n, c);
  DDPM_CUDA_LAUNCHED("map2_kernel<DdimStep>", std::to_string(n) + " elements");
}

}  // namespace ddpm::kernels::cuda
