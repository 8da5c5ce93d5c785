// Samplers: ancestral DDPM (the seed's reverse process, on all T steps or a
// strided subsequence) and DDIM with eta, from pure noise to images.
//
// Timesteps: K of the T training steps, evenly spaced and starting at 0
// ("leading" spacing): t_k = floor(k * T / K), k = 0..K-1, visited from the
// largest down; each step goes t_k -> t_{k-1} (t_{-1} = -1, alphabar = 1, the
// clean end). With K = T this is every step, t -> t-1, as the seed.
//
// Random numbers: x_T = randn(seed, stream, 0); the noise of step number i
// (0-based, in visiting order) is drawn at offset (i + 1) * numel in the same
// stream, so a sample is a function of the seed alone, on any device.
#pragma once

#include <cstdint>
#include <functional>

#include "diffusion/prediction.h"
#include "diffusion/scheduler.h"
#include "tensor/tensor.h"

namespace ddpm {

enum class SamplerKind { ddpm, ddim };
// fixed_large: sigma^2 = beta_t (the seed, diffusers' "fixed_large");
// fixed_small: sigma^2 = beta~_t, the posterior variance.
enum class VarianceType { fixed_large, fixed_small };

SamplerKind parse_sampler_kind(const std::string& s);
VarianceType parse_variance_type(const std::string& s);
const char* variance_type_name(VarianceType v);

struct SamplerConfig {
  SamplerKind kind = SamplerKind::ddpm;
  int64_t steps = 0;  // 0: all T steps
  double eta = 0.0;   // DDIM only
  VarianceType variance = VarianceType::fixed_large;
  bool clip_x0 = true;
  Prediction prediction = Prediction::epsilon;
  uint64_t seed = 0;
  uint64_t stream = 0;
};

// model(x_t, t) -> prediction; t is a [N] tensor of timesteps (as floats) on
// x_t's device and dtype.
using DenoiseFn = std::function<Tensor(const Tensor& x_t, const Tensor& t)>;
// Called after every step with (steps done, total steps, current x).
using StepCallback = std::function<void(int64_t done, int64_t total, const Tensor& x)>;

// The visiting order of timesteps for K steps out of T (largest first).
std::vector<int64_t> sampling_timesteps(int64_t T, int64_t K);

Tensor sample(const NoiseScheduler& sched, const DenoiseFn& model, const Shape& shape,
              const SamplerConfig& cfg, DType dtype = DType::f32, Device device = Device::cpu,
              const StepCallback& on_step = nullptr);

}  // namespace ddpm
