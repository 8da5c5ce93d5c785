// ddim_step: one DDIM step (Song et al. 2021), x_t -> x_{t_prev}, in one pass.
//
// x0 and eps are recovered from the model output as in ddpm_step (clip x0 to
// [-1, 1] optionally, and then eps is recomputed from the clipped x0 so that
// the pair stays consistent with x_t). Then
//   x_prev = sqrt(alphabar_prev) * x0 + c_eps * eps + sigma * z
//   sigma  = eta * sqrt((1 - alphabar_prev)/(1 - alphabar_t)) * sqrt(1 - alphabar_t/alphabar_prev)
//   c_eps  = sqrt(1 - alphabar_prev - sigma^2)
// eta = 0 is deterministic; eta = 1 with every step equals ancestral DDPM with
// the posterior variance beta~_t.
#pragma once

#include <cstdint>

#include "tensor/tensor.h"

namespace ddpm::kernels {

struct DdimStepParams {
  double sqrt_ab = 1, sqrt_one_minus_ab = 0;  // at t
  double sqrt_ab_prev = 1;                    // at t_prev (1 at the end of the chain)
  double c_eps = 0, sigma = 0;
  bool clip_x0 = false;
  bool v_pred = false;  // model_out is v (else epsilon); kernels/model_output.h
  uint64_t seed = 0, stream = 0, offset = 0;
};

Tensor ddim_step(const Tensor& x_t, const Tensor& model_out, const DdimStepParams& p);

namespace cpu {
template <class T>
void ddim_step(const T* x_t, const T* model_out, T* x_prev, int64_t n, const DdimStepParams& p);
}

// kernels/cuda/ddim_step.cu; device pointers, launched on the engine stream.
namespace cuda {
void ddim_step(const float* x_t, const float* model_out, float* x_prev, int64_t n, const DdimStepParams& p);
}

}  // namespace ddpm::kernels
