// ddpm_step: one ancestral DDPM reverse step, x_t -> x_{t_prev}, in one pass.
//
// From the model output m, recover the clean-image and noise estimates
//   epsilon prediction: eps = m,                     x0 = (x_t - b*eps) / a
//   v prediction:       x0 = a*x_t - b*m,            eps = b*x_t + a*m
// with a = sqrt(alphabar_t), b = sqrt(1 - alphabar_t); optionally clip x0 to
// [-1, 1]. Then the posterior mean and the noise:
//   x_prev = c_x0 * x0 + c_xt * x_t + sigma * z,    z = normal(seed, stream, offset + i)
// For consecutive steps (t_prev = t - 1) and no clipping this is exactly the
// seed's update 1/sqrt(alpha_t) (x_t - beta_t/sqrt(1-alphabar_t) eps) + sigma z
// (tests/test_diffusion_ops.cpp checks the identity); the posterior form also
// covers strided chains (beta_t replaced by 1 - alphabar_t/alphabar_prev).
// sigma^2 is beta_t ("fixed_large", the seed) or the posterior variance
// beta~_t ("fixed_small"); 0 at the final step. Coefficients come from
// diffusion/sampler.cpp.
#pragma once

#include <cstdint>

#include "tensor/tensor.h"

namespace ddpm::kernels {

struct DdpmStepParams {
  double sqrt_ab = 1, sqrt_one_minus_ab = 0;  // at t
  double c_x0 = 0, c_xt = 1;                  // posterior mean coefficients for t -> t_prev
  double sigma = 0;
  bool clip_x0 = false;
  bool v_pred = false;                        // model_out is v (else epsilon); kernels/model_output.h
  uint64_t seed = 0, stream = 0, offset = 0;  // noise draw: index offset + i
};

Tensor ddpm_step(const Tensor& x_t, const Tensor& model_out, const DdpmStepParams& p);

namespace cpu {
template <class T>
void ddpm_step(const T* x_t, const T* model_out, T* x_prev, int64_t n, const DdpmStepParams& p);
}

// kernels/cuda/ddpm_step.cu; device pointers, launched on the engine stream.
namespace cuda {
void ddpm_step(const float* x_t, const float* model_out, float* x_prev, int64_t n, const DdpmStepParams& p);
}

}  // namespace ddpm::kernels
