// Forward and backward values of the classifier ops (cross_entropy,
// global_avg_pool2d, softmax / log_softmax) against PyTorch, cases worked by
// hand (large logits included), and the errors for bad labels and shapes.
//
// Reference data: tests/data/classifier_ops_reference.json, made by
// tests/reference/make_classifier_ops_reference.py (PyTorch, float64, seeded
// inputs stored in the file).
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "autograd/functions.h"
#include "kernels/softmax.h"
#include "tests/gradcheck.h"

using namespace ddpm;
using ddpm::test::normalised_error;

namespace {

const nlohmann::json& reference() {
  static const nlohmann::json j = [] {
    const std::string path = std::string(DDPM_TEST_DATA_DIR) + "/classifier_ops_reference.json";
    std::ifstream f(path);
    if (!f) throw std::runtime_error("cannot open " + path);
    return nlohmann::json::parse(f);
  }();
  return j;
}

Tensor from_json(const nlohmann::json& t, DType dtype) {
  const Shape shape = t.at("shape").get<Shape>();
  const std::vector<double> data = t.at("data").get<std::vector<double>>();
  return Tensor::from_host(data.data(), shape, dtype);
}

// Runs every reference case of `op` in dtype: output (and, when stored, the
// gradient of the first input for the stored upstream gradient) within tol
// (normalised error).
void check_reference(const std::string& op, DType dtype, double tol) {
  int seen = 0;
  for (const nlohmann::json& c : reference().at("cases")) {
    if (c.at("op") != op) continue;
    ++seen;
    const std::string label = c.at("label").get<std::string>();
    CAPTURE(label);
    // Logits 1e4 + O(1) in float32 are themselves rounded (float spacing at
    // 1e4 is 2^-10 ~ 1e-3), which moves softmax by ~1e-4 relative: the
    // reference is for the unrounded values.
    const double case_tol = dtype == DType::f32 && label.find("1e4 +") != std::string::npos ? 1e-3 : tol;
    std::vector<Tensor> in;
    for (const nlohmann::json& t : c.at("inputs")) in.push_back(from_json(t, dtype));
    const bool diff = c.contains("grad");
    in[0].set_requires_grad(diff);
    Tensor y;
    if (op == "cross_entropy") y = cross_entropy(in[0], in[1]);
    if (op == "global_avg_pool2d") y = global_avg_pool2d(in[0]);
    if (op == "softmax") y = kernels::softmax_fwd(in[0], false);
    if (op == "log_softmax") y = kernels::softmax_fwd(in[0], true);
    const Tensor want = from_json(c.at("output"), dtype);
    REQUIRE(y.shape() == want.shape());
    CHECK(normalised_error(y.detach(), want) <= case_tol);
    if (diff) {
      autograd::backward(y, from_json(c.at("grad_out"), dtype));
      CHECK(normalised_error(in[0].grad(), from_json(c.at("grad"), dtype)) <= case_tol);
    }
  }
  CHECK(seen > 0);
}

Tensor f64(const std::vector<double>& v, const Shape& s) { return Tensor::from_vector(v, s); }

}  // namespace

TEST_CASE("forward: cross_entropy against PyTorch (K = 1, 5, 7, 10, logits ~ 1e4)") {
  check_reference("cross_entropy", DType::f64, 1e-12);
  check_reference("cross_entropy", DType::f32, 1e-5);
}

TEST_CASE("forward: global_avg_pool2d against PyTorch") {
  check_reference("global_avg_pool2d", DType::f64, 1e-12);
  check_reference("global_avg_pool2d", DType::f32, 1e-6);
}

TEST_CASE("forward: softmax and log_softmax against PyTorch") {
  check_reference("softmax", DType::f64, 1e-12);
  check_reference("log_softmax", DType::f64, 1e-12);
  check_reference("softmax", DType::f32, 1e-6);
  check_reference("log_softmax", DType::f32, 1e-6);
}

TEST_CASE("forward: cross_entropy worked by hand, large logits stay finite") {
  // Uniform logits over 3 classes: -log(1/3) = log 3 whatever the label.
  CHECK(cross_entropy(f64({0, 0, 0}, {1, 3}), f64({2}, {1})).item() == doctest::Approx(std::log(3.0)));
  // z = [1e4, 0]: label 0 costs log(1 + e^-1e4) = 0 (in double), label 1
  // costs 1e4; a naive exp(1e4) would be inf.
  const Tensor z = f64({1e4, 0, 1e4, 0}, {2, 2});
  CHECK(cross_entropy(z, f64({0, 0}, {2})).item() == 0.0);
  CHECK(cross_entropy(z, f64({1, 1}, {2})).item() == doctest::Approx(1e4));
  // mean over N: (0 + 1e4) / 2, in float32 too
  CHECK(cross_entropy(z.to(DType::f32), f64({0, 1}, {2}).to(DType::f32)).item() == doctest::Approx(5e3));
  // Shifting every logit by 1e4 changes nothing (up to the rounding of z + 1e4).
  const Tensor small = f64({0.3, -1.2, 2.0, 0.7, 0.1, -0.4}, {2, 3});
  const Tensor labels = f64({2, 0}, {2});
  CHECK(cross_entropy(add_scalar(small, 1e4), labels).item() ==
        doctest::Approx(cross_entropy(small, labels).item()).epsilon(1e-10));
  // K = 1: the loss and its gradient are 0.
  Tensor one = f64({5.0, -3.0}, {2, 1});
  one.set_requires_grad(true);
  const Tensor l = cross_entropy(one, f64({0, 0}, {2}));
  CHECK(l.item() == 0.0);
  autograd::backward(l, Tensor::scalar(1.0, DType::f64));
  CHECK(one.grad().to_vector<double>() == std::vector<double>{0.0, 0.0});
}

TEST_CASE("forward: cross_entropy gradient is (softmax - onehot) / N, by hand") {
  // z = [0, 0] (softmax 1/2, 1/2), label 1, N = 1, g = 2: [1, -1].
  Tensor z = f64({0, 0}, {1, 2});
  z.set_requires_grad(true);
  autograd::backward(cross_entropy(z, f64({1}, {1})), Tensor::scalar(2.0, DType::f64));
  const std::vector<double> g = z.grad().to_vector<double>();
  CHECK(g[0] == doctest::Approx(1.0));
  CHECK(g[1] == doctest::Approx(-1.0));
}

TEST_CASE("forward: softmax rows sum to 1 and survive logits ~ 1e4") {
  const Tensor p = kernels::softmax_fwd(f64({1e4, 0, -1e4, 3, 3, 3}, {2, 3}));
  const std::vector<double> v = p.to_vector<double>();
  CHECK(v[0] == 1.0);
  CHECK(v[1] == 0.0);
  CHECK(v[3] == doctest::Approx(1.0 / 3));
  const std::vector<double> lg = kernels::softmax_fwd(f64({1e4, 0, -1e4}, {1, 3}), true).to_vector<double>();
  CHECK(lg[0] == 0.0);
  CHECK(lg[1] == doctest::Approx(-1e4));
  CHECK(lg[2] == doctest::Approx(-2e4));
}

TEST_CASE("forward: cross_entropy rejects bad labels and shapes, naming the op, the index and K") {
  const Tensor z = f64({0, 0, 0, 0, 0, 0}, {2, 3});
  auto message = [&](const Tensor& y) -> std::string {
    try {
      cross_entropy(z, y);
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
    return "no error";
  };
  const std::string out_of_range = message(f64({0, 3}, {2}));
  CHECK(out_of_range.find("cross_entropy") != std::string::npos);
  CHECK(out_of_range.find("index 1") != std::string::npos);
  CHECK(out_of_range.find("K = 3") != std::string::npos);
  CHECK(message(f64({-1, 0}, {2})).find("index 0") != std::string::npos);
  CHECK(message(f64({0, 1.5}, {2})).find("index 1") != std::string::npos);
  CHECK(message(f64({0, 1, 2}, {3})).find("cross_entropy") != std::string::npos);  // labels [3] for N = 2
  CHECK_THROWS_AS(cross_entropy(f64({0, 0, 0}, {3}), f64({0}, {1})), std::invalid_argument);  // logits 1-d
  CHECK_THROWS(cross_entropy(z, f64({0, 1}, {2}).to(DType::f32)));                            // dtypes differ
}

TEST_CASE("forward: global_avg_pool2d and softmax reject bad shapes") {
  CHECK_THROWS_AS(global_avg_pool2d(f64({1, 2, 3}, {1, 3})), std::invalid_argument);
  CHECK_THROWS_AS(kernels::softmax_fwd(f64({1, 2, 3}, {3})), std::invalid_argument);
  // global_avg_pool2d of a constant plane is the constant; gradient g / (H W).
  Tensor x = Tensor::full({1, 2, 3, 5}, 2.5, DType::f64);
  x.set_requires_grad(true);
  const Tensor y = global_avg_pool2d(x);
  CHECK(y.to_vector<double>() == std::vector<double>{2.5, 2.5});
  autograd::backward(y, f64({15, 30}, {1, 2}));
  const std::vector<double> g = x.grad().to_vector<double>();
  CHECK(g.front() == doctest::Approx(1.0));
  CHECK(g.back() == doctest::Approx(2.0));
}
