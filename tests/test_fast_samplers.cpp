// The fast samplers (DPM-Solver++(2M), Euler ancestral) and the timestep
// spacings, against a data distribution whose exact denoiser is known.
//
// Data: every pixel x0 ~ N(mu, s^2) (independent). Then x_t = a x0 + b eps
// (a = sqrt(alphabar_t), b = sqrt(1 - alphabar_t)) is N(a mu, V), V = a^2 s^2 + b^2,
// and the exact (MMSE) model outputs are
//   eps(x_t) = b (x_t - a mu) / V,     x0(x_t) = mu + a s^2 (x_t - a mu) / V,
//   v = a eps - b x0.
// The probability-flow ODE keeps the standardised value u = (x - a mu) / sqrt(V)
// of every pixel (its flow maps the Gaussian marginals onto each other
// monotonically and affinely), so a deterministic sampler that starts from x
// at t_first, follows the ODE to t_last and returns x0(x) there should give
// exactly  mu + a_L s^2 u / sqrt(V_L):  the error against it is the solver's.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "diffusion/sampler.h"
#include "tensor/rng.h"

using namespace ddpm;

namespace {

// Pixel i draws from N(mu_k, s_k^2), k = i % 2: two data sets in one batch.
constexpr double kMu[2] = {0.3, 0.0}, kSd[2] = {0.5, 1.0};

// The exact model output (epsilon or v) for x_t at timestep t (all of the batch
// at one t, as the samplers call it), in float64.
DenoiseFn gaussian_model(const NoiseScheduler& sched, Prediction pred) {
  return [&sched, pred](const Tensor& x, const Tensor& t) {
    const double ab = sched.alphabar(static_cast<int64_t>(t.data<double>()[0]));
    const double a = std::sqrt(ab), b = std::sqrt(1 - ab);
    Tensor out = Tensor::empty(x.shape(), DType::f64);
    const double* px = x.data<double>();
    double* po = out.data<double>();
    for (int64_t i = 0; i < x.numel(); ++i) {
      const double mu = kMu[i % 2], s = kSd[i % 2], V = a * a * s * s + b * b;
      const double eps = b * (px[i] - a * mu) / V;
      const double x0 = mu + a * s * s * (px[i] - a * mu) / V;
      po[i] = pred == Prediction::epsilon ? eps : a * eps - b * x0;
    }
    return out;
  };
}

const Shape kShape = {4, 1, 16, 16};

// The exact probability-flow result for the sampler's chain (header).
Tensor exact_ode_result(const NoiseScheduler& sched, const SamplerConfig& cfg) {
  const std::vector<int64_t> ts = sampling_timesteps(sched.num_timesteps, cfg.steps, cfg.spacing);
  const Tensor x = randn(kShape, cfg.seed, cfg.stream, DType::f64);  // the sampler's x at ts[0]
  const double a0 = std::sqrt(sched.alphabar(ts.front())), b0 = std::sqrt(1 - sched.alphabar(ts.front()));
  const double aL = std::sqrt(sched.alphabar(ts.back())), bL = std::sqrt(1 - sched.alphabar(ts.back()));
  Tensor out = Tensor::empty(kShape, DType::f64);
  for (int64_t i = 0; i < x.numel(); ++i) {
    const double mu = kMu[i % 2], s = kSd[i % 2];
    const double u = (x.data<double>()[i] - a0 * mu) / std::sqrt(a0 * a0 * s * s + b0 * b0);
    out.data<double>()[i] = mu + aL * s * s * u / std::sqrt(aL * aL * s * s + bL * bL);
  }
  return out;
}

// RMS error of a deterministic sampler against the exact ODE result.
double ode_error(const NoiseScheduler& sched, SamplerKind kind, int64_t steps, Spacing spacing,
                 Prediction pred = Prediction::epsilon) {
  SamplerConfig cfg;
  cfg.kind = kind;
  cfg.steps = steps;
  cfg.spacing = spacing;
  cfg.clip_x0 = false;  // the exact solution is unclipped
  cfg.prediction = pred;
  cfg.seed = 11;
  const Tensor got = sample(sched, gaussian_model(sched, pred), kShape, cfg, DType::f64);
  const Tensor want = exact_ode_result(sched, cfg);
  double se = 0;
  for (int64_t i = 0; i < got.numel(); ++i) {
    const double d = got.data<double>()[i] - want.data<double>()[i];
    se += d * d;
  }
  return std::sqrt(se / static_cast<double>(got.numel()));
}

void check_timesteps(const std::vector<int64_t>& ts, int64_t T, int64_t K) {
  REQUIRE(static_cast<int64_t>(ts.size()) == K);
  CHECK(std::set<int64_t>(ts.begin(), ts.end()).size() == ts.size());
  for (size_t i = 0; i < ts.size(); ++i) {
    CHECK(ts[i] >= 0);
    CHECK(ts[i] < T);
    if (i > 0) CHECK(ts[i] < ts[i - 1]);
  }
}

}  // namespace

TEST_CASE("diffusion: every spacing gives K distinct in-range timesteps, largest first") {
  for (Spacing sp : {Spacing::leading, Spacing::trailing, Spacing::quadratic})
    for (const auto& [T, K] : std::vector<std::pair<int64_t, int64_t>>{{1000, 1},
                                                                       {1000, 3},
                                                                       {1000, 10},
                                                                       {1000, 20},
                                                                       {1000, 50},
                                                                       {1000, 999},
                                                                       {1000, 1000},
                                                                       {7, 3},
                                                                       {7, 7},
                                                                       {10, 4},
                                                                       {1, 1}}) {
      CAPTURE(spacing_name(sp));
      CAPTURE(T);
      CAPTURE(K);
      check_timesteps(sampling_timesteps(T, K, sp), T, K);
    }
}

TEST_CASE("diffusion: the spacings' known values") {
  // leading: k * T / K (the engine's spacing before, DDIM's)
  CHECK(sampling_timesteps(1000, 4, Spacing::leading) == std::vector<int64_t>{750, 500, 250, 0});
  // trailing: round(T - i T/K) - 1 (diffusers' "trailing": np.round(np.arange(T, 0, -T/K)) - 1)
  CHECK(sampling_timesteps(1000, 3, Spacing::trailing) == std::vector<int64_t>{999, 666, 332});
  CHECK(sampling_timesteps(1000, 4, Spacing::trailing) == std::vector<int64_t>{999, 749, 499, 249});
  CHECK(sampling_timesteps(1000, 10, Spacing::trailing).back() == 99);
  // halves round up: 10 - 2.5 i = 10, 7.5, 5, 2.5 -> 10, 8, 5, 3
  CHECK(sampling_timesteps(10, 4, Spacing::trailing) == std::vector<int64_t>{9, 7, 4, 2});
  // quadratic: floor((k/K)^2 T) = 0, 62.5, 250, 562.5
  CHECK(sampling_timesteps(1000, 4, Spacing::quadratic) == std::vector<int64_t>{562, 250, 62, 0});
  // where the floor repeats (T = 10, K = 5: 0, 0.4, 1.6, 3.6, 6.4) it is raised to one past the previous
  CHECK(sampling_timesteps(10, 5, Spacing::quadratic) == std::vector<int64_t>{6, 3, 2, 1, 0});
  // all T steps: every spacing is t = T-1 .. 0
  for (Spacing sp : {Spacing::leading, Spacing::trailing, Spacing::quadratic})
    CHECK(sampling_timesteps(6, 6, sp) == std::vector<int64_t>{5, 4, 3, 2, 1, 0});
  CHECK_THROWS_WITH(sampling_timesteps(1000, 0, Spacing::trailing), doctest::Contains("1..1000"));
}

TEST_CASE("diffusion: sampler names, default steps and spacings") {
  for (SamplerKind k : {SamplerKind::ddpm, SamplerKind::ddim, SamplerKind::dpmpp_2m, SamplerKind::euler_a})
    CHECK(parse_sampler_kind(sampler_kind_name(k)) == k);
  for (Spacing s : {Spacing::leading, Spacing::trailing, Spacing::quadratic})
    CHECK(parse_spacing(spacing_name(s)) == s);
  CHECK_THROWS_WITH(parse_sampler_kind("euler"), doctest::Contains("dpm++2m"));
  CHECK_THROWS_WITH(parse_spacing("linear"), doctest::Contains("trailing"));
  CHECK(default_steps(SamplerKind::ddpm, 1000) == 1000);
  CHECK(default_steps(SamplerKind::ddim, 1000) == 50);
  CHECK(default_steps(SamplerKind::dpmpp_2m, 1000) == 20);
  CHECK(default_steps(SamplerKind::euler_a, 1000) == 20);
  CHECK(default_steps(SamplerKind::dpmpp_2m, 10) == 10);
  CHECK(default_spacing(SamplerKind::ddpm) == Spacing::leading);
  CHECK(default_spacing(SamplerKind::ddim) == Spacing::leading);
  CHECK(default_spacing(SamplerKind::dpmpp_2m) == Spacing::trailing);
  CHECK(default_spacing(SamplerKind::euler_a) == Spacing::trailing);
}

TEST_CASE("diffusion: ddpm refuses a strided chain with other than leading spacing") {
  NoiseScheduler sched(BetaSchedule::linear, 20);
  SamplerConfig cfg;
  cfg.kind = SamplerKind::ddpm;
  cfg.steps = 5;
  cfg.spacing = Spacing::trailing;
  CHECK_THROWS_WITH(sample(sched, gaussian_model(sched, Prediction::epsilon), {1, 1, 2, 2}, cfg, DType::f64),
                    doctest::Contains("leading spacing only"));
  cfg.steps = 20;  // all steps: the spacings agree, so it runs
  CHECK(sample(sched, gaussian_model(sched, Prediction::epsilon), {1, 1, 2, 2}, cfg, DType::f64).numel() ==
        4);
}

TEST_CASE("diffusion: DPM-Solver++(2M) converges at second order on the exact ODE, DDIM at first") {
  NoiseScheduler sched(BetaSchedule::linear, 1000);
  // Quadratic spacing refines the step sizes in log-SNR smoothly (dense near
  // t = 0, where log-SNR changes fastest), so the asymptotic orders show by
  // 10-40 steps. Measured: DDIM 1.23e-1, 6.39e-2, 3.26e-2 (order 0.94,
  // 0.97); DPM++ 4.38e-2, 9.34e-3, 1.88e-3 (order 2.2, 2.3).
  double ddim[3], dpm[3];
  const int64_t steps[3] = {10, 20, 40};
  for (int k = 0; k < 3; ++k) {
    ddim[k] = ode_error(sched, SamplerKind::ddim, steps[k], Spacing::quadratic);
    dpm[k] = ode_error(sched, SamplerKind::dpmpp_2m, steps[k], Spacing::quadratic);
    MESSAGE(steps[k] << " steps: DDIM " << ddim[k] << ", DPM++(2M) " << dpm[k]);
  }
  for (int k = 0; k < 2; ++k) {
    const double order_ddim = std::log2(ddim[k] / ddim[k + 1]), order_dpm = std::log2(dpm[k] / dpm[k + 1]);
    CAPTURE(steps[k]);
    CHECK(order_dpm > 1.5);
    CHECK(order_ddim > 0.8);
    CHECK(order_ddim < 1.2);
    CHECK(dpm[k] < ddim[k]);
  }
  // The first step of DPM++ is DDIM's (first order, no history) and the last
  // returns x0 as DDIM's does: two steps agree to rounding.
  CHECK(std::abs(ode_error(sched, SamplerKind::dpmpp_2m, 2, Spacing::trailing) -
                 ode_error(sched, SamplerKind::ddim, 2, Spacing::trailing)) < 1e-12);
}

TEST_CASE("diffusion: DPM++(2M)'s default trailing spacing beats DDIM at 10 and 20 steps; leading does not") {
  NoiseScheduler sched(BetaSchedule::linear, 1000);
  // Trailing spacing (default_spacing(dpm++2m)): measured DDIM 9.48e-2,
  // 6.33e-2; DPM++ 6.4e-3, 1.28e-2 at 10, 20 steps. (The chains end at
  // t = T/K - 1, nearer the stiff clean end as K grows, so the errors are
  // not those of one interval refined: no order is read off here.)
  for (int64_t steps : {10, 20}) {
    CAPTURE(steps);
    const double ddim = ode_error(sched, SamplerKind::ddim, steps, Spacing::trailing);
    const double dpm = ode_error(sched, SamplerKind::dpmpp_2m, steps, Spacing::trailing);
    MESSAGE(steps << " trailing steps: DDIM " << ddim << ", DPM++(2M) " << dpm);
    CHECK(dpm < ddim / 3);
  }
  // Leading spacing at 10 steps: the chain ends with 100 -> 0, one step that
  // crosses most of the log-SNR range after short ones (r = h_last / h small),
  // and the second-order extrapolation overshoots: worse than DDIM (measured
  // 0.262 against 0.155). This is why default_spacing(dpm++2m) is trailing.
  const double ddim = ode_error(sched, SamplerKind::ddim, 10, Spacing::leading);
  const double dpm = ode_error(sched, SamplerKind::dpmpp_2m, 10, Spacing::leading);
  MESSAGE("10 leading steps: DDIM " << ddim << ", DPM++(2M) " << dpm);
  CHECK(dpm > ddim);
}

TEST_CASE("diffusion: the fast samplers give the same chain for epsilon and v models") {
  NoiseScheduler sched(BetaSchedule::cosine, 1000);
  for (SamplerKind kind : {SamplerKind::dpmpp_2m, SamplerKind::euler_a}) {
    SamplerConfig cfg;
    cfg.kind = kind;
    cfg.steps = 10;
    cfg.spacing = default_spacing(kind);
    cfg.clip_x0 = false;
    cfg.seed = 3;
    cfg.prediction = Prediction::epsilon;
    const Tensor e = sample(sched, gaussian_model(sched, Prediction::epsilon), kShape, cfg, DType::f64);
    cfg.prediction = Prediction::v;
    const Tensor v = sample(sched, gaussian_model(sched, Prediction::v), kShape, cfg, DType::f64);
    double worst = 0;
    for (int64_t i = 0; i < e.numel(); ++i)
      worst = std::max(worst, std::abs(e.data<double>()[i] - v.data<double>()[i]));
    CAPTURE(sampler_kind_name(kind));
    // The two recover the same x0 up to float64 rounding (x0 = a x - b v
    // against (x - b eps) / a), amplified by 1/a ~ 60 at t = 999 of the cosine schedule.
    CHECK(worst < 1e-10);
  }
}

TEST_CASE("diffusion: Euler ancestral's sample variance approaches the data's as the steps grow") {
  NoiseScheduler sched(BetaSchedule::linear, 1000);
  const double mu = 0.3, s = 0.5;
  // One data set (mu, s) for every pixel here; 65536 pixels, so the sample
  // variance's relative standard error is sqrt(2 / 65536) = 0.0055.
  const Shape shape = {16, 1, 64, 64};
  const DenoiseFn model = [&](const Tensor& x, const Tensor& t) {
    const double ab = sched.alphabar(static_cast<int64_t>(t.data<double>()[0]));
    const double a = std::sqrt(ab), b = std::sqrt(1 - ab), V = a * a * s * s + b * b;
    Tensor out = Tensor::empty(x.shape(), DType::f64);
    for (int64_t i = 0; i < x.numel(); ++i) out.data<double>()[i] = b * (x.data<double>()[i] - a * mu) / V;
    return out;
  };
  // The variance the sampler must give, propagated exactly through its affine
  // steps (x' = k x + c + ap su z with x0(x) affine): independent of the kernel.
  auto expected_variance = [&](int64_t steps) {
    const std::vector<int64_t> ts = sampling_timesteps(1000, steps, Spacing::trailing);
    double var = 1;  // x at ts[0] is N(0, 1)
    for (size_t i = 0; i < ts.size(); ++i) {
      const double ab = sched.alphabar(ts[i]), abp = sched.alphabar(i + 1 < ts.size() ? ts[i + 1] : -1);
      const double a = std::sqrt(ab), b = std::sqrt(1 - ab), ap = std::sqrt(abp);
      const double g = a * s * s / (a * a * s * s + b * b);  // dx0/dx
      const double sig = b / a, to = std::sqrt((1 - abp) / abp);
      const double su = std::min(to, std::sqrt(std::max(0.0, to * to * (sig * sig - to * to) / (sig * sig))));
      const double sd = std::sqrt(std::max(0.0, to * to - su * su));
      const double k = ap * (sd / sig) / a + ap * (1 - sd / sig) * g;
      var = k * k * var + ap * ap * su * su;
    }
    return var;
  };
  double last = 0;
  for (int64_t steps : {10, 50, 250, 1000}) {
    SamplerConfig cfg;
    cfg.kind = SamplerKind::euler_a;
    cfg.steps = steps;
    cfg.spacing = Spacing::trailing;
    cfg.clip_x0 = false;
    cfg.seed = 21;
    const Tensor x = sample(sched, model, shape, cfg, DType::f64);
    double m = 0, m2 = 0;
    const auto n = static_cast<double>(x.numel());
    for (int64_t i = 0; i < x.numel(); ++i) m += x.data<double>()[i];
    m /= n;
    for (int64_t i = 0; i < x.numel(); ++i) m2 += (x.data<double>()[i] - m) * (x.data<double>()[i] - m);
    const double ratio = m2 / (n - 1) / (s * s), want = expected_variance(steps) / (s * s);
    MESSAGE("euler-a " << steps << " steps: mean " << m << ", variance / s^2 " << ratio << " (exact " << want
                       << ")");
    CAPTURE(steps);
    CHECK(std::abs(m - mu) < 4 * s / std::sqrt(n));        // 4 standard errors of the mean
    CHECK(std::abs(ratio - want) < 4 * std::sqrt(2 / n));  // 4 standard errors of the variance
    CHECK(ratio > last);                                   // closer to the data's with more steps
    last = ratio;
  }
  // First order in the step size: the exact propagation says 10 steps give
  // 0.44 of s^2 and 1000 steps still fall 1.5% short (0.9845).
  CHECK(expected_variance(10) / (s * s) < 0.5);
  CHECK(expected_variance(1000) / (s * s) > 0.98);
}
