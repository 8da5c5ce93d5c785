// nn/: module tree names and order, parameter conversion, layer init, the
// UNet's configuration, parameter count, shapes and use of the time embedding.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "autograd/functions.h"
#include "nn/conv2d.h"
#include "nn/ema.h"
#include "nn/flat_parameters.h"
#include "nn/group_norm.h"
#include "nn/linear.h"
#include "nn/sequential.h"
#include "nn/silu.h"
#include "nn/unet.h"
#include "tensor/rng.h"
#include "tests/gradcheck.h"

using namespace ddpm;
using namespace ddpm::nn;

namespace {

std::vector<std::string> names_of(const Module& m) {
  std::vector<std::string> out;
  for (const auto& [name, p] : m.named_parameters()) out.push_back(name);
  return out;
}

// root: own "scale", child body = Sequential(Linear(3,4), SiLU, Linear(4,2)),
// child head = Linear(2,1, no bias), then own "late" registered last.
struct Nested : Module {
  Nested() {
    register_parameter("scale", Tensor::ones({2}));
    auto body = register_module("body", std::make_shared<Sequential>());
    body->push_back(std::make_shared<Linear>(3, 4));
    body->push_back(std::make_shared<SiLU>());
    body->push_back(std::make_shared<Linear>(4, 2));
    register_module("head", std::make_shared<Linear>(2, 1, false));
    register_parameter("late", Tensor::ones({1}));
  }
};

double max_abs(const Tensor& t) {
  double m = 0;
  for (double v : t.to_vector<double>()) m = std::max(m, std::abs(v));
  return m;
}

}  // namespace

TEST_CASE("nn: named_parameters of a nested module have PyTorch's names and order") {
  Nested m;
  // What torch prints for the same tree (own parameters first, even those
  // registered after the children, then children depth first).
  const std::vector<std::string> expected = {"scale",         "late",        "body.0.weight", "body.0.bias",
                                             "body.2.weight", "body.2.bias", "head.weight"};
  CHECK(names_of(m) == expected);
  CHECK(m.parameters().size() == expected.size());
  CHECK(m.num_parameters() == 2 + 1 + 12 + 4 + 8 + 2 + 2);
  for (const auto& p : m.parameters()) CHECK(p.requires_grad());
  CHECK(m.parameter("body.2.bias").shape() == Shape{2});
  CHECK_THROWS_AS(m.parameter("body.1.weight"), std::out_of_range);
}

TEST_CASE("nn: registering a bad or duplicate name is an error naming it") {
  Module m;
  m.register_parameter("w", Tensor::zeros({1}));
  CHECK_THROWS_WITH_AS(m.register_parameter("w", Tensor::zeros({1})), doctest::Contains("'w'"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(m.register_module("w", std::make_shared<SiLU>()), doctest::Contains("'w'"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(m.register_parameter("a.b", Tensor::zeros({1})), doctest::Contains("'a.b'"),
                       std::invalid_argument);
  CHECK_THROWS_AS(m.register_parameter("", Tensor::zeros({1})), std::invalid_argument);
  CHECK_THROWS_AS(m.register_parameter("u", Tensor()), std::invalid_argument);
}

TEST_CASE("nn: to(dtype) converts parameters behind the layers' own handles") {
  Linear l(3, 2);
  const std::vector<double> before = l.weight().to_vector<double>();
  Tensor outside = l.parameter("weight");
  autograd::backward(sum(l(Tensor::ones({1, 3}))));
  REQUIRE(l.weight().grad().defined());
  l.to(DType::f64);
  CHECK(l.weight().dtype() == DType::f64);
  CHECK(outside.dtype() == DType::f64);  // every copy of the handle sees the conversion
  CHECK(l.weight().to_vector<double>() == before);
  CHECK_FALSE(l.weight().grad().defined());
  CHECK(l.weight().requires_grad());
  const Tensor y = l(Tensor::ones({1, 3}, DType::f64));
  CHECK(y.dtype() == DType::f64);
  autograd::backward(sum(y));
  CHECK(l.bias().grad().to_vector<double>() == std::vector<double>{1, 1});
  l.zero_grad();
  CHECK_FALSE(l.bias().grad().defined());
}

TEST_CASE("nn: Conv2d and Linear init is PyTorch's U(-1/sqrt(fan_in), 1/sqrt(fan_in)) and deterministic") {
  Conv2d c(16, 32, 3, 1, 1, true, 7);
  const double cb = 1.0 / std::sqrt(16.0 * 9.0);
  CHECK(c.init_bound() == doctest::Approx(cb));
  // 4608 uniform draws: the largest lies within 0.5% of the bound unless the
  // interval is wrong (probability of missing it ~ exp(-23)).
  CHECK(max_abs(c.weight()) < cb);
  CHECK(max_abs(c.weight()) > 0.995 * cb);
  CHECK(max_abs(c.bias()) < cb);
  CHECK(max_abs(c.bias()) > 0.5 * cb);  // 32 draws: below half the bound with probability 2^-32

  Linear l(256, 64, true, 7);
  const double lb = 1.0 / 16.0;
  CHECK(max_abs(l.weight()) < lb);
  CHECK(max_abs(l.weight()) > 0.995 * lb);
  CHECK(max_abs(l.bias()) < lb);

  // Same seed and name: same values; other seed or name: different ones.
  Conv2d c2(16, 32, 3, 1, 1, true, 7), c3(16, 32, 3, 1, 1, true, 8);
  CHECK(c2.weight().to_vector<float>() == c.weight().to_vector<float>());
  CHECK(c3.weight().to_vector<float>() != c.weight().to_vector<float>());
  UNet u(UNetConfig{1, 8, 32, TimeEmbedding::linear, 8}, 3);
  // enc1.3 and dec1.3 are both [8, 8, 3, 3]: their own streams give other values.
  CHECK(u.parameter("enc1.3.weight").shape() == u.parameter("dec1.3.weight").shape());
  CHECK(u.parameter("enc1.3.weight").to_vector<float>() != u.parameter("dec1.3.weight").to_vector<float>());
  CHECK(max_abs(u.parameter("dec3.0.weight")) < 1.0 / std::sqrt(96.0 * 9.0));
  CHECK(max_abs(u.parameter("dec3.0.weight")) > 0.99 / std::sqrt(96.0 * 9.0));
}

TEST_CASE("nn: GroupNorm starts as the identity affine map, SiLU and Sequential own no parameters") {
  GroupNorm g(4, 8);
  CHECK(g.weight().to_vector<float>() == std::vector<float>(8, 1.0f));
  CHECK(g.bias().to_vector<float>() == std::vector<float>(8, 0.0f));
  CHECK(GroupNorm(2, 8, 1e-5, false).num_parameters() == 0);
  CHECK_THROWS_AS(GroupNorm(3, 8), std::invalid_argument);
  CHECK(SiLU().num_parameters() == 0);
  Sequential s;
  s.push_back(std::make_shared<Linear>(2, 2));
  s.push_back(std::make_shared<SiLU>());
  CHECK(s.size() == 2);
  CHECK(names_of(s) == std::vector<std::string>{"0.weight", "0.bias"});
}

TEST_CASE("nn: UNetConfig round-trips through a string map and rejects bad values") {
  const UNetConfig c{3, 32, 128, TimeEmbedding::sinusoidal, 4};
  const auto m = c.to_map();
  CHECK(m.at("in_channels") == "3");
  CHECK(m.at("base_channels") == "32");
  CHECK(m.at("time_embed_dim") == "128");
  CHECK(m.at("time_embedding") == "sinusoidal");
  CHECK(m.at("groups") == "4");
  CHECK(UNetConfig::from_map(m) == c);
  auto extra = m;
  extra["format"] = "pt";  // other metadata keys are ignored
  CHECK(UNetConfig::from_map(extra) == c);

  auto missing = m;
  missing.erase("groups");
  CHECK_THROWS_WITH_AS(UNetConfig::from_map(missing), doctest::Contains("'groups'"), std::invalid_argument);
  // m with one key replaced.
  auto with = [&m](const std::string& key, std::string value) {
    auto copy = m;
    copy.insert_or_assign(key, std::move(value));
    return copy;
  };
  CHECK_THROWS_WITH_AS(UNetConfig::from_map(with("base_channels", "32x")), doctest::Contains("base_channels"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(UNetConfig::from_map(with("groups", " 4")), doctest::Contains("groups"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(UNetConfig::from_map(with("time_embedding", "learned")), doctest::Contains("learned"),
                       std::invalid_argument);
  // 30 channels do not split into 4 groups.
  CHECK_THROWS_WITH_AS(UNetConfig::from_map(with("base_channels", "30")), doctest::Contains("divisible"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(UNetConfig::from_map(with("time_embed_dim", "7")), doctest::Contains("even"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(UNetConfig::from_map(with("in_channels", "0")), doctest::Contains("in_channels"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(UNetConfig::from_map(with("groups", "99999999999999999999")),
                       doctest::Contains("groups"), std::invalid_argument);
}

TEST_CASE("nn: the base-64 UNet has as many parameters as its PyTorch twin") {
  // Counted once with
  //   /usr/bin/python3 -c "from unet_twin import UNetTwin;
  //     print(sum(p.numel() for p in UNetTwin(1, 64, 256, e).parameters()))"
  // in tests/reference/: 8215553 for e = 'linear', 8280833 for 'sinusoidal'.
  CHECK(UNet(UNetConfig{1, 64, 256, TimeEmbedding::linear, 8}).num_parameters() == 8215553);
  CHECK(UNet(UNetConfig{1, 64, 256, TimeEmbedding::sinusoidal, 8}).num_parameters() == 8280833);
}

TEST_CASE("nn: UNet names, shapes and input checks for both time embeddings") {
  for (TimeEmbedding e : {TimeEmbedding::linear, TimeEmbedding::sinusoidal}) {
    CAPTURE(time_embedding_name(e));
    const UNetConfig cfg{2, 8, 16, e, 8};
    UNet u(cfg, 5);
    const auto names = names_of(u);
    CHECK(names.front() == "time_mlp.0.weight");
    CHECK(u.parameter("time_mlp.0.weight").shape() == Shape{16, e == TimeEmbedding::linear ? 1 : 16});
    CHECK(u.parameter("time_mlp.2.weight").shape() == Shape{16, 16});
    CHECK(u.parameter("enc1.0.weight").shape() == Shape{8, 2, 3, 3});
    CHECK(u.parameter("enc1.4.bias").shape() == Shape{8});
    CHECK(u.parameter("dec3.0.weight").shape() == Shape{32, 96, 3, 3});
    CHECK(u.parameter("final.weight").shape() == Shape{2, 8, 1, 1});
    CHECK(u.parameter("time_proj.bottleneck.weight").shape() == Shape{64, 16});
    CHECK(names.back() == "time_proj.dec1.bias");
    CHECK(names.size() == 4 + 7 * 8 + 2 + 7 * 2);

    const Tensor x = randn({3, 2, 16, 24}, 1, 2);
    const Tensor t = Tensor::from_vector(std::vector<float>{0, 10, 999}, {3});
    CHECK(u(x, t).shape() == x.shape());
    CHECK(u.embed_time(t).shape() == Shape{3, 16});
    CHECK_THROWS_WITH_AS(u(randn({3, 2, 12, 16}, 1, 2), t), doctest::Contains("multiples of 8"),
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(u(randn({3, 1, 16, 16}, 1, 2), t), doctest::Contains("[N, 2, H, W]"),
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(u(x, Tensor::zeros({2})), doctest::Contains("[N]"), std::invalid_argument);
    CHECK_THROWS_WITH_AS(u(x, t.to(DType::f64)), doctest::Contains("dtype"), std::invalid_argument);
  }
}

TEST_CASE("nn: the UNet's output depends on t, per image") {
  for (TimeEmbedding e : {TimeEmbedding::linear, TimeEmbedding::sinusoidal}) {
    CAPTURE(time_embedding_name(e));
    UNet u(UNetConfig{1, 8, 32, e, 8}, 11);
    u.to(DType::f64);
    const Tensor x = randn({2, 1, 16, 16}, 3, 4, DType::f64);
    const Tensor y1 = u(x, Tensor::from_vector(std::vector<double>{100, 500}, {2}));
    const Tensor y2 = u(x, Tensor::from_vector(std::vector<double>{900, 500}, {2}));
    const auto a = y1.to_vector<double>(), b = y2.to_vector<double>();
    const size_t half = a.size() / 2;
    double d0 = 0, d1 = 0, n0 = 0;
    for (size_t i = 0; i < half; ++i) {
      d0 += (a[i] - b[i]) * (a[i] - b[i]);
      n0 += a[i] * a[i];
      d1 += (a[half + i] - b[half + i]) * (a[half + i] - b[half + i]);
    }
    // Image 0's timestep moved from 100 to 900: its output moves by a clear
    // fraction (the seed's bug left it unchanged); image 1 kept t = 500 and,
    // with GroupNorm per image, must come out bit-identical.
    CHECK(std::sqrt(d0 / n0) > 1e-3);
    CHECK(d1 == 0.0);
  }
}

TEST_CASE("nn: EMA warms up with decay min(D, (1+s)/(10+s)) and then holds D") {
  Linear lin(2, 2, true, 5);
  FlatParameters flat(lin);
  Ema ema(flat, 0.995);
  CHECK(ema.decay_at(0) == doctest::Approx(0.1).epsilon(1e-15));
  CHECK(ema.decay_at(90) == doctest::Approx(0.91).epsilon(1e-15));
  CHECK(ema.decay_at(1789) < 0.995);
  CHECK(ema.decay_at(1790) == 0.995);
  CHECK(ema.decay_at(100000) == 0.995);
  CHECK_THROWS_WITH(ema.decay_at(-1), doctest::Contains("-1"));

  // Step 0 takes 90% of the new weights; a small decay is never raised.
  const std::vector<double> before = ema.weights().to_vector<double>();
  flat.params().fill_(1.0);
  ema.update(flat, 0);
  const std::vector<double> after = ema.weights().to_vector<double>();
  for (size_t i = 0; i < after.size(); ++i)
    CHECK(after[i] == doctest::Approx(0.1 * before[i] + 0.9).epsilon(1e-6));
  Ema small(flat, 0.05);
  CHECK(small.decay_at(0) == 0.05);
  CHECK(small.decay_at(50) == 0.05);
}
