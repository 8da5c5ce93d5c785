// dpm_solver_step: one step of DPM-Solver++ (Lu et al. 2022, "DPM-Solver++:
// Fast Solver for Guided Sampling of Diffusion Probabilistic Models"), the
// multistep data-prediction solver of the probability-flow ODE, x_t ->
// x_{t_prev}, fused with the clean-image estimate the next step reuses.
//
// From the model output m, x0 is recovered as in ddpm_step (epsilon or v
// prediction, kernels/model_output.h), optionally clipped to [-1, 1]. Then
//   x_prev = c_x * x_t + c_x0 * x0 + c_prev * x0_prev
// and x0 is written out too (the next step's x0_prev). With alpha = sqrt(alphabar),
// sigma = sqrt(1 - alphabar), lambda = log(alpha / sigma), h = lambda_prev - lambda_t
// and phi = 1 - exp(-h), the host (diffusion/sampler.cpp) sets
//   first order (= DDIM):  c_x = sigma_prev / sigma_t, c_x0 = alpha_prev * phi,                 c_prev = 0
//   second order (2M):     c_x = sigma_prev / sigma_t, c_x0 = alpha_prev * phi * (1 + 1/(2r)),
//                          c_prev = -alpha_prev * phi / (2r),   r = h_last / h
// (h_last: the previous step's h), i.e. the update with D = (1 + 1/(2r)) x0 - x0_prev/(2r).
// The step to the clean end (alphabar_prev = 1) is first order: x_prev = x0.
// No noise: the solver is deterministic.
#pragma once

#include <cstdint>

#include "tensor/tensor.h"

namespace ddpm::kernels {

struct DpmSolverStepParams {
  double sqrt_ab = 1, sqrt_one_minus_ab = 0;  // at t
  double c_x = 0, c_x0 = 1, c_prev = 0;       // the update's coefficients (above)
  bool clip_x0 = false;
  bool v_pred = false;  // model_out is v (else epsilon); kernels/model_output.h
};

struct DpmSolverStepResult {
  Tensor x_prev, x0;  // x0: this step's (clipped) clean-image estimate
};

// x0_prev may be undefined when c_prev == 0 (a first-order step).
DpmSolverStepResult dpm_solver_step(const Tensor& x_t, const Tensor& model_out, const Tensor& x0_prev,
                                    const DpmSolverStepParams& p);

namespace cpu {
// x0_prev may be null when p.c_prev == 0.
template <class T>
void dpm_solver_step(const T* x_t, const T* model_out, const T* x0_prev, T* x_prev, T* x0, int64_t n,
                     const DpmSolverStepParams& p);
}  // namespace cpu

// kernels/cuda/dpm_solver_step.cu; device pointers, launched on the engine stream.
namespace cuda {
void dpm_solver_step(const float* x_t, const float* model_out, const float* x0_prev, float* x_prev, float* x0,
                     int64_t n, const DpmSolverStepParams& p);
}

}  // namespace ddpm::kernels
