#include "diffusion/scheduler.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <stdexcept>

namespace ddpm {

BetaSchedule parse_beta_schedule(const std::string& name) {
  if (name == "linear") return BetaSchedule::linear;
  if (name == "cosine") return BetaSchedule::cosine;
  if (name == "quadratic") return BetaSchedule::quadratic;
  if (name == "sigmoid") return BetaSchedule::sigmoid;
  throw std::invalid_argument("unknown beta schedule '" + name +
                              "' (expected linear, cosine, quadratic or sigmoid)");
}

const char* beta_schedule_name(BetaSchedule s) {
  switch (s) {
    case BetaSchedule::linear:
      return "linear";
    case BetaSchedule::cosine:
      return "cosine";
    case BetaSchedule::quadratic:
      return "quadratic";
    case BetaSchedule::sigmoid:
      return "sigmoid";
  }
  return "?";
}

namespace {
std::vector<double> linspace(double a, double b, int64_t n) {
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    v[static_cast<size_t>(i)] =
        n == 1 ? a : a + (b - a) * static_cast<double>(i) / static_cast<double>(n - 1);
  return v;
}
}  // namespace

NoiseScheduler::NoiseScheduler(BetaSchedule s, int64_t T, double beta_start, double beta_end)
    : schedule(s), num_timesteps(T) {
  if (T < 2 || T > 100000)
    throw std::invalid_argument("NoiseScheduler: num_timesteps " + std::to_string(T) +
                                " out of range (expected 2..100000)");
  if (!(beta_start > 0 && beta_end < 1 && beta_start <= beta_end))
    throw std::invalid_argument("NoiseScheduler: need 0 < beta_start <= beta_end < 1, got " +
                                std::to_string(beta_start) + ", " + std::to_string(beta_end));
  switch (s) {
    case BetaSchedule::linear:
      betas = linspace(beta_start, beta_end, T);
      break;
    case BetaSchedule::quadratic:
      betas = linspace(std::sqrt(beta_start), std::sqrt(beta_end), T);
      for (double& b : betas) b *= b;
      break;
    case BetaSchedule::cosine: {
      const double s0 = 0.008;
      auto f = [&](double t) {
        const double c = std::cos((t / static_cast<double>(T) + s0) / (1 + s0) * std::numbers::pi / 2);
        return c * c;
      };
      betas.resize(static_cast<size_t>(T));
      for (int64_t t = 0; t < T; ++t) {
        const double b = 1 - f(static_cast<double>(t + 1)) / f(static_cast<double>(t));
        betas[static_cast<size_t>(t)] = std::clamp(b, 0.0001, 0.9999);
      }
      break;
    }
    case BetaSchedule::sigmoid:
      betas = linspace(-6, 6, T);
      for (double& b : betas) b = 1 / (1 + std::exp(-b)) * (beta_end - beta_start) + beta_start;
      break;
  }
  const size_t n = static_cast<size_t>(T);
  alphas.resize(n);
  alphas_cumprod.resize(n);
  alphas_cumprod_prev.resize(n);
  sqrt_alphas_cumprod.resize(n);
  sqrt_one_minus_alphas_cumprod.resize(n);
  posterior_variance.resize(n);
  posterior_mean_coef_x0.resize(n);
  posterior_mean_coef_xt.resize(n);
  double acc = 1;
  for (size_t t = 0; t < n; ++t) {
    alphas[t] = 1 - betas[t];
    alphas_cumprod_prev[t] = acc;
    acc *= alphas[t];
    alphas_cumprod[t] = acc;
    sqrt_alphas_cumprod[t] = std::sqrt(acc);
    sqrt_one_minus_alphas_cumprod[t] = std::sqrt(1 - acc);
    const double prev = alphas_cumprod_prev[t];
    posterior_variance[t] = betas[t] * (1 - prev) / (1 - acc);
    posterior_mean_coef_x0[t] = betas[t] * std::sqrt(prev) / (1 - acc);
    posterior_mean_coef_xt[t] = std::sqrt(alphas[t]) * (1 - prev) / (1 - acc);
  }
}

double NoiseScheduler::alphabar(int64_t t) const {
  if (t < 0) return 1.0;
  if (t >= num_timesteps)
    throw std::out_of_range("NoiseScheduler::alphabar: t=" + std::to_string(t) +
                            " beyond T=" + std::to_string(num_timesteps));
  return alphas_cumprod[static_cast<size_t>(t)];
}

}  // namespace ddpm
