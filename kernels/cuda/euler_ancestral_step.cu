// CUDA euler_ancestral_step: one Euler-ancestral step in sigma space, x_t ->
// x_{t_prev}, one launch (the formulas are in kernels/euler_ancestral_step.h).
//
//   x0 from the model output (epsilon or v prediction), clipped optionally
//   xs = x / a;  d = (xs - x0) / sigma;  x_prev = a_prev * (xs + (sigma_down - sigma) d + sigma_up z)
// Coefficients are rounded to float on the host as the CPU kernel does; z is
// the Philox draw of tensor/philox.h at the CPU's flat index (double
// Box-Muller, one rounding to float), drawn only when sigma_up != 0.
// Flat: a thread per quad of 4 elements (float4 accesses when aligned) plus
// the n % 4 tail (map2_kernel, kernels/cuda/elementwise.cuh).
#include <cstdint>
#include <string>

#include "kernels/cuda/elementwise.cuh"
#include "kernels/euler_ancestral_step.h"
#include "kernels/model_output.h"
#include "tensor/philox.h"

namespace ddpm::kernels::cuda {

namespace {

// One element of the step: x_t and model output m at flat index i.
struct EulerAncestralStep {
  float a, b, ap, s, dsig, su;
  bool eps_pred, clip, noise;
  uint64_t seed, stream, offset;

  __device__ __forceinline__ float operator()(float x, float m, int64_t i) const {
    float x0 = x0_from_model(x, m, a, b, eps_pred);
    if (clip) x0 = clip_unit(x0);
    const float xs = x / a;
    const float d = (xs - x0) / s;
    float v = xs + dsig * d;
    if (noise) v += su * static_cast<float>(philox::normal(seed, stream, offset + static_cast<uint64_t>(i)));
    return ap * v;
  }
};

}  // namespace

void euler_ancestral_step(const float* x_t, const float* model_out, float* x_prev, int64_t n,
                          const EulerAncestralStepParams& p) {
  if (n == 0) return;
  EulerAncestralStep c;
  c.a = static_cast<float>(p.sqrt_ab);
  c.b = static_cast<float>(p.sqrt_one_minus_ab);
  c.ap = static_cast<float>(p.sqrt_ab_prev);
  c.s = static_cast<float>(p.sigma);
  c.dsig = static_cast<float>(p.sigma_down - p.sigma);
  c.su = static_cast<float>(p.sigma_up);
  c.eps_pred = !p.v_pred;
  c.clip = p.clip_x0;
  c.noise = p.sigma_up != 0;
  c.seed = p.seed;
  c.stream = p.stream;
  c.offset = p.offset;
  const cudaStream_t st = ddpm::cuda::stream();
  if (vec4_ok(x_t, model_out, x_prev))
    map2_kernel<true, EulerAncestralStep>
        <<<blocks_for_quads(n), kThreads, 0, st>>>(x_t, model_out, x_prev, n, c);
  else
    map2_kernel<false, EulerAncestralStep>
        <<<blocks_for_quads(n), kThreads, 0, st>>>(x_t, model_out, x_prev, n, c);
  DDPM_CUDA_LAUNCHED("map2_kernel<EulerAncestralStep>", std::to_string(n) + " elements");
}

}  // namespace ddpm::kernels::cuda
