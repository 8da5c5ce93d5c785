// Forward values of bmm, the masked/scaled softmax and dropout against direct
// computations (naive loops in double, the softmax formula, the Philox draw
// itself), dropout's statistics, and the errors for bad shapes and p.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "autograd/functions.h"
#include "kernels/bmm.h"
#include "kernels/dropout.h"
#include "kernels/softmax.h"
#include "tensor/philox.h"
#include "tensor/rng.h"
#include "tests/gradcheck.h"

using namespace ddpm;
using ddpm::test::normalised_error;

namespace {

// The exception's message, or "" when f does not throw std::invalid_argument.
template <class F>
std::string invalid_message(F&& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("forward: bmm against naive loops, every transpose combination") {
  const int64_t B = 3, M = 4, K = 5, N = 6;
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      CAPTURE(ta);
      CAPTURE(tb);
      const Tensor a = rand_uniform(ta ? Shape{B, K, M} : Shape{B, M, K}, -1, 1, 3, 1, DType::f64);
      const Tensor b = rand_uniform(tb ? Shape{B, N, K} : Shape{B, K, N}, -1, 1, 3, 2, DType::f64);
      const std::vector<double> va = a.to_vector<double>(), vb = b.to_vector<double>();
      std::vector<double> want(static_cast<size_t>(B * M * N));
      for (int64_t i = 0; i < B; ++i)
        for (int64_t m = 0; m < M; ++m)
          for (int64_t n = 0; n < N; ++n) {
            double s = 0;
            for (int64_t k = 0; k < K; ++k) {
              const double x = va[static_cast<size_t>(i * M * K + (ta ? k * M + m : m * K + k))];
              const double y = vb[static_cast<size_t>(i * K * N + (tb ? n * K + k : k * N + n))];
              s += x * y;
            }
            want[static_cast<size_t>((i * M + m) * N + n)] = s;
          }
      const Tensor c = bmm(a, b, ta, tb);
      CHECK(c.shape() == Shape{B, M, N});
      CHECK(normalised_error(c, Tensor::from_vector(want, {B, M, N})) < 1e-14);
      // float32 too (the same path as the CUDA parity runs on the CPU).
      const Tensor c32 = bmm(a.to(DType::f32), b.to(DType::f32), ta, tb);
      CHECK(normalised_error(c32, Tensor::from_vector(want, {B, M, N})) < 1e-6);
    }
}

TEST_CASE("forward: bmm of a large batch (split over threads) equals one product per matrix") {
  const int64_t B = 64, M = 9, K = 7, N = 5;
  const Tensor a = rand_uniform({B, M, K}, -1, 1, 4, 1, DType::f32);
  const Tensor b = rand_uniform({B, N, K}, -1, 1, 4, 2, DType::f32);
  const Tensor c = bmm(a, b, false, true);
  for (int64_t i : {int64_t{0}, int64_t{31}, B - 1}) {
    const Tensor one = bmm(a.rows(i, i + 1), b.rows(i, i + 1), false, true);
    CHECK(c.rows(i, i + 1).to_vector<float>() == one.to_vector<float>());
  }
}

TEST_CASE("forward: bmm with K = 0 gives zeros; bad shapes name the op and the shapes") {
  const Tensor z = bmm(Tensor::zeros({2, 3, 0}, DType::f64), Tensor::zeros({2, 0, 4}, DType::f64));
  CHECK(z.shape() == Shape{2, 3, 4});
  for (double v : z.to_vector<double>()) CHECK(v == 0);
  const Tensor a = Tensor::zeros({2, 3, 4}), b = Tensor::zeros({2, 5, 6});
  const std::string inner = invalid_message([&] { bmm(a, b); });
  CHECK(inner.find("bmm") != std::string::npos);
  CHECK(inner.find("[2, 3, 4]") != std::string::npos);
  CHECK(inner.find("[2, 5, 6]") != std::string::npos);
  CHECK(invalid_message([&] { bmm(a, Tensor::zeros({3, 4, 2})); }).find("batch") != std::string::npos);
  CHECK(invalid_message([&] { bmm(a, Tensor::zeros({4, 2})); }).find("3-d") != std::string::npos);
  CHECK(bmm(a, Tensor::zeros({2, 6, 4}), false, true).shape() == Shape{2, 3, 6});
  CHECK(bmm(a, Tensor::zeros({2, 3, 6}), true, false).shape() == Shape{2, 4, 6});
}

TEST_CASE("forward: softmax with scale and mask against the formula") {
  const int64_t R = 6, K = 7, Rm = 3;
  const Tensor x = rand_uniform({2, Rm, K}, -4, 4, 5, 1, DType::f64);
  std::vector<double> vm(static_cast<size_t>(Rm * K));
  for (int64_t r = 0; r < Rm; ++r)
    for (int64_t j = 0; j < K; ++j)
      vm[static_cast<size_t>(r * K + j)] = r == 2 ? 0.0 : ((r + j) % 3 ? 1.0 : 0.0);
  const Tensor mask = Tensor::from_vector(vm, {Rm, K});
  const double scale = 0.7;
  const std::vector<double> y = softmax(x, scale, mask).to_vector<double>(), vx = x.to_vector<double>();
  for (int64_t r = 0; r < R; ++r) {
    const double* mr = vm.data() + (r % Rm) * K;
    double den = 0;
    for (int64_t j = 0; j < K; ++j)
      if (mr[j] != 0) den += std::exp(scale * vx[static_cast<size_t>(r * K + j)]);
    double total = 0;
    for (int64_t j = 0; j < K; ++j) {
      const double got = y[static_cast<size_t>(r * K + j)];
      total += got;
      if (mr[j] == 0) {
        CHECK(got == 0.0);  // excluded: exactly 0
      } else {
        CHECK(got ==
              doctest::Approx(std::exp(scale * vx[static_cast<size_t>(r * K + j)]) / den).epsilon(1e-13));
      }
    }
    // Mask row 2 excludes everything: that row is all zeros, no NaN.
    CHECK(total == doctest::Approx(r % Rm == 2 ? 0.0 : 1.0).epsilon(1e-13));
  }
  // A mask [K] applies to every row; large scaled logits stay finite.
  const Tensor big = Tensor::from_vector(std::vector<double>{1e4, 0, -1e4, 2e4}, {1, 4});
  // (Built at run time: GCC 12.2's SLP vectoriser, targeting AVX-512,
  // compiles the literal std::vector<double>{1, 1, 1, 0} here into four 1.0s.)
  Tensor row = Tensor::ones({4}, DType::f64);
  row.data<double>()[3] = 0.0;
  const std::vector<double> p = softmax(big, 3.0, row).to_vector<double>();
  CHECK(p[0] == 1.0);
  CHECK(p[1] == 0.0);
  CHECK(p[3] == 0.0);
  // scale 1 without a mask equals the forward-only softmax of evaluation.
  const Tensor x2 = rand_uniform({5, 9}, -3, 3, 5, 2, DType::f32);
  CHECK(softmax(x2).to_vector<float>() == kernels::softmax_fwd(x2).to_vector<float>());
}

TEST_CASE("forward: softmax's unmasked vector path matches its masked scalar path; inf and NaN rows") {
  // An all-ones mask sends every row down the scalar path (two libm exps per
  // element); without a mask finite rows take the vector path (Eigen's
  // packet exp, one per element). Both compute in double and round once:
  // float probabilities at most 1 ulp apart (log-probabilities within an
  // ulp of max(1, |value|): near 0 a 1e-16 difference in the double lse
  // shows), double ones to ~1e-12 relative (the scalar path rounds z - lse before
  // its exp).
  for (const int64_t K : {1, 7, 64, 1000}) {
    CAPTURE(K);
    const Tensor x = rand_uniform({9, K}, -30, 30, 5, 3, DType::f32);
    const Tensor ones = Tensor::ones({K}, DType::f32);
    for (const bool log : {false, true}) {
      CAPTURE(log);
      kernels::SoftmaxDims dims;
      dims.n = 9;
      dims.k = K;
      dims.log = log;
      dims.scale = 0.37;
      std::vector<float> vec(static_cast<size_t>(9 * K)), sca(vec.size());
      const std::vector<float> vx = x.to_vector<float>(), vm = ones.to_vector<float>();
      dims.mask_rows = 0;
      kernels::cpu::softmax_fwd(vx.data(), static_cast<const float*>(nullptr), vec.data(), dims);
      dims.mask_rows = 1;
      kernels::cpu::softmax_fwd(vx.data(), vm.data(), sca.data(), dims);
      int64_t far = 0;
      for (size_t i = 0; i < vec.size(); ++i)
        if (log ? std::fabs(vec[i] - sca[i]) > 2.5e-7 * std::max(1.0f, std::fabs(sca[i]))
                : vec[i] != sca[i] && std::nextafter(vec[i], sca[i]) != sca[i])
          ++far;
      CHECK(far == 0);
      const Tensor xd = x.to(DType::f64);
      const std::vector<double> vxd = xd.to_vector<double>(), vmd(static_cast<size_t>(K), 1.0);
      std::vector<double> vecd(vec.size()), scad(vec.size());
      dims.mask_rows = 0;
      kernels::cpu::softmax_fwd(vxd.data(), static_cast<const double*>(nullptr), vecd.data(), dims);
      dims.mask_rows = 1;
      kernels::cpu::softmax_fwd(vxd.data(), vmd.data(), scad.data(), dims);
      for (size_t i = 0; i < vecd.size(); ++i)
        CHECK(vecd[i] == doctest::Approx(scad[i]).epsilon(1e-12).scale(log ? 1.0 : 1e-300));
    }
  }
  // Rows the vector path leaves to the scalar one: -inf entries get exactly
  // 0 and the rest sum to 1; a NaN poisons its row; +inf gives NaN.
  constexpr float kInf = std::numeric_limits<float>::infinity();
  const Tensor x =
      Tensor::from_vector(std::vector<float>{1, -kInf, 2, 0, std::nanf(""), 3, kInf, 0, 1}, {3, 3});
  const std::vector<float> y = kernels::softmax_fwd(x).to_vector<float>();
  CHECK(y[1] == 0.0f);
  CHECK(y[0] + y[2] == doctest::Approx(1.0).epsilon(1e-6));
  CHECK(y[2] == doctest::Approx(std::exp(1.0) / (1.0 + std::exp(1.0))).epsilon(1e-6));
  for (int j = 3; j < 6; ++j) CHECK(std::isnan(y[static_cast<size_t>(j)]));
  CHECK(std::isnan(y[6]));
}

TEST_CASE("forward: softmax of a fully masked row has a zero gradient; bad masks name the shapes") {
  Tensor x = rand_uniform({2, 3}, -1, 1, 6, 1, DType::f64);
  x.set_requires_grad(true);
  const Tensor mask = Tensor::from_vector(std::vector<double>{1, 0, 1, 0, 0, 0}, {2, 3});
  autograd::backward(
      sum(softmax(x, 2.0, mask) * Tensor::from_vector(std::vector<double>{1, 2, 3, 4, 5, 6}, {2, 3})));
  const std::vector<double> g = x.grad().to_vector<double>();
  CHECK(g[1] == 0.0);
  for (int j = 3; j < 6; ++j) CHECK(g[static_cast<size_t>(j)] == 0.0);
  const std::string bad = invalid_message([&] { softmax(x, 1.0, Tensor::zeros({4, 3}, DType::f64)); });
  CHECK(bad.find("softmax") != std::string::npos);
  CHECK(bad.find("[4, 3]") != std::string::npos);
  CHECK(bad.find("[2, 3]") != std::string::npos);
  CHECK_THROWS_AS(softmax(x, 1.0, Tensor::zeros({2}, DType::f64)), std::invalid_argument);
  CHECK_THROWS_AS(softmax(x, std::numeric_limits<double>::infinity()), std::invalid_argument);
}

TEST_CASE("forward: dropout keeps a fraction 1 - p, scales kept values by 1 / (1 - p)") {
  const int64_t n = int64_t{1} << 20;
  const Tensor x = rand_uniform({n}, 0.5, 2, 7, 1, DType::f32);
  for (double p : {0.1, 0.5, 0.8}) {
    CAPTURE(p);
    const uint64_t seed = 9, stream = 8, offset = (uint64_t{1} << 32) - 100;  // crosses the high word
    const std::vector<float> vx = x.to_vector<float>(),
                             vy = dropout(x, p, seed, stream, offset).to_vector<float>();
    const float s = static_cast<float>(1.0 / (1.0 - p));
    int64_t kept = 0, wrong = 0;
    for (int64_t i = 0; i < n; ++i) {
      const size_t k = static_cast<size_t>(i);
      const bool keep = philox::uniform(seed, stream, offset + static_cast<uint64_t>(i)) >= p;
      kept += keep;
      if (keep ? (vy[k] != vx[k] * s || std::abs(vy[k] / vx[k] - 1 / (1 - p)) > 1e-6 * (1 / (1 - p)))
               : vy[k] != 0.0f)
        ++wrong;
    }
    CHECK(wrong == 0);
    // Binomial(n, 1 - p): within 6 standard deviations.
    const double mean = static_cast<double>(n) * (1 - p),
                 sd = std::sqrt(static_cast<double>(n) * p * (1 - p));
    CHECK(std::abs(static_cast<double>(kept) - mean) < 6 * sd);
  }
}

TEST_CASE("forward: dropout's mask is a function of (seed, stream, offset + i)") {
  const Tensor x = Tensor::ones({1000}, DType::f64);
  const std::vector<double> a = dropout(x, 0.5, 1, 8, 10).to_vector<double>();
  CHECK(dropout(x, 0.5, 1, 8, 10).to_vector<double>() == a);  // the same counters, the same mask
  const std::vector<double> shifted = dropout(x, 0.5, 1, 8, 15).to_vector<double>();
  bool same = true;
  for (size_t i = 0; i + 5 < a.size(); ++i) same = same && shifted[i] == a[i + 5];
  CHECK(same);                                                // offset + i: a shifted offset shifts the mask
  CHECK(dropout(x, 0.5, 1, 9, 10).to_vector<double>() != a);  // another stream
  CHECK(dropout(x, 0.5, 2, 8, 10).to_vector<double>() != a);  // another seed
  // The backward draws the same mask: d sum(dropout(x)) / dx = dropout(1).
  Tensor xg = rand_uniform({1000}, -1, 1, 3, 3, DType::f64);
  xg.set_requires_grad(true);
  autograd::backward(sum(dropout(xg, 0.5, 1, 8, 10)));
  CHECK(xg.grad().to_vector<double>() == a);
  // p == 0 returns x's values.
  CHECK(dropout(xg, 0.0, 1, 8, 10).to_vector<double>() == xg.to_vector<double>());
}

TEST_CASE("forward: dropout rejects p outside [0, 1), naming the op and p") {
  const Tensor x = Tensor::ones({2, 3});
  for (double p : {1.0, -0.1, 1.5, std::numeric_limits<double>::quiet_NaN()}) {
    CAPTURE(p);
    const std::string msg = invalid_message([&] { dropout(x, p, 1, 8, 0); });
    CHECK(msg.find("dropout") != std::string::npos);
    CHECK(msg.find("[0, 1)") != std::string::npos);
    CHECK(msg.find("[2, 3]") != std::string::npos);
  }
}
