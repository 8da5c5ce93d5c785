#include "diffusion/sampler.h"

#include <cmath>
#include <stdexcept>

#include "autograd/node.h"
#include "kernels/ddim_step.h"
#include "kernels/ddpm_step.h"
#include "tensor/rng.h"

namespace ddpm {

SamplerKind parse_sampler_kind(const std::string& s) {
  if (s == "ddpm") return SamplerKind::ddpm;
  if (s == "ddim") return SamplerKind::ddim;
  throw std::invalid_argument("unknown sampler '" + s + "' (expected ddpm or ddim)");
}

VarianceType parse_variance_type(const std::string& s) {
  if (s == "fixed_large") return VarianceType::fixed_large;
  if (s == "fixed_small") return VarianceType::fixed_small;
  throw std::invalid_argument("unknown variance '" + s + "' (expected fixed_large or fixed_small)");
}

const char* variance_type_name(VarianceType v) {
  return v == VarianceType::fixed_large ? "fixed_large" : "fixed_small";
}

std::vector<int64_t> sampling_timesteps(int64_t T, int64_t K) {
  if (K <= 0 || K > T)
    throw std::invalid_argument("sampling steps " + std::to_string(K) + " out of range (expected 1.." +
                                std::to_string(T) + ", the training timesteps)");
  std::vector<int64_t> ts(static_cast<size_t>(K));
  for (int64_t k = 0; k < K; ++k) ts[static_cast<size_t>(K - 1 - k)] = k * T / K;
  return ts;
}

Tensor sample(const NoiseScheduler& sched, const DenoiseFn& model, const Shape& shape,
              const SamplerConfig& cfg, DType dtype, Device device, const StepCallback& on_step) {
  if (shape.empty() || shape[0] <= 0) throw std::invalid_argument("sample: bad shape " + shape_str(shape));
  if (cfg.eta < 0 || cfg.eta > 1) throw std::invalid_argument("sample: eta must be in [0, 1]");
  autograd::NoGradGuard no_grad;
  const int64_t T = sched.num_timesteps;
  const std::vector<int64_t> ts = sampling_timesteps(T, cfg.steps == 0 ? T : cfg.steps);
  const int64_t n = shape[0];
  Tensor x = randn(shape, cfg.seed, cfg.stream, dtype, device);
  const uint64_t numel = static_cast<uint64_t>(x.numel());
  for (size_t i = 0; i < ts.size(); ++i) {
    const int64_t t = ts[i];
    const int64_t tp = i + 1 < ts.size() ? ts[i + 1] : -1;
    const Tensor tt = Tensor::full({n}, static_cast<double>(t), dtype, device);
    const Tensor out = model(x, tt);
    const double ab = sched.alphabar(t), abp = sched.alphabar(tp);
    const uint64_t offset = (i + 1) * numel;
    if (cfg.kind == SamplerKind::ddpm) {
      const double beta = 1 - ab / abp;  // beta_t for consecutive steps
      kernels::DdpmStepParams p;
      p.sqrt_ab = std::sqrt(ab);
      p.sqrt_one_minus_ab = std::sqrt(1 - ab);
      p.c_x0 = std::sqrt(abp) * beta / (1 - ab);
      p.c_xt = std::sqrt(1 - beta) * (1 - abp) / (1 - ab);
      const double var = cfg.variance == VarianceType::fixed_large ? beta : beta * (1 - abp) / (1 - ab);
      p.sigma = tp >= 0 ? std::sqrt(var) : 0.0;
      p.clip_x0 = cfg.clip_x0;
      p.v_pred = cfg.prediction == Prediction::v;
      p.seed = cfg.seed;
      p.stream = cfg.stream;
      p.offset = offset;
      x = kernels::ddpm_step(x, out, p);
    } else {
      kernels::DdimStepParams p;
      p.sqrt_ab = std::sqrt(ab);
      p.sqrt_one_minus_ab = std::sqrt(1 - ab);
      p.sqrt_ab_prev = std::sqrt(abp);
      const double sigma = cfg.eta * std::sqrt((1 - abp) / (1 - ab)) * std::sqrt(1 - ab / abp);
      p.sigma = sigma;
      p.c_eps = std::sqrt(std::max(0.0, 1 - abp - sigma * sigma));
      p.clip_x0 = cfg.clip_x0;
      p.v_pred = cfg.prediction == Prediction::v;
      p.seed = cfg.seed;
      p.stream = cfg.stream;
      p.offset = offset;
      x = kernels::ddim_step(x, out, p);
    }
    if (on_step) on_step(static_cast<int64_t>(i + 1), static_cast<int64_t>(ts.size()), x);
  }
  return x;
}

}  // namespace ddpm
