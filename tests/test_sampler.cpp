// Samplers: timestep spacing, determinism, and DDIM(eta=1, all steps) ==
// DDPM with the posterior variance.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "autograd/functions.h"
#include "diffusion/sampler.h"
#include "tests/gradcheck.h"

using namespace ddpm;

namespace {
// A smooth stand-in for a trained network: depends on x and t.
Tensor toy_model(const Tensor& x, const Tensor& t) {
  const Tensor tt = t.view({t.size(0), 1, 1, 1});
  return mul_scalar(x, 0.3) + mul_scalar(sin(mul_scalar(tt, 0.01)), 0.5);
}
}  // namespace

TEST_CASE("diffusion: sampling timesteps are evenly spaced, largest first") {
  CHECK(sampling_timesteps(1000, 4) == std::vector<int64_t>{750, 500, 250, 0});
  CHECK(sampling_timesteps(10, 10) == std::vector<int64_t>{9, 8, 7, 6, 5, 4, 3, 2, 1, 0});
  CHECK(sampling_timesteps(1000, 3) == std::vector<int64_t>{666, 333, 0});
  CHECK_THROWS_WITH(sampling_timesteps(1000, 1001), doctest::Contains("1..1000"));
}

TEST_CASE("diffusion: DDIM with eta=1 on every step equals DDPM with the posterior variance") {
  NoiseScheduler s(BetaSchedule::linear, 1000);
  SamplerConfig ddpm_cfg;
  ddpm_cfg.kind = SamplerKind::ddpm;
  ddpm_cfg.variance = VarianceType::fixed_small;
  ddpm_cfg.clip_x0 = false;
  ddpm_cfg.seed = 17;
  SamplerConfig ddim_cfg = ddpm_cfg;
  ddim_cfg.kind = SamplerKind::ddim;
  ddim_cfg.eta = 1.0;
  const Tensor a = sample(s, toy_model, {2, 1, 4, 4}, ddpm_cfg, DType::f64);
  const Tensor b = sample(s, toy_model, {2, 1, 4, 4}, ddim_cfg, DType::f64);
  // Same noise draws, algebraically equal updates: only rounding differs,
  // accumulated over 1000 steps.
  CHECK(test::normalised_error(b, a) < 1e-10);
  // And the seed's variance (fixed_large) gives a different chain: the two
  // differ in the noise scale of every step (measured ~8e-4 here, six orders
  // of magnitude above the equality tolerance).
  ddpm_cfg.variance = VarianceType::fixed_large;
  const Tensor c = sample(s, toy_model, {2, 1, 4, 4}, ddpm_cfg, DType::f64);
  CHECK(test::normalised_error(c, a) > 1e-4);
}

TEST_CASE("diffusion: samples are a function of the seed, DDIM eta=0 ignores the noise stream") {
  NoiseScheduler s(BetaSchedule::cosine, 100);
  SamplerConfig cfg;
  cfg.kind = SamplerKind::ddim;
  cfg.steps = 10;
  cfg.seed = 5;
  int64_t calls = 0;
  const Tensor a = sample(s, toy_model, {3, 1, 8, 8}, cfg, DType::f32, Device::cpu,
                          [&](int64_t done, int64_t total, const Tensor&) {
                            ++calls;
                            CHECK(total == 10);
                            CHECK(done == calls);
                          });
  CHECK(calls == 10);
  const Tensor b = sample(s, toy_model, {3, 1, 8, 8}, cfg);
  CHECK(a.to_vector<float>() == b.to_vector<float>());
  cfg.seed = 6;
  const Tensor c = sample(s, toy_model, {3, 1, 8, 8}, cfg);
  CHECK(a.to_vector<float>() != c.to_vector<float>());
  for (float v : a.to_vector<float>()) CHECK(std::isfinite(v));
}

TEST_CASE("diffusion: strided DDPM visits K model evaluations") {
  NoiseScheduler s(BetaSchedule::linear, 1000);
  for (int64_t k : {10, 50, 100, 250}) {
    int64_t evals = 0;
    SamplerConfig cfg;
    cfg.steps = k;
    sample(
        s,
        [&](const Tensor& x, const Tensor& t) {
          ++evals;
          return toy_model(x, t);
        },
        {1, 1, 4, 4}, cfg);
    CHECK(evals == k);
  }
}

TEST_CASE("diffusion: images do not depend on the batches they are drawn in (every sampler)") {
  NoiseScheduler s(BetaSchedule::linear, 100);
  const Shape shape = {5, 1, 6, 6};
  const int64_t per = 36;
  for (const SamplerKind kind :
       {SamplerKind::ddpm, SamplerKind::ddim, SamplerKind::dpmpp_2m, SamplerKind::euler_a}) {
    SamplerConfig cfg;
    cfg.kind = kind;
    cfg.steps = 10;
    cfg.eta = 1.0;  // DDIM with noise, so that its noise offsets are exercised too
    cfg.seed = 3;
    cfg.stream = 4;
    INFO("sampler " << sampler_kind_name(kind));
    const std::vector<float> all = sample(s, toy_model, shape, cfg).to_vector<float>();
    for (const int64_t batch : {1, 2, 5, 7}) {
      std::vector<std::pair<int64_t, int64_t>> asked;
      int64_t steps_seen = 0;
      const Tensor x = sample_in_batches(
          s,
          [&](int64_t first, int64_t count) -> DenoiseFn {
            asked.emplace_back(first, count);
            return toy_model;
          },
          shape, cfg, batch, DType::f32, Device::cpu,
          [&](int64_t, int64_t, int64_t, int64_t total, const Tensor&) {
            CHECK(total == 10);
            ++steps_seen;
          });
      CHECK(x.shape() == shape);
      CHECK(x.to_vector<float>() == all);
      const int64_t batches = (5 + batch - 1) / batch;
      CHECK(static_cast<int64_t>(asked.size()) == batches);
      CHECK(asked.front() == std::pair<int64_t, int64_t>{0, std::min<int64_t>(batch, 5)});
      CHECK(asked.back().first + asked.back().second == 5);
      CHECK(steps_seen == 10 * batches);
    }
    // One image alone, told its index, is that image of the whole set.
    SamplerConfig one = cfg;
    one.first_image = 3;
    const std::vector<float> third = sample(s, toy_model, {1, 1, 6, 6}, one).to_vector<float>();
    CHECK(std::equal(third.begin(), third.end(), all.begin() + 3 * per));
    // ... and not any other image.
    CHECK(!std::equal(third.begin(), third.end(), all.begin() + 2 * per));
  }
  SamplerConfig far;
  far.first_image = int64_t{1} << 35;  // x 36 values per image passes 2^40
  CHECK_THROWS_WITH_AS(sample(s, toy_model, {1, 1, 6, 6}, far), doctest::Contains("noise span"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(
      sample_in_batches(
          s, [](int64_t, int64_t) -> DenoiseFn { return toy_model; }, shape, SamplerConfig{}, 0),
      doctest::Contains("batch size 0"), std::invalid_argument);
}
