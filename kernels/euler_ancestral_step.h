// euler_ancestral_step: one Euler-ancestral step (Karras et al. 2022; the
// sample_euler_ancestral of k-diffusion), x_t -> x_{t_prev}, in one pass.
//
// It works in sigma space, the variance-exploding view of the same process:
// x_sigma = x_t / sqrt(alphabar_t), sigma = sqrt((1 - alphabar_t) / alphabar_t).
// The engine keeps x at the variance-preserving scale x_t (what the model
// takes), so the step converts on the way in and out. With x0 recovered from
// the model output m as in ddpm_step (optionally clipped to [-1, 1]):
//   xs      = x_t / sqrt(alphabar_t)
//   d       = (xs - x0) / sigma                         (the ODE's derivative dxs/dsigma)
//   xs'     = xs + (sigma_down - sigma) * d + sigma_up * z,   z = normal(seed, stream, offset + i)
//   x_prev  = sqrt(alphabar_prev) * xs'
// where, for the target sigma_to = sigma at t_prev (0 at the clean end),
//   sigma_up   = min(sigma_to, sqrt(sigma_to^2 (sigma^2 - sigma_to^2) / sigma^2))
//   sigma_down = sqrt(sigma_to^2 - sigma_up^2)
// (the host, diffusion/sampler.cpp, computes them; eta = 1). At the clean end
// sigma_to = sigma_up = sigma_down = 0 and x_prev = x0. The update is affine in
// x_t, x0 and z, like ddpm_step's; it is written here as the paper writes it.
#pragma once

#include <cstdint>

#include "tensor/tensor.h"

namespace ddpm::kernels {

struct EulerAncestralStepParams {
  double sqrt_ab = 1, sqrt_one_minus_ab = 0;  // at t
  double sqrt_ab_prev = 1;                    // at t_prev (1 at the clean end)
  double sigma = 0;                           // sqrt((1 - alphabar_t) / alphabar_t)
  double sigma_down = 0, sigma_up = 0;
  bool clip_x0 = false;
  bool v_pred = false;                        // model_out is v (else epsilon); kernels/model_output.h
  uint64_t seed = 0, stream = 0, offset = 0;  // noise draw: index offset + i (when sigma_up != 0)
};

Tensor euler_ancestral_step(const Tensor& x_t, const Tensor& model_out, const EulerAncestralStepParams& p);

namespace cpu {
template <class T>
void euler_ancestral_step(const T* x_t, const T* model_out, T* x_prev, int64_t n,
                          const EulerAncestralStepParams& p);
}

// kernels/cuda/euler_ancestral_step.cu; device pointers, launched on the engine stream.
namespace cuda {
void euler_ancestral_step(const float* x_t, const float* model_out, float* x_prev, int64_t n,
                          const EulerAncestralStepParams& p);
}

}  // namespace ddpm::kernels
