// Samplers: ancestral DDPM (the seed's reverse process, on all T steps or a
// strided subsequence), DDIM with eta, DPM-Solver++(2M) (Lu et al. 2022) and
// Euler ancestral (Karras et al. 2022, k-diffusion's), from pure noise to
// images.
//
// Timesteps: K of the T training steps, visited from the largest down; each
// step goes t_k -> t_{k-1} (t_{-1} = -1, alphabar = 1, the clean end). The
// spacing picks the K (sampling_timesteps):
//   leading:   t_k = floor(k * T / K), k = 0..K-1 (starts at 0; DDIM's and
//              the engine's original spacing). With K = T: every step, as the seed.
//   trailing:  t_i = round(T - i * T / K) - 1, i = 0..K-1 (starts at T-1, the
//              pure-noise end; Lin et al. 2024, "Common diffusion noise
//              schedules and sample steps are flawed", WACV 2024)
//   quadratic: t_k = floor((k / K)^2 * T), k = 0..K-1, each raised to one past
//              the previous where the floor repeats (dense near t = 0; DDIM's "quad")
// The last step always ends at the clean end and returns (for dpm++2m and
// euler-a exactly, for ddim with eta 0 too) the clean-image estimate x0.
//
// Random numbers: x_T = randn(seed, stream, 0); the noise of step number i
// (0-based, in visiting order) is drawn at offset (i + 1) * numel in the same
// stream, so a sample is a function of the seed alone, on any device.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "diffusion/prediction.h"
#include "diffusion/scheduler.h"
#include "tensor/tensor.h"

namespace ddpm {

enum class SamplerKind { ddpm, ddim, dpmpp_2m, euler_a };
enum class Spacing { leading, trailing, quadratic };
// fixed_large: sigma^2 = beta_t (the seed, diffusers' "fixed_large");
// fixed_small: sigma^2 = beta~_t, the posterior variance.
enum class VarianceType { fixed_large, fixed_small };

// "ddpm", "ddim", "dpm++2m", "euler-a"; anything else throws naming them.
SamplerKind parse_sampler_kind(const std::string& s);
const char* sampler_kind_name(SamplerKind k);
// "leading", "trailing", "quadratic".
Spacing parse_spacing(const std::string& s);
const char* spacing_name(Spacing s);
// The spacing a sampler uses unless told otherwise: leading for ddpm and ddim
// (DDIM's own, and what the engine always did), trailing for dpm++2m and
// euler-a (their first step then starts from t = T-1, where x_T ~ N(0, I)
// holds; with leading spacing DPM++(2M) at 10 steps scores worse than DDIM).
Spacing default_spacing(SamplerKind k);
// The number of steps a sampler uses unless told otherwise, for a model of T
// training timesteps: T for ddpm, 50 for ddim, 20 for dpm++2m and euler-a
// (at most T).
int64_t default_steps(SamplerKind k, int64_t T);
VarianceType parse_variance_type(const std::string& s);
const char* variance_type_name(VarianceType v);

struct SamplerConfig {
  SamplerKind kind = SamplerKind::ddpm;
  int64_t steps = 0;                   // 0: all T steps
  Spacing spacing = Spacing::leading;  // ddpm: leading only, unless steps is T (all spacings agree then)
  double eta = 0.0;                    // DDIM only
  VarianceType variance = VarianceType::fixed_large;
  bool clip_x0 = true;
  Prediction prediction = Prediction::epsilon;
  uint64_t seed = 0;
  uint64_t stream = 0;
  // The index of the batch's first image among all images drawn with this
  // (seed, stream). Image g's noise, initial and per step, depends only on
  // (seed, stream, g): a set of images comes out bit-identical however it
  // is cut into batches (sample_in_batches).
  int64_t first_image = 0;
};

// Values of Philox counter space that one sampling step's noise may use:
// step i's noise for element e of image g is at (i + 1) * span + g * numel
// (image) + e, the initial noise at g * numel(image) + e. sample() refuses
// images beyond it (2^40 values: a billion 32x32 images).
inline constexpr uint64_t kStepNoiseSpan = uint64_t{1} << 40;

// model(x_t, t) -> prediction; t is a [N] tensor of timesteps (as floats) on
// x_t's device and dtype.
using DenoiseFn = std::function<Tensor(const Tensor& x_t, const Tensor& t)>;
// Called after every step with (steps done, total steps, current x).
using StepCallback = std::function<void(int64_t done, int64_t total, const Tensor& x)>;

// The visiting order of timesteps for K steps out of T (largest first, K
// distinct values in 0..T-1), by `spacing` (above).
std::vector<int64_t> sampling_timesteps(int64_t T, int64_t K, Spacing spacing = Spacing::leading);

Tensor sample(const NoiseScheduler& sched, const DenoiseFn& model, const Shape& shape,
              const SamplerConfig& cfg, DType dtype = DType::f32, Device device = Device::cpu,
              const StepCallback& on_step = nullptr);

// The denoiser for images [first, first + count) of a sample_in_batches run
// (a guided model takes those images' labels, a conditioned one their
// conditions).
using BatchModelFn = std::function<DenoiseFn(int64_t first, int64_t count)>;
// Called after every step of every batch: (first image of the batch, images
// in it, steps done, steps per batch, the batch's current x).
using BatchStepCallback =
    std::function<void(int64_t first, int64_t count, int64_t done, int64_t total, const Tensor& x)>;

// shape[0] images drawn `batch` at a time (the last batch smaller), each
// batch with first_image = cfg.first_image + its first index, so the images
// equal one sample() of them all, bit for bit, for any batch size; memory
// holds one batch's activations. Returns them on the CPU, float32.
Tensor sample_in_batches(const NoiseScheduler& sched, const BatchModelFn& model_for, const Shape& shape,
                         const SamplerConfig& cfg, int64_t batch, DType dtype = DType::f32,
                         Device device = Device::cpu, const BatchStepCallback& on_step = nullptr);

}  // namespace ddpm
