// Case parameters both modes share (common.h): the q_sample coefficients,
// the DDPM/DDIM step coefficients, the UNet's parameter count.
#include <algorithm>
#include <cmath>

#include "benchmarks/kernel_bench/common.h"
#include "diffusion/scheduler.h"
#include "nn/unet.h"

namespace ddpm::bench {

// Per-sample coefficients a = sqrt(alphabar_t), b = sqrt(1 - alphabar_t) for
// timesteps spread over the linear schedule.
std::pair<std::vector<float>, std::vector<float>> qsample_coefs(int64_t B) {
  const NoiseScheduler sched(BetaSchedule::linear, 1000);
  std::vector<float> a(static_cast<size_t>(B)), b(a.size());
  for (int64_t i = 0; i < B; ++i) {
    const size_t t = static_cast<size_t>((i * 997 + 13) % 1000);
    a[static_cast<size_t>(i)] = static_cast<float>(sched.sqrt_alphas_cumprod[t]);
    b[static_cast<size_t>(i)] = static_cast<float>(sched.sqrt_one_minus_alphas_cumprod[t]);
  }
  return {a, b};
}

// Coefficients of a DDPM / DDIM step at t = 500 of the linear schedule, as
// diffusion/sampler.cpp computes them (consecutive steps for DDPM, a 20-step
// stride for DDIM as in a 50-step chain).
kernels::DdpmStepParams ddpm_params() {
  const NoiseScheduler sched(BetaSchedule::linear, 1000);
  const int64_t t = 500, tp = 499;
  const double ab = sched.alphabar(t), abp = sched.alphabar(tp), beta = 1 - ab / abp;
  kernels::DdpmStepParams p;
  p.sqrt_ab = std::sqrt(ab);
  p.sqrt_one_minus_ab = std::sqrt(1 - ab);
  p.c_x0 = std::sqrt(abp) * beta / (1 - ab);
  p.c_xt = std::sqrt(1 - beta) * (1 - abp) / (1 - ab);
  p.sigma = std::sqrt(beta);
  p.clip_x0 = true;
  p.seed = 5;
  p.stream = 9;
  p.offset = 0;
  return p;
}

kernels::DdimStepParams ddim_params() {
  const NoiseScheduler sched(BetaSchedule::linear, 1000);
  const int64_t t = 500, tp = 480;
  const double ab = sched.alphabar(t), abp = sched.alphabar(tp);
  kernels::DdimStepParams p;
  p.sqrt_ab = std::sqrt(ab);
  p.sqrt_one_minus_ab = std::sqrt(1 - ab);
  p.sqrt_ab_prev = std::sqrt(abp);
  p.sigma = 0;  // eta = 0
  p.c_eps = std::sqrt(1 - abp);
  p.clip_x0 = true;
  return p;
}

// A DPM-Solver++(2M) second-order step t = 500 -> 450 after 550 -> 500, and
// an Euler-ancestral step 500 -> 450 (a 20-step trailing chain's stride), as
// diffusion/sampler.cpp computes them.
kernels::DpmSolverStepParams dpm_solver_params() {
  const NoiseScheduler sched(BetaSchedule::linear, 1000);
  auto lambda = [&](int64_t t) {
    const double ab = sched.alphabar(t);
    return 0.5 * std::log(ab / (1 - ab));
  };
  const double ab = sched.alphabar(500), abp = sched.alphabar(450);
  const double h = lambda(450) - lambda(500), r = (lambda(500) - lambda(550)) / h;
  const double phi = -std::expm1(-h);
  kernels::DpmSolverStepParams p;
  p.sqrt_ab = std::sqrt(ab);
  p.sqrt_one_minus_ab = std::sqrt(1 - ab);
  p.c_x = std::sqrt(1 - abp) / std::sqrt(1 - ab);
  p.c_x0 = std::sqrt(abp) * phi * (1 + 1 / (2 * r));
  p.c_prev = -std::sqrt(abp) * phi / (2 * r);
  p.clip_x0 = true;
  return p;
}

kernels::EulerAncestralStepParams euler_ancestral_params() {
  const NoiseScheduler sched(BetaSchedule::linear, 1000);
  const double ab = sched.alphabar(500), abp = sched.alphabar(450);
  kernels::EulerAncestralStepParams p;
  p.sqrt_ab = std::sqrt(ab);
  p.sqrt_one_minus_ab = std::sqrt(1 - ab);
  p.sqrt_ab_prev = std::sqrt(abp);
  p.sigma = std::sqrt((1 - ab) / ab);
  const double to = std::sqrt((1 - abp) / abp);
  p.sigma_up = std::min(to, std::sqrt(to * to * (p.sigma * p.sigma - to * to) / (p.sigma * p.sigma)));
  p.sigma_down = std::sqrt(to * to - p.sigma_up * p.sigma_up);
  p.clip_x0 = true;
  p.seed = 5;
  p.stream = 9;
  p.offset = 0;
  return p;
}

int64_t unet_parameters() {
  nn::UNet m(nn::UNetConfig{}, 0);
  return m.num_parameters();
}

}  // namespace ddpm::bench
