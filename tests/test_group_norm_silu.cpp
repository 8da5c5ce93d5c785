// The fused group_norm_silu against the pair it replaces, silu(group_norm(x)),
// on the CPU: values and every gradient at both precisions, independence
// from the thread count, the errors, and that the layers use it (a
// Sequential's GroupNorm + SiLU records one fused node). Its float64 gradient
// check and CUDA parity cases are in tests/ops/group_norm_silu.cpp.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "autograd/functions.h"
#include "autograd/node.h"
#include "nn/group_norm.h"
#include "nn/sequential.h"
#include "nn/silu.h"
#include "tensor/rng.h"

using namespace ddpm;

namespace {

struct Results {
  std::vector<double> y, gx, gw, gb;
};

std::vector<double> values(const Tensor& t) {
  if (!t.defined()) return {};
  return t.to(DType::f64).to_vector<double>();
}

// y, and the gradients for grad_out g, of the fused op or of the unfused pair.
Results run(bool fused, const Shape& s, int64_t groups, bool affine, DType dt, double mean_offset) {
  const int64_t c = s[1];
  Tensor x = add_scalar(randn(s, 31, 1, dt), mean_offset).set_requires_grad();
  Tensor w = affine ? add_scalar(randn({c}, 31, 2, dt), 1.0).set_requires_grad() : Tensor();
  Tensor b = affine ? randn({c}, 31, 3, dt).set_requires_grad() : Tensor();
  Tensor y = fused ? group_norm_silu(x, groups, w, b) : silu(group_norm(x, groups, w, b));
  autograd::backward(y, randn(s, 31, 4, dt));
  return {values(y), values(x.grad()), affine ? values(w.grad()) : std::vector<double>{},
          affine ? values(b.grad()) : std::vector<double>{}};
}

// max |a - b| / max(max |b|, tiny): the error relative to the tensor's scale.
double scaled_error(const std::vector<double>& a, const std::vector<double>& b) {
  REQUIRE(a.size() == b.size());
  double err = 0, scale = 1e-30;
  for (size_t i = 0; i < a.size(); ++i) {
    err = std::max(err, std::fabs(a[i] - b[i]));
    scale = std::max(scale, std::fabs(b[i]));
  }
  return err / scale;
}

}  // namespace

TEST_CASE("forward: group_norm_silu equals silu(group_norm(x)) with every gradient, float32 and float64") {
  struct Case {
    Shape s;
    int64_t groups;
    bool affine;
    double offset;
  };
  const Case cases[] = {{{2, 16, 8, 8}, 4, true, 0.0},  {{3, 6, 5, 7}, 3, true, 3.0},
                        {{2, 8, 4, 4}, 8, false, 0.0},  {{4, 12}, 2, true, 0.0},
                        {{1, 32, 3, 3}, 1, true, -2.0}, {{2, 64, 32, 32}, 8, true, 0.5}};
  for (DType dt : {DType::f32, DType::f64}) {
    // float: z and s(z) by the same float operations in both, the sums in
    // double; differences come only from how the compiler contracts
    // x*scale + shift (an FMA or not) in the two loops: a few ulps.
    const double tol = dt == DType::f32 ? 2e-6 : 1e-13;
    for (const Case& k : cases) {
      CAPTURE(shape_str(k.s));
      CAPTURE(k.groups);
      CAPTURE(dtype_name(dt));
      const Results f = run(true, k.s, k.groups, k.affine, dt, k.offset);
      const Results u = run(false, k.s, k.groups, k.affine, dt, k.offset);
      CHECK(scaled_error(f.y, u.y) <= tol);
      CHECK(scaled_error(f.gx, u.gx) <= tol);
      if (k.affine) {
        CHECK(scaled_error(f.gw, u.gw) <= tol);
        CHECK(scaled_error(f.gb, u.gb) <= tol);
      }
    }
  }
}

TEST_CASE(
    "forward: group_norm_silu only the gradients asked for; results do not depend on the thread count") {
  const Shape s{4, 32, 16, 16};
  // x without gradient: only the affine ones; gamma without: only gx.
  {
    Tensor x = randn(s, 5, 1);
    Tensor w = randn({32}, 5, 2).set_requires_grad();
    Tensor b = randn({32}, 5, 3).set_requires_grad();
    autograd::backward(group_norm_silu(x, 8, w, b), randn(s, 5, 4));
    CHECK_FALSE(x.grad().defined());
    CHECK(w.grad().defined());
    CHECK(b.grad().defined());
  }
#ifdef _OPENMP
  auto at = [&](int threads) {
    omp_set_num_threads(threads);
    Tensor x = randn(s, 7, 1).set_requires_grad();
    Tensor w = randn({32}, 7, 2).set_requires_grad();
    Tensor b = randn({32}, 7, 3).set_requires_grad();
    Tensor y = group_norm_silu(x, 8, w, b);
    autograd::backward(y, randn(s, 7, 4));
    return std::vector<std::vector<float>>{y.to_vector<float>(), x.grad().to_vector<float>(),
                                           w.grad().to_vector<float>(), b.grad().to_vector<float>()};
  };
  const int saved = omp_get_max_threads();
  const auto one = at(1), two = at(2);
  omp_set_num_threads(saved);
  for (size_t i = 0; i < one.size(); ++i) CHECK(one[i] == two[i]);
#endif
}

TEST_CASE("forward: group_norm_silu bad shapes are refused with the op and the shapes named") {
  using doctest::Contains;
  const Tensor x = Tensor::zeros({2, 6, 3, 3});
  CHECK_THROWS_WITH_AS(group_norm_silu(x, 4, Tensor(), Tensor()), Contains("group_norm_silu"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(group_norm_silu(x, 4, Tensor(), Tensor()), Contains("[2, 6, 3, 3]"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(group_norm_silu(x, 3, Tensor::ones({5}), Tensor::zeros({5})), Contains("gamma"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(group_norm_silu(x, 3, Tensor::ones({6}), Tensor()), Contains("both defined"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(group_norm_silu(Tensor::zeros({6}), 3, Tensor(), Tensor()), Contains("Tensor[6]"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(group_norm_silu(x, 3, Tensor::ones({6}, DType::f64), Tensor::zeros({6}, DType::f64)),
                       Contains("group_norm_silu"), std::invalid_argument);
}

TEST_CASE("forward: group_norm_silu a Sequential's GroupNorm followed by SiLU runs as the fused op") {
  auto seq = std::make_shared<nn::Sequential>();
  auto norm = seq->push_back(std::make_shared<nn::GroupNorm>(2, 4));
  seq->push_back(std::make_shared<nn::SiLU>());
  seq->push_back(std::make_shared<nn::SiLU>());  // a second SiLU stays separate
  Tensor x = randn({2, 4, 3, 3}, 9, 1).set_requires_grad();
  Tensor y = seq->forward(x);
  REQUIRE(y.impl()->grad_fn);
  CHECK(y.impl()->grad_fn->op == "silu");
  const Tensor inner = y.impl()->grad_fn->inputs.at(0);
  REQUIRE(inner.impl()->grad_fn);
  CHECK(inner.impl()->grad_fn->op == "group_norm_silu");
  // Same values as the layers one by one.
  const Tensor expect = silu(silu(norm->forward(x)));
  CHECK(scaled_error(values(y), values(expect)) <= 2e-6);
  // The parameter names are those of the unfused layers.
  CHECK(seq->parameter("0.weight").defined());
}
