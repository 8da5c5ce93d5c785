// The fused attention op (kernels/attention.h) against the formula written
// out in double loops, a case worked by hand (one key: every query gets that
// key's value), scores far beyond exp's range, the same bits for any thread
// count, and the errors for bad shapes. Gradients: gradcheck: attention
// (tests/ops/attention.cpp).
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "autograd/functions.h"
#include "kernels/attention.h"
#include "tensor/rng.h"

using namespace ddpm;

namespace {

struct Spec {
  int64_t b, d, e, lq, lk;
  double scale, range;
};

// o and lse by the definition, in double: s_ij, its row maximum, the sum.
void naive(const std::vector<double>& q, const std::vector<double>& k, const std::vector<double>& v,
           const Spec& s, std::vector<double>& o, std::vector<double>& lse) {
  o.assign(static_cast<size_t>(s.b * s.e * s.lq), 0.0);
  lse.assign(static_cast<size_t>(s.b * s.lq), 0.0);
  std::vector<double> row(static_cast<size_t>(s.lk));
  for (int64_t b = 0; b < s.b; ++b)
    for (int64_t i = 0; i < s.lq; ++i) {
      double mx = -INFINITY;
      for (int64_t j = 0; j < s.lk; ++j) {
        double t = 0;
        for (int64_t c = 0; c < s.d; ++c) t += q[(b * s.d + c) * s.lq + i] * k[(b * s.d + c) * s.lk + j];
        row[j] = s.scale * t;
        mx = std::max(mx, row[j]);
      }
      double sum = 0;
      for (int64_t j = 0; j < s.lk; ++j) sum += std::exp(row[j] - mx);
      lse[b * s.lq + i] = mx + std::log(sum);
      for (int64_t e = 0; e < s.e; ++e) {
        double acc = 0;
        for (int64_t j = 0; j < s.lk; ++j) acc += std::exp(row[j] - mx) / sum * v[(b * s.e + e) * s.lk + j];
        o[(b * s.e + e) * s.lq + i] = acc;
      }
    }
}

double max_rel_error(const std::vector<double>& got, const std::vector<double>& want) {
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i)
    worst = std::max(worst, std::abs(got[i] - want[i]) / std::max(1.0, std::abs(want[i])));
  return worst;
}

}  // namespace

TEST_CASE("forward: attention matches the formula in float64 and float32 (one and many key blocks)") {
  // Lq past the CPU's 64-query block, Lk past its 128-key block (the online
  // softmax rescales), scores to ~ +-400 (range 6, D 12, scale 1).
  for (const Spec& s :
       {Spec{2, 3, 5, 7, 1, 0.6, 1}, Spec{1, 8, 4, 70, 130, 0.35, 1}, Spec{3, 5, 7, 129, 300, 1.0, 2},
        Spec{1, 12, 3, 65, 257, 1.0, 6}, Spec{2, 4, 4, 10, 20, -0.8, 1}}) {
    CAPTURE(s.lq);
    CAPTURE(s.lk);
    Tensor q = rand_uniform({s.b, s.d, s.lq}, -s.range, s.range, 5, 1, DType::f64);
    Tensor k = rand_uniform({s.b, s.d, s.lk}, -s.range, s.range, 5, 2, DType::f64);
    Tensor v = rand_uniform({s.b, s.e, s.lk}, -1, 1, 5, 3, DType::f64);
    std::vector<double> want_o, want_lse;
    naive(q.to_vector<double>(), k.to_vector<double>(), v.to_vector<double>(), s, want_o, want_lse);
    Tensor lse;
    Tensor o = kernels::attention_fwd(q, k, v, s.scale, &lse);
    CHECK(o.shape() == Shape{s.b, s.e, s.lq});
    CHECK(max_rel_error(o.to_vector<double>(), want_o) < 1e-12);
    CHECK(max_rel_error(lse.to_vector<double>(), want_lse) < 1e-12);
    // float32: inputs rounded to float, compared with the double result of
    // the same rounded inputs.
    Tensor q32 = rand_uniform({s.b, s.d, s.lq}, -s.range, s.range, 5, 1, DType::f32);
    Tensor k32 = rand_uniform({s.b, s.d, s.lk}, -s.range, s.range, 5, 2, DType::f32);
    Tensor v32 = rand_uniform({s.b, s.e, s.lk}, -1, 1, 5, 3, DType::f32);
    const auto widen = [](const Tensor& t) {
      const std::vector<float> f = t.to_vector<float>();
      return std::vector<double>(f.begin(), f.end());
    };
    naive(widen(q32), widen(k32), widen(v32), s, want_o, want_lse);
    Tensor lse32;
    Tensor o32 = kernels::attention_fwd(q32, k32, v32, s.scale, &lse32);
    CHECK(max_rel_error(widen(o32), want_o) < 2e-5);
    // lse grows with the scores; relative to its size it is ~1e-7.
    CHECK(max_rel_error(widen(lse32), want_lse) < 1e-4);
    for (double x : widen(o32)) REQUIRE(std::isfinite(x));
  }
}

TEST_CASE("forward: attention with one key gives every query that key's value (by hand)") {
  // softmax over one score is 1 whatever the score: o[:, i] = v[:, 0].
  Tensor q = rand_uniform({2, 3, 5}, -50, 50, 9, 1, DType::f64);
  Tensor k = rand_uniform({2, 3, 1}, -50, 50, 9, 2, DType::f64);
  Tensor v = Tensor::from_vector(std::vector<double>{1.5, -2, 0.25, 7}, {2, 2, 1});
  const std::vector<double> o = attention(q, k, v, 3.0).to_vector<double>();
  const double want[2][2] = {{1.5, -2}, {0.25, 7}};
  for (int b = 0; b < 2; ++b)
    for (int e = 0; e < 2; ++e)
      for (int i = 0; i < 5; ++i) CHECK(o[static_cast<size_t>((b * 2 + e) * 5 + i)] == want[b][e]);
}

TEST_CASE("forward: attention gives the same bits on one thread and on all (forward and backward)") {
#ifdef _OPENMP
  const int threads = omp_get_max_threads();
  auto run = [](int n) {
    omp_set_num_threads(n);
    Tensor q = rand_uniform({6, 8, 80}, -1, 1, 3, 1);
    Tensor k = rand_uniform({6, 8, 150}, -1, 1, 3, 2);
    Tensor v = rand_uniform({6, 5, 150}, -1, 1, 3, 3);
    q.set_requires_grad(true);
    k.set_requires_grad(true);
    v.set_requires_grad(true);
    Tensor o = attention(q, k, v, 0.4);
    autograd::backward(o, rand_uniform({6, 5, 80}, -1, 1, 3, 4));
    std::vector<float> all = o.detach().to_vector<float>();
    for (const Tensor* t : {&q, &k, &v}) {
      const std::vector<float> g = t->grad().to_vector<float>();
      all.insert(all.end(), g.begin(), g.end());
    }
    return all;
  };
  const std::vector<float> one = run(1), many = run(std::max(threads, 2));
  omp_set_num_threads(threads);
  CHECK(one == many);
#else
  MESSAGE("skipped: built without OpenMP");
#endif
}

TEST_CASE("forward: attention refuses mismatched shapes, naming the op and the shapes") {
  Tensor q = Tensor::zeros({2, 4, 5}), k = Tensor::zeros({2, 4, 6}), v = Tensor::zeros({2, 3, 6});
  CHECK_NOTHROW(attention(q, k, v, 0.5));
  const auto message = [](const Tensor& a, const Tensor& b, const Tensor& c) {
    try {
      attention(a, b, c, 1.0);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const std::string wrong_d = message(q, Tensor::zeros({2, 3, 6}), v);
  CHECK(wrong_d.find("attention") != std::string::npos);
  CHECK(wrong_d.find("[2, 3, 6]") != std::string::npos);
  CHECK(message(q, k, Tensor::zeros({2, 3, 7})).find("expected q [B, D, Lq]") != std::string::npos);
  CHECK(message(Tensor::zeros({2, 4}), k, v).find("expected q [B, D, Lq]") != std::string::npos);
  CHECK(message(q, k, Tensor::zeros({2, 3, 6}, DType::f64)).find("attention") != std::string::npos);
  CHECK_THROWS_AS(attention(q, k, v, INFINITY), std::invalid_argument);
}
