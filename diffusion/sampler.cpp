#include "diffusion/sampler.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "autograd/node.h"
#include "kernels/ddim_step.h"
#include "kernels/ddpm_step.h"
#include "kernels/dpm_solver_step.h"
#include "kernels/euler_ancestral_step.h"
#include "tensor/rng.h"

namespace ddpm {

SamplerKind parse_sampler_kind(const std::string& s) {
  if (s == "ddpm") return SamplerKind::ddpm;
  if (s == "ddim") return SamplerKind::ddim;
  if (s == "dpm++2m") return SamplerKind::dpmpp_2m;
  if (s == "euler-a") return SamplerKind::euler_a;
  throw std::invalid_argument("unknown sampler '" + s + "' (expected ddpm, ddim, dpm++2m or euler-a)");
}

const char* sampler_kind_name(SamplerKind k) {
  switch (k) {
    case SamplerKind::ddpm:
      return "ddpm";
    case SamplerKind::ddim:
      return "ddim";
    case SamplerKind::dpmpp_2m:
      return "dpm++2m";
    case SamplerKind::euler_a:
      return "euler-a";
  }
  return "?";
}

Spacing parse_spacing(const std::string& s) {
  if (s == "leading") return Spacing::leading;
  if (s == "trailing") return Spacing::trailing;
  if (s == "quadratic") return Spacing::quadratic;
  throw std::invalid_argument("unknown spacing '" + s + "' (expected leading, trailing or quadratic)");
}

const char* spacing_name(Spacing s) {
  switch (s) {
    case Spacing::leading:
      return "leading";
    case Spacing::trailing:
      return "trailing";
    case Spacing::quadratic:
      return "quadratic";
  }
  return "?";
}

Spacing default_spacing(SamplerKind k) {
  return k == SamplerKind::dpmpp_2m || k == SamplerKind::euler_a ? Spacing::trailing : Spacing::leading;
}

int64_t default_steps(SamplerKind k, int64_t T) {
  switch (k) {
    case SamplerKind::ddpm:
      return T;
    case SamplerKind::ddim:
      return std::min<int64_t>(50, T);
    case SamplerKind::dpmpp_2m:
    case SamplerKind::euler_a:
      return std::min<int64_t>(20, T);
  }
  return T;
}

VarianceType parse_variance_type(const std::string& s) {
  if (s == "fixed_large") return VarianceType::fixed_large;
  if (s == "fixed_small") return VarianceType::fixed_small;
  throw std::invalid_argument("unknown variance '" + s + "' (expected fixed_large or fixed_small)");
}

const char* variance_type_name(VarianceType v) {
  return v == VarianceType::fixed_large ? "fixed_large" : "fixed_small";
}

std::vector<int64_t> sampling_timesteps(int64_t T, int64_t K, Spacing spacing) {
  if (K <= 0 || K > T)
    throw std::invalid_argument("sampling steps " + std::to_string(K) + " out of range (expected 1.." +
                                std::to_string(T) + ", the training timesteps)");
  std::vector<int64_t> ts(static_cast<size_t>(K));
  switch (spacing) {
    case Spacing::leading:
      for (int64_t k = 0; k < K; ++k) ts[static_cast<size_t>(K - 1 - k)] = k * T / K;
      break;
    case Spacing::trailing:
      // round(T (K - i) / K) - 1 in integers, halves rounded up: distinct
      // because consecutive values differ by T/K >= 1 before rounding.
      for (int64_t i = 0; i < K; ++i) ts[static_cast<size_t>(i)] = (2 * T * (K - i) + K) / (2 * K) - 1;
      break;
    case Spacing::quadratic: {
      // floor(T k^2 / K^2), raised to prev + 1 where it repeats; t_k <=
      // max(k, floor(T (K-1)^2 / K^2)) <= T - 1, so it stays in range.
      int64_t prev = -1;
      for (int64_t k = 0; k < K; ++k) {
        const double f = static_cast<double>(k) / static_cast<double>(K);
        const int64_t t =
            std::max(prev + 1, static_cast<int64_t>(std::floor(f * f * static_cast<double>(T))));
        ts[static_cast<size_t>(K - 1 - k)] = t;
        prev = t;
      }
      break;
    }
  }
  return ts;
}

Tensor sample(const NoiseScheduler& sched, const DenoiseFn& model, const Shape& shape,
              const SamplerConfig& cfg, DType dtype, Device device, const StepCallback& on_step) {
  if (shape.empty() || shape[0] <= 0) throw std::invalid_argument("sample: bad shape " + shape_str(shape));
  if (cfg.eta < 0 || cfg.eta > 1) throw std::invalid_argument("sample: eta must be in [0, 1]");
  const int64_t T = sched.num_timesteps;
  const int64_t K = cfg.steps == 0 ? T : cfg.steps;
  if (cfg.kind == SamplerKind::ddpm && cfg.spacing != Spacing::leading && K < T)
    throw std::invalid_argument(
        std::string("sample: ddpm takes its strided steps with leading spacing only (") +
        spacing_name(cfg.spacing) + " asked for " + std::to_string(K) + " of " + std::to_string(T) +
        " steps)");
  autograd::NoGradGuard no_grad;
  const std::vector<int64_t> ts = sampling_timesteps(T, K, cfg.spacing);
  const int64_t n = shape[0];
  if (cfg.first_image < 0)
    throw std::invalid_argument("sample: first_image " + std::to_string(cfg.first_image) + " < 0");
  const uint64_t per_image = static_cast<uint64_t>(shape_numel(shape) / n);
  const uint64_t first = static_cast<uint64_t>(cfg.first_image);
  if (per_image == 0 || first + static_cast<uint64_t>(n) > kStepNoiseSpan / per_image)
    throw std::invalid_argument("sample: images " + std::to_string(first) + ".." +
                                std::to_string(first + static_cast<uint64_t>(n)) + " of shape " +
                                shape_str(shape) + " do not fit a step's noise span of 2^40 values");
  const uint64_t image_offset = first * per_image;
  Tensor x = Tensor::empty(shape, dtype, device);
  fill_normal(x, cfg.seed, cfg.stream, image_offset);
  const bool v_pred = cfg.prediction == Prediction::v;
  Tensor x0_last;     // dpm++2m: the previous step's x0
  double h_last = 0;  // dpm++2m: the previous step's h (0: none yet)
  for (size_t i = 0; i < ts.size(); ++i) {
    const int64_t t = ts[i];
    const int64_t tp = i + 1 < ts.size() ? ts[i + 1] : -1;
    const Tensor tt = Tensor::full({n}, static_cast<double>(t), dtype, device);
    const Tensor out = model(x, tt);
    const double ab = sched.alphabar(t), abp = sched.alphabar(tp);
    const uint64_t offset = (i + 1) * kStepNoiseSpan + image_offset;
    switch (cfg.kind) {
      case SamplerKind::ddpm: {
        const double beta = 1 - ab / abp;  // beta_t for consecutive steps
        kernels::DdpmStepParams p;
        p.sqrt_ab = std::sqrt(ab);
        p.sqrt_one_minus_ab = std::sqrt(1 - ab);
        p.c_x0 = std::sqrt(abp) * beta / (1 - ab);
        p.c_xt = std::sqrt(1 - beta) * (1 - abp) / (1 - ab);
        const double var = cfg.variance == VarianceType::fixed_large ? beta : beta * (1 - abp) / (1 - ab);
        p.sigma = tp >= 0 ? std::sqrt(var) : 0.0;
        p.clip_x0 = cfg.clip_x0;
        p.v_pred = v_pred;
        p.seed = cfg.seed;
        p.stream = cfg.stream;
        p.offset = offset;
        x = kernels::ddpm_step(x, out, p);
        break;
      }
      case SamplerKind::ddim: {
        kernels::DdimStepParams p;
        p.sqrt_ab = std::sqrt(ab);
        p.sqrt_one_minus_ab = std::sqrt(1 - ab);
        p.sqrt_ab_prev = std::sqrt(abp);
        const double sigma = cfg.eta * std::sqrt((1 - abp) / (1 - ab)) * std::sqrt(1 - ab / abp);
        p.sigma = sigma;
        p.c_eps = std::sqrt(std::max(0.0, 1 - abp - sigma * sigma));
        p.clip_x0 = cfg.clip_x0;
        p.v_pred = v_pred;
        p.seed = cfg.seed;
        p.stream = cfg.stream;
        p.offset = offset;
        x = kernels::ddim_step(x, out, p);
        break;
      }
      case SamplerKind::dpmpp_2m: {
        // kernels/dpm_solver_step.h: lambda = log(alpha / sigma), h = lambda_prev - lambda_t.
        kernels::DpmSolverStepParams p;
        p.sqrt_ab = std::sqrt(ab);
        p.sqrt_one_minus_ab = std::sqrt(1 - ab);
        p.clip_x0 = cfg.clip_x0;
        p.v_pred = v_pred;
        if (tp < 0) {
          // The clean end (lambda = inf): first order, x_prev = x0.
          p.c_x = 0;
          p.c_x0 = 1;
          p.c_prev = 0;
        } else {
          const double alpha_p = std::sqrt(abp), sigma_p = std::sqrt(1 - abp);
          const double h = std::log(alpha_p / sigma_p) - std::log(p.sqrt_ab / p.sqrt_one_minus_ab);
          const double phi = -std::expm1(-h);  // 1 - e^{-h}
          p.c_x = sigma_p / p.sqrt_one_minus_ab;
          if (h_last > 0) {
            const double r = h_last / h;
            p.c_x0 = alpha_p * phi * (1 + 1 / (2 * r));
            p.c_prev = -alpha_p * phi / (2 * r);
          } else {
            p.c_x0 = alpha_p * phi;
            p.c_prev = 0;
          }
          h_last = h;
        }
        kernels::DpmSolverStepResult r = kernels::dpm_solver_step(x, out, x0_last, p);
        x = r.x_prev;
        x0_last = r.x0;
        break;
      }
      case SamplerKind::euler_a: {
        // kernels/euler_ancestral_step.h: sigma = sqrt((1 - alphabar) / alphabar), eta 1.
        kernels::EulerAncestralStepParams p;
        p.sqrt_ab = std::sqrt(ab);
        p.sqrt_one_minus_ab = std::sqrt(1 - ab);
        p.sqrt_ab_prev = std::sqrt(abp);
        p.sigma = std::sqrt((1 - ab) / ab);
        const double s_to = std::sqrt((1 - abp) / abp);  // 0 at the clean end
        p.sigma_up = std::min(s_to, std::sqrt(std::max(0.0, s_to * s_to * (p.sigma * p.sigma - s_to * s_to) /
                                                                (p.sigma * p.sigma))));
        p.sigma_down = std::sqrt(std::max(0.0, s_to * s_to - p.sigma_up * p.sigma_up));
        p.clip_x0 = cfg.clip_x0;
        p.v_pred = v_pred;
        p.seed = cfg.seed;
        p.stream = cfg.stream;
        p.offset = offset;
        x = kernels::euler_ancestral_step(x, out, p);
        break;
      }
    }
    if (on_step) on_step(static_cast<int64_t>(i + 1), static_cast<int64_t>(ts.size()), x);
  }
  return x;
}

Tensor sample_in_batches(const NoiseScheduler& sched, const BatchModelFn& model_for, const Shape& shape,
                         const SamplerConfig& cfg, int64_t batch, DType dtype, Device device,
                         const BatchStepCallback& on_step) {
  if (shape.empty() || shape[0] <= 0) throw std::invalid_argument("sample: bad shape " + shape_str(shape));
  if (batch < 1) throw std::invalid_argument("sample: batch size " + std::to_string(batch) + " < 1");
  const int64_t n = shape[0], per = shape_numel(shape) / n;
  Tensor out = Tensor::empty(shape);
  for (int64_t done = 0; done < n;) {
    const int64_t k = std::min(batch, n - done);
    SamplerConfig sc = cfg;
    sc.first_image = cfg.first_image + done;
    Shape bs = shape;
    bs[0] = k;
    StepCallback cb;
    if (on_step) cb = [&](int64_t d, int64_t total, const Tensor& x) { on_step(done, k, d, total, x); };
    const Tensor x =
        sample(sched, model_for(done, k), bs, sc, dtype, device, cb).to(Device::cpu).to(DType::f32);
    std::copy_n(x.data<float>(), k * per, out.data<float>() + done * per);
    done += k;
  }
  return out;
}

}  // namespace ddpm
