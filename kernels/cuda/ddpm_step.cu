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
#include "kernels/model_output.h"
#include "tensor/philox.h"

namespace ddpm::kernels::cuda {

namespace {

// One element of the step: x_t and model output m at flat index i.
struct DdpmStep {
  float a, b, c0, ct, sigma;
  bool eps_pred, clip, noise;
  uint64_t seed, stream, offset;

  __device__ __forceinline__ float operator()(float x, float m, int64_t i) const {
    float x0 = x0_from_model(x, m, a, b, eps_pred);
    if (clip) x0 = clip_unit(x0);
    float v = c0 * x0 + ct * x;
    if (noise)
      v += sigma * static_cast<float>(philox::normal(seed, stream, offset + static_cast<uint64_t>(i)));
    return v;
  }
};

}  // namespace

void ddpm_step(const float* x_t, const float* model_out, float* x_prev, int64_t n, const DdpmStepParams& p) {
  if (n == 0) return;
  DdpmStep c;
  c.a = static_cast<float>(p.sqrt_ab);
  c.b = static_cast<float>(p.sqrt_one_minus_ab);
  c.c0 = static_cast<float>(p.c_x0);
  c.ct = static_cast<float>(p.c_xt);
  c.sigma = static_cast<float>(p.sigma);
  c.eps_pred = !p.v_pred;
  c.clip = p.clip_x0;
  c.noise = p.sigma != 0;
  c.seed = p.seed;
  c.stream = p.stream;
  c.offset = p.offset;
  const cudaStream_t s = ddpm::cuda::stream();
  if (vec4_ok(x_t, model_out, x_prev))
    map2_kernel<true, DdpmStep><<<blocks_for_quads(n), kThreads, 0, s>>>(x_t, model_out, x_prev, n, c);
  else
    map2_kernel<false, DdpmStep><<<blocks_for_quads(n), kThreads, 0, s>>>(x_t, model_out, x_prev, n, c);
  DDPM_CUDA_LAUNCHED("map2_kernel<DdpmStep>", std::to_string(n) + " elements");
}

}  // namespace ddpm::kernels::cuda
