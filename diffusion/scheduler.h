// NoiseScheduler: the variance schedule beta_1..beta_T and every quantity the
// forward process, the training step and the samplers derive from it.
//
// Index t runs 0..T-1 (the seed's convention: t = 0 is the least noisy step).
//   alpha_t        = 1 - beta_t
//   alphabar_t     = prod_{s<=t} alpha_s            (alphas_cumprod)
//   alphabar_prev  = alphabar_{t-1}, with alphabar_{-1} = 1
//   posterior q(x_{t-1} | x_t, x_0) = N(c0 x_0 + ct x_t, beta~_t):
//     beta~_t = beta_t (1 - alphabar_prev) / (1 - alphabar_t)
//     c0      = beta_t sqrt(alphabar_prev) / (1 - alphabar_t)
//     ct      = sqrt(alpha_t) (1 - alphabar_prev) / (1 - alphabar_t)
// Schedules (all computed in double, as the seed does in torch float32 but
// without its rounding):
//   linear:    beta = linspace(beta_start, beta_end, T)
//   quadratic: beta = linspace(sqrt(beta_start), sqrt(beta_end), T)^2
//   cosine:    alphabar(s) = cos^2(((s/T) + 0.008)/(1.008) * pi/2) / alphabar(0),
//              beta_t = 1 - alphabar(t+1)/alphabar(t), clamped to [1e-4, 0.9999]
//              (the seed's clamp; Nichol & Dhariwal clamp at 0.999 only)
//   sigmoid:   beta = sigmoid(linspace(-6, 6, T)) * (beta_end - beta_start) + beta_start
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ddpm {

enum class BetaSchedule { linear, cosine, quadratic, sigmoid };
BetaSchedule parse_beta_schedule(const std::string& name);  // throws naming the valid names
const char* beta_schedule_name(BetaSchedule s);

struct NoiseScheduler {
  NoiseScheduler(BetaSchedule schedule, int64_t num_timesteps, double beta_start = 1e-4,
                 double beta_end = 0.02);

  BetaSchedule schedule;
  int64_t num_timesteps;
  std::vector<double> betas, alphas, alphas_cumprod, alphas_cumprod_prev;
  std::vector<double> sqrt_alphas_cumprod, sqrt_one_minus_alphas_cumprod;
  std::vector<double> posterior_variance, posterior_mean_coef_x0, posterior_mean_coef_xt;

  // alphabar at t, with alphabar(-1) = 1 (the clean end of a strided chain).
  double alphabar(int64_t t) const;
};

}  // namespace ddpm
