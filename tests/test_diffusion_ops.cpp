// The fused diffusion ops (q_sample, ddpm_step, ddim_step) and the optimizer
// ops (adam_update, ema_update) on the CPU.
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "diffusion/scheduler.h"
#include "kernels/adam_update.h"
#include "kernels/ddim_step.h"
#include "kernels/ddpm_step.h"
#include "kernels/draw_timesteps.h"
#include "kernels/ema_update.h"
#include "kernels/q_sample.h"
#include "tensor/philox.h"
#include "tensor/rng.h"
#include "tests/io_util.h"

using namespace ddpm;

namespace {
Tensor vec(std::vector<double> v) { return Tensor::from_vector(v, {static_cast<int64_t>(v.size())}); }
}  // namespace

TEST_CASE("diffusion: q_sample computes a*x0 + b*eps with eps from the Philox stream") {
  Tensor x0 = rand_uniform({3, 2, 4, 4}, -1, 1, 5, 0, DType::f64);
  Tensor a = vec({0.9, 0.5, 0.1}), b = vec({std::sqrt(1 - 0.81), std::sqrt(0.75), std::sqrt(0.99)});
  auto r = kernels::q_sample(x0, a, b, 42, 7, 1000, false);
  const auto xs = x0.to_vector<double>(), xt = r.x_t.to_vector<double>(), e = r.noise.to_vector<double>();
  for (size_t i = 0; i < xs.size(); ++i) {
    const size_t n = i / 32;
    CHECK(e[i] == philox::normal(42, 7, 1000 + i));
    CHECK(xt[i] ==
          doctest::Approx(a.to_vector<double>()[n] * xs[i] + b.to_vector<double>()[n] * e[i]).epsilon(1e-15));
  }
  CHECK(r.target.impl() == r.noise.impl());
  auto v = kernels::q_sample(x0, a, b, 42, 7, 1000, true);
  const auto vt = v.target.to_vector<double>();
  for (size_t i = 0; i < xs.size(); ++i) {
    const size_t n = i / 32;
    CHECK(vt[i] ==
          doctest::Approx(a.to_vector<double>()[n] * e[i] - b.to_vector<double>()[n] * xs[i]).epsilon(1e-14));
  }
}

// The trainer's draw (diffusion/trainer.h: t_j = uniform_int(seed,
// kTimesteps, step*G + j, T)) and the scheduler's coefficients of t_j, in
// each float type; wrong tables are refused naming the op and the shapes.
TEST_CASE("diffusion: draw_timesteps draws the trainer's timesteps and looks up their coefficients") {
  const NoiseScheduler sched(BetaSchedule::linear, 1000);
  const int64_t T = 1000, B = 37;
  const uint64_t first = (uint64_t{1} << 33) + 5;
  for (const DType dt : {DType::f32, DType::f64}) {
    const Tensor ta = Tensor::from_vector(sched.sqrt_alphas_cumprod, {T}).to(dt),
                 tb = Tensor::from_vector(sched.sqrt_one_minus_alphas_cumprod, {T}).to(dt);
    const kernels::TimestepDraw r = kernels::draw_timesteps(B, 9, 4, first, ta, tb);
    REQUIRE(r.t.shape() == Shape{B});
    CHECK(r.t.dtype() == dt);
    const auto t = r.t.to_vector<double>(), a = r.a.to_vector<double>(), b = r.b.to_vector<double>();
    const auto va = ta.to_vector<double>(), vb = tb.to_vector<double>();
    int distinct = 0;
    for (int64_t n = 0; n < B; ++n) {
      const int64_t k = philox::uniform_int(9, 4, first + static_cast<uint64_t>(n), T);
      const size_t i = static_cast<size_t>(n);
      CHECK(t[i] == static_cast<double>(k));
      CHECK(a[i] == va[static_cast<size_t>(k)]);
      CHECK(b[i] == vb[static_cast<size_t>(k)]);
      distinct += n > 0 && t[i] != t[i - 1];
    }
    CHECK(distinct > B / 2);  // a draw, not a constant
  }
  const Tensor ok = Tensor::zeros({10}), other = Tensor::zeros({9}), flat = Tensor::zeros({2, 5});
  std::string e = test::error_message<std::invalid_argument>(
      [&] { (void)kernels::draw_timesteps(4, 1, 1, 0, ok, other); });
  CHECK(e.find("draw_timesteps") != std::string::npos);
  CHECK(e.find("[9]") != std::string::npos);
  e = test::error_message<std::invalid_argument>(
      [&] { (void)kernels::draw_timesteps(4, 1, 1, 0, flat, flat); });
  CHECK(e.find("[T] with T >= 1") != std::string::npos);
  e = test::error_message<std::invalid_argument>(
      [&] { (void)kernels::draw_timesteps(4, 1, 1, 0, ok, ok.to(DType::f64)); });
  CHECK(e.find("draw_timesteps") != std::string::npos);
}

TEST_CASE("diffusion: q_sample has the forward-process mean and variance") {
  // x0 = 0.5 everywhere, alphabar = 0.36: x_t ~ N(0.6 * 0.5, 0.64).
  const int64_t n = 200000;
  Tensor x0 = Tensor::full({2, n / 2}, 0.5, DType::f64);
  auto r = kernels::q_sample(x0, vec({0.6, 0.6}), vec({0.8, 0.8}), 3, 1, 0, false);
  double m = 0, v = 0;
  for (double x : r.x_t.to_vector<double>()) m += x;
  m /= n;
  for (double x : r.x_t.to_vector<double>()) v += (x - m) * (x - m);
  v /= n;
  CHECK(std::abs(m - 0.3) < 5 * 0.8 / std::sqrt(double(n)));  // 5 standard errors
  CHECK(std::abs(v - 0.64) < 5 * 0.64 * std::sqrt(2.0 / n));
}

TEST_CASE("diffusion: one DDPM step equals the seed's formula on fixed numbers") {
  NoiseScheduler s(BetaSchedule::linear, 1000);
  const int64_t t = 637;
  Tensor x = vec({0.3, -1.2, 2.0, 0.0, 0.7}), eps = vec({0.1, 0.5, -0.4, 1.5, -2.0});
  kernels::DdpmStepParams p;
  p.sqrt_ab = s.sqrt_alphas_cumprod[t];
  p.sqrt_one_minus_ab = s.sqrt_one_minus_alphas_cumprod[t];
  p.c_x0 = s.posterior_mean_coef_x0[t];
  p.c_xt = s.posterior_mean_coef_xt[t];
  p.sigma = std::sqrt(s.betas[t]);  // the seed's sqrt(beta_t) z
  p.seed = 11;
  p.stream = 2;
  p.offset = 50;
  const auto out = kernels::ddpm_step(x, eps, p).to_vector<double>();
  const double alpha = s.alphas[t], ab = s.alphas_cumprod[t], beta = s.betas[t];
  for (size_t i = 0; i < 5; ++i) {
    const double z = philox::normal(11, 2, 50 + i);
    const double seed_update =
        (1 / std::sqrt(alpha)) *
            (x.to_vector<double>()[i] - (beta / std::sqrt(1 - ab)) * eps.to_vector<double>()[i]) +
        std::sqrt(beta) * z;
    CHECK(out[i] == doctest::Approx(seed_update).epsilon(1e-12));
  }
  // Clipping bounds the x0 estimate: x_t = 0 and eps = 100 give x0 = -100 b/a,
  // clipped to -1, so the mean is c_x0 * (-1) + c_xt * 0.
  p.clip_x0 = true;
  p.sigma = 0;
  const auto clipped = kernels::ddpm_step(vec({0.0}), vec({100.0}), p).to_vector<double>();
  CHECK(clipped[0] == doctest::Approx(-p.c_x0).epsilon(1e-12));
}

TEST_CASE("diffusion: DDIM with eta=0 is deterministic and recovers x0 at the last step") {
  NoiseScheduler s(BetaSchedule::cosine, 1000);
  const int64_t t = 400, tp = 300;
  kernels::DdimStepParams p;
  p.sqrt_ab = std::sqrt(s.alphabar(t));
  p.sqrt_one_minus_ab = std::sqrt(1 - s.alphabar(t));
  p.sqrt_ab_prev = std::sqrt(s.alphabar(tp));
  p.c_eps = std::sqrt(1 - s.alphabar(tp));
  Tensor x = randn({64}, 1, 0, DType::f64), m = randn({64}, 1, 1, DType::f64);
  p.seed = 1;
  const auto a = kernels::ddim_step(x, m, p).to_vector<double>();
  p.seed = 2;  // eta = 0: the seed must not matter
  const auto b = kernels::ddim_step(x, m, p).to_vector<double>();
  CHECK(a == b);
  // With x_t built from a known x0 and eps, one step to t_prev = -1 returns x0.
  const double ab = s.alphabar(t);
  Tensor x0 = rand_uniform({16}, -1, 1, 4, 0, DType::f64), e = randn({16}, 4, 1, DType::f64);
  std::vector<double> xt(16);
  for (size_t i = 0; i < 16; ++i)
    xt[i] = std::sqrt(ab) * x0.to_vector<double>()[i] + std::sqrt(1 - ab) * e.to_vector<double>()[i];
  p.sqrt_ab_prev = 1;
  p.c_eps = 0;
  const auto rec = kernels::ddim_step(vec(xt), e, p).to_vector<double>();
  for (size_t i = 0; i < 16; ++i) CHECK(rec[i] == doctest::Approx(x0.to_vector<double>()[i]).epsilon(1e-12));
}

TEST_CASE("diffusion: v prediction gives the same step as the equivalent epsilon") {
  // v = a*eps - b*x0 with x_t = a*x0 + b*eps; feeding v must equal feeding eps.
  const double ab = 0.3, a = std::sqrt(ab), b = std::sqrt(1 - ab);
  Tensor x0 = rand_uniform({32}, -1, 1, 9, 0, DType::f64), e = randn({32}, 9, 1, DType::f64);
  std::vector<double> xt(32), v(32);
  for (size_t i = 0; i < 32; ++i) {
    xt[i] = a * x0.to_vector<double>()[i] + b * e.to_vector<double>()[i];
    v[i] = a * e.to_vector<double>()[i] - b * x0.to_vector<double>()[i];
  }
  kernels::DdpmStepParams p;
  p.sqrt_ab = a;
  p.sqrt_one_minus_ab = b;
  p.c_x0 = 0.2;
  p.c_xt = 0.7;
  const auto from_eps = kernels::ddpm_step(vec(xt), e, p).to_vector<double>();
  p.v_pred = true;
  const auto from_v = kernels::ddpm_step(vec(xt), vec(v), p).to_vector<double>();
  for (size_t i = 0; i < 32; ++i) CHECK(from_v[i] == doctest::Approx(from_eps[i]).epsilon(1e-12));
}

TEST_CASE("diffusion: adam_update matches torch.optim.Adam and AdamW") {
  std::ifstream f(std::string(DDPM_TEST_DATA_DIR) + "/diffusion_reference.json");
  REQUIRE(f.good());
  const nlohmann::json ref = nlohmann::json::parse(f);
  for (const auto& c : ref["adam"]) {
    const bool f32 = c["dtype"] == "float32";
    const DType dt = f32 ? DType::f32 : DType::f64;
    Tensor p = vec(c["param0"].get<std::vector<double>>()).to(dt);
    Tensor m = Tensor::zeros(p.shape(), dt), v = Tensor::zeros(p.shape(), dt);
    kernels::AdamParams ap;
    ap.lr = c["lr"];
    ap.beta1 = c["beta1"];
    ap.beta2 = c["beta2"];
    ap.eps = c["eps"];
    ap.weight_decay = c["weight_decay"];
    ap.decoupled = c["decoupled"];
    int64_t step = 0;
    for (const auto& g : c["grads"]) {
      ap.step = ++step;
      kernels::adam_update(p, vec(g.get<std::vector<double>>()).to(dt), m, v, ap);
    }
    // float64: identical formula, rounding differences only (~1e-16 relative).
    // float32: torch computes in float32 too; the bar is 1e-6.
    const double tol = f32 ? 1e-6 : 1e-13;
    INFO("dtype=" << c["dtype"] << " decoupled=" << c["decoupled"]);
    const auto ps = p.to_vector<double>(), ms = m.to_vector<double>(), vs = v.to_vector<double>();
    for (size_t i = 0; i < ps.size(); ++i) {
      CHECK(std::abs(ps[i] - c["param"][i].get<double>()) <= tol);
      CHECK(std::abs(ms[i] - c["exp_avg"][i].get<double>()) <= tol);
      CHECK(std::abs(vs[i] - c["exp_avg_sq"][i].get<double>()) <= tol);
    }
  }
}

TEST_CASE("diffusion: adam_update with an EMA buffer equals adam_update then ema_update, bit for bit") {
  for (const DType dt : {DType::f32, DType::f64})
    for (const bool decoupled : {false, true}) {
      CAPTURE(dtype_name(dt));
      CAPTURE(decoupled);
      const Tensor g = rand_uniform({4099}, -1, 1, 3, 1, dt);
      Tensor p1 = rand_uniform({4099}, -1, 1, 3, 2, dt), m1 = Tensor::zeros({4099}, dt),
             v1 = Tensor::zeros({4099}, dt), e1 = rand_uniform({4099}, -1, 1, 3, 3, dt);
      Tensor p2 = p1.clone(), m2 = m1.clone(), v2 = v1.clone(), e2 = e1.clone();
      const Tensor e0 = e1.clone();
      kernels::AdamParams ap;
      ap.lr = 3e-3;
      ap.weight_decay = 0.01;
      ap.decoupled = decoupled;
      for (int64_t step = 1; step <= 3; ++step) {
        ap.step = step;
        ap.ema_decay = step == 3 ? 0.9999 : 0.5;
        kernels::adam_update(p1, g, m1, v1, ap, &e1);
        kernels::adam_update(p2, g, m2, v2, ap);
        kernels::ema_update(e2, p2, ap.ema_decay);
      }
      CHECK(p1.to_vector<double>() == p2.to_vector<double>());
      CHECK(m1.to_vector<double>() == m2.to_vector<double>());
      CHECK(v1.to_vector<double>() == v2.to_vector<double>());
      CHECK(e1.to_vector<double>() == e2.to_vector<double>());
      CHECK(e1.to_vector<double>() != e0.to_vector<double>());  // the EMA moved
    }
  // A bad EMA buffer or decay is refused before anything changes.
  Tensor p = vec({1, 2}), m = vec({0, 0}), v = vec({0, 0}), bad = vec({1, 2, 3}), e = vec({5, 6});
  kernels::AdamParams ap;
  ap.ema_decay = 0.5;
  CHECK_THROWS_WITH(kernels::adam_update(p, vec({1, 1}), m, v, ap, &bad), doctest::Contains("ema"));
  ap.ema_decay = 1.0;
  CHECK_THROWS_WITH(kernels::adam_update(p, vec({1, 1}), m, v, ap, &e), doctest::Contains("ema_decay"));
  CHECK(p.to_vector<double>() == std::vector<double>{1, 2});
  CHECK(e.to_vector<double>() == std::vector<double>{5, 6});
}

TEST_CASE("diffusion: ema_update is decay*ema + (1-decay)*param") {
  Tensor ema = vec({1, 2, 3}), p = vec({3, 2, 1});
  kernels::ema_update(ema, p, 0.75);
  CHECK(ema.to_vector<double>() == std::vector<double>{1.5, 2.0, 2.5});
  CHECK_THROWS_WITH(kernels::ema_update(ema, p, 1.5), doctest::Contains("decay"));
  Tensor bad = vec({1, 2});
  CHECK_THROWS_WITH(kernels::ema_update(ema, bad, 0.5), doctest::Contains("[2]"));
}
