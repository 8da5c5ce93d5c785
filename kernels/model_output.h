// The clean-image and noise estimates a sampler step starts from, recovered
// from the model output m at x_t, with a = sqrt(alphabar_t), b = sqrt(1 - alphabar_t):
//   epsilon prediction: eps = m,              x0 = (x_t - b*m) / a
//   v prediction:       x0 = a*x_t - b*m,     eps = b*x_t + a*m
// Shared by the CPU (T = float or double) and CUDA (float) ddpm_step and
// ddim_step kernels, so both backends evaluate the same expressions.
#pragma once

#include "tensor/host_device.h"

namespace ddpm::kernels {

template <class T>
DDPM_HD T x0_from_model(T x, T m, T a, T b, bool eps_pred) {
  return eps_pred ? (x - b * m) / a : a * x - b * m;
}

template <class T>
DDPM_HD T eps_from_model(T x, T m, T a, T b, bool eps_pred) {
  return eps_pred ? m : b * x + a * m;
}

// x0 clipped to [-1, 1] as std::clamp does it (a NaN stays NaN).
template <class T>
DDPM_HD T clip_unit(T v) {
  return v < T(-1) ? T(-1) : (T(1) < v ? T(1) : v);
}

}  // namespace ddpm::kernels
