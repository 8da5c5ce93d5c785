// The autograd engine: accumulation, topological order, freed graphs, errors.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "autograd/functions.h"
#include "autograd/node.h"
#include "kernels/binary.h"
#include "tensor/rng.h"

using namespace ddpm;

namespace {
Tensor vec(std::vector<double> v) { return Tensor::from_vector(v, {static_cast<int64_t>(v.size())}); }
}  // namespace

TEST_CASE("autograd: gradients of a small expression are exact") {
  // f = sum(x*y + x) ; df/dx = y + 1 ; df/dy = x
  Tensor x = vec({1, 2, 3}).set_requires_grad();
  Tensor y = vec({4, 5, 6}).set_requires_grad();
  Tensor f = sum(x * y + x);
  CHECK(f.item() == 1 * 4 + 2 * 5 + 3 * 6 + 6);
  autograd::backward(f);
  CHECK(x.grad().to_vector<double>() == std::vector<double>{5, 6, 7});
  CHECK(y.grad().to_vector<double>() == std::vector<double>{1, 2, 3});
}

TEST_CASE("autograd: a tensor used twice gets both contributions (diamond)") {
  Tensor x = vec({2}).set_requires_grad();
  Tensor a = x * x;       // 2x
  Tensor b = a * x;       // x^3 -> 3x^2 overall with a
  Tensor f = sum(a + b);  // x^2 + x^3 -> 2x + 3x^2 = 4 + 12
  autograd::backward(f);
  CHECK(x.grad().item() == 16.0);
}

TEST_CASE("autograd: accumulating a shared gradient leaves its other holders unchanged") {
  // add's backward hands the same gradient tensor to both inputs, and the
  // caller's seed is the root's gradient: the engine adds in place only into
  // a running sum nothing else holds.
  Tensor x = vec({1, 2, 3}).set_requires_grad();
  Tensor h = mul_scalar(x, 3);  // a non-leaf that three gradients reach
  Tensor t = h + h;
  Tensor y = t + h;  // 3h = 9x
  const Tensor seed = vec({1, 10, 100});
  autograd::backward(y, seed);
  CHECK(x.grad().to_vector<double>() == std::vector<double>{9, 90, 900});
  CHECK(seed.to_vector<double>() == std::vector<double>{1, 10, 100});
  // A longer chain of sums into one node (the running sum is then owned by
  // the engine alone and grows in place).
  Tensor z = vec({0.5, -1}).set_requires_grad();
  Tensor u = mul_scalar(z, 2);
  Tensor acc = u;
  for (int i = 0; i < 5; ++i) acc = acc + mul_scalar(u, static_cast<double>(i));
  autograd::backward(sum(acc));  // u (1 + 0 + 1 + 2 + 3 + 4) = 11 u = 22 z
  CHECK(z.grad().to_vector<double>() == std::vector<double>{22, 22});
}

TEST_CASE("autograd: leaf gradients accumulate across backward calls") {
  Tensor x = vec({1, 1}).set_requires_grad();
  autograd::backward(sum(mul_scalar(x, 3)));
  autograd::backward(sum(mul_scalar(x, 4)));
  CHECK(x.grad().to_vector<double>() == std::vector<double>{7, 7});
  x.zero_grad();
  CHECK_FALSE(x.grad().defined());
}

TEST_CASE("autograd: backward twice through a freed graph is an error") {
  Tensor x = vec({1, 2}).set_requires_grad();
  Tensor f = sum(x * x);
  autograd::backward(f);
  CHECK_THROWS_WITH_AS(autograd::backward(f), doctest::Contains("already freed"), std::logic_error);
}

TEST_CASE("autograd: non-scalar backward needs an explicit gradient of the right shape") {
  Tensor x = vec({1, 2}).set_requires_grad();
  Tensor y = x * x;
  CHECK_THROWS_WITH_AS(autograd::backward(y), doctest::Contains("not a scalar"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(autograd::backward(y, vec({1, 2, 3})), doctest::Contains("does not match"),
                       std::invalid_argument);
  autograd::backward(y, vec({1, 10}));
  CHECK(x.grad().to_vector<double>() == std::vector<double>{2, 40});
}

TEST_CASE("autograd: no-grad scope records nothing") {
  Tensor x = vec({1}).set_requires_grad();
  Tensor y;
  {
    autograd::NoGradGuard guard;
    y = x * x;
  }
  CHECK_FALSE(y.requires_grad());
  CHECK(y.is_leaf());
  CHECK_THROWS_AS(autograd::backward(y), std::logic_error);
  CHECK(autograd::grad_enabled());
}

TEST_CASE("autograd: gradients flow only to inputs that require them") {
  Tensor x = vec({3}).set_requires_grad();
  Tensor c = vec({5});
  autograd::backward(sum(x * c));
  CHECK(x.grad().item() == 5);
  CHECK_FALSE(c.grad().defined());
}

TEST_CASE("autograd: a deep chain runs without recursion limits") {
  Tensor x = vec({1}).set_requires_grad();
  Tensor y = x;
  for (int i = 0; i < 20000; ++i) y = add_scalar(y, 0.0);
  autograd::backward(sum(y));
  CHECK(x.grad().item() == 1.0);
}

TEST_CASE("autograd: broadcast gradients (sum_to) are exact sums rounded once to float") {
  // A float accumulator over thousands of random-sign terms drifts by many
  // ulps of the (cancelling) total; the CPU and CUDA kernels both sum in
  // double and round once, so each result is within an ulp of the exact sum.
  struct Case {
    Shape big, small;
  };
  for (const Case& c : {Case{{3, 41, 53}, {}}, Case{{2, 3, 20, 20}, {2, 3, 1, 1}}, Case{{64, 33}, {33}},
                        Case{{4, 1, 6}, {1, 1, 6}}}) {
    const Tensor x = rand_uniform(c.big, -1.0, 1.0, 7, 3, DType::f32);
    const Tensor s = kernels::sum_to(x, c.small);
    REQUIRE(s.shape() == c.small);
    const std::vector<float> xv = x.to_vector<float>();
    const std::vector<float> sv = s.to_vector<float>();
    // The exact sums in double, by explicit index arithmetic over the shapes.
    const int64_t n = x.numel();
    std::vector<double> ref(sv.size(), 0.0);
    const Shape& b = c.big;
    Shape sm(b.size(), 1);  // the small shape right-aligned to the big one
    for (size_t i = 0; i < c.small.size(); ++i) sm[b.size() - c.small.size() + i] = c.small[i];
    for (int64_t i = 0; i < n; ++i) {
      int64_t rem = i, out = 0, stride = 1;
      std::vector<int64_t> idx(b.size());
      for (size_t d = b.size(); d-- > 0;) {
        idx[d] = rem % b[d];
        rem /= b[d];
      }
      for (size_t d = b.size(); d-- > 0;) {
        if (sm[d] != 1) out += idx[d] * stride;
        stride *= sm[d];
      }
      ref[static_cast<size_t>(out)] += static_cast<double>(xv[static_cast<size_t>(i)]);
    }
    for (size_t i = 0; i < sv.size(); ++i) {
      INFO("sum_to " << shape_str(c.big) << " -> " << shape_str(c.small) << " element " << i << ": " << sv[i]
                     << " vs exact " << ref[i]);
      CHECK(std::abs(static_cast<double>(sv[i]) - ref[i]) <= std::ldexp(std::abs(ref[i]), -23));
    }
  }
}
