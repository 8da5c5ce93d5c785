// NoiseScheduler against closed forms and the seed's PyTorch formulas.
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "diffusion/scheduler.h"

using namespace ddpm;

namespace {
nlohmann::json reference() {
  std::ifstream f(std::string(DDPM_TEST_DATA_DIR) + "/diffusion_reference.json");
  REQUIRE_MESSAGE(f.good(), "missing tests/data/diffusion_reference.json");
  return nlohmann::json::parse(f);
}
}  // namespace

TEST_CASE("diffusion: schedules match the seed's torch formulas (float64)") {
  const nlohmann::json ref = reference();
  for (const char* name : {"linear", "cosine", "quadratic", "sigmoid"}) {
    NoiseScheduler s(parse_beta_schedule(name), ref["T"].get<int64_t>());
    const auto& r = ref["schedules"][name];
    for (size_t k = 0; k < r["index"].size(); ++k) {
      const size_t t = r["index"][k].get<size_t>();
      INFO(name << " t=" << t);
      // Both sides in float64; torch's linspace and cumprod round differently
      // from ours by a few ulps, and the cumulative product over up to 1000
      // factors grows that to ~1e-13 relative.
      CHECK(s.betas[t] == doctest::Approx(r["betas"][k].get<double>()).epsilon(1e-12));
      CHECK(s.alphas_cumprod[t] == doctest::Approx(r["alphas_cumprod"][k].get<double>()).epsilon(1e-11));
    }
  }
}

TEST_CASE("diffusion: schedule closed forms and derived quantities") {
  NoiseScheduler lin(BetaSchedule::linear, 1000);
  CHECK(lin.betas.front() == doctest::Approx(1e-4).epsilon(1e-15));
  CHECK(lin.betas.back() == doctest::Approx(0.02).epsilon(1e-15));
  CHECK(lin.betas[500] - lin.betas[499] == doctest::Approx((0.02 - 1e-4) / 999).epsilon(1e-9));
  NoiseScheduler quad(BetaSchedule::quadratic, 1000);
  CHECK(std::sqrt(quad.betas[999]) - std::sqrt(quad.betas[998]) ==
        doctest::Approx((std::sqrt(0.02) - std::sqrt(1e-4)) / 999).epsilon(1e-9));
  NoiseScheduler cos(BetaSchedule::cosine, 1000);
  // Unclamped region: 1 - beta_t = f(t+1)/f(t), f(s) = cos^2((s/T + 0.008)/1.008 * pi/2).
  // (The first betas fall below 1e-4 and are clamped, so alphabar itself is
  // not f(t+1)/f(0).)
  auto f = [](double s) {
    const double c = std::cos((s / 1000 + 0.008) / 1.008 * M_PI / 2);
    return c * c;
  };
  CHECK(cos.alphas_cumprod[400] / cos.alphas_cumprod[399] == doctest::Approx(f(401) / f(400)).epsilon(1e-12));
  CHECK(cos.betas[0] == 0.0001);
  CHECK(cos.betas[999] == doctest::Approx(0.9999));  // the seed's clamp bites at the end
  for (const NoiseScheduler* s : {&lin, &quad, &cos}) {
    double prod = 1;
    for (size_t t = 0; t < 1000; ++t) {
      prod *= 1 - s->betas[t];
      REQUIRE(s->alphas_cumprod[t] == doctest::Approx(prod).epsilon(1e-14));
      const double prev = t ? s->alphas_cumprod[t - 1] : 1.0;
      CHECK(s->alphas_cumprod_prev[t] == prev);
      CHECK(s->posterior_variance[t] ==
            doctest::Approx(s->betas[t] * (1 - prev) / (1 - prod)).epsilon(1e-14));
      CHECK(s->sqrt_alphas_cumprod[t] * s->sqrt_alphas_cumprod[t] +
                s->sqrt_one_minus_alphas_cumprod[t] * s->sqrt_one_minus_alphas_cumprod[t] ==
            doctest::Approx(1.0).epsilon(1e-14));
    }
    CHECK(s->posterior_variance[0] == 0.0);  // x_0 given x_1 and x_0 is certain
  }
  NoiseScheduler sig(BetaSchedule::sigmoid, 1000);
  CHECK(sig.betas[0] > 1e-4);
  CHECK(sig.betas[999] < 0.02);
  for (size_t t = 1; t < 1000; ++t) CHECK(sig.betas[t] > sig.betas[t - 1]);
}

TEST_CASE("diffusion: scheduler rejects bad settings with a clear message") {
  CHECK_THROWS_WITH(parse_beta_schedule("cosin"), doctest::Contains("expected linear, cosine"));
  CHECK_THROWS_WITH(NoiseScheduler(BetaSchedule::linear, 1), doctest::Contains("num_timesteps 1"));
  CHECK_THROWS_WITH(NoiseScheduler(BetaSchedule::linear, 10, 0.1, 0.01), doctest::Contains("beta_start"));
}
