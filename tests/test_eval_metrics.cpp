// Evaluation metrics on feature matrices (eval/): Fréchet distance and the
// cached statistics file, Inception score, improved precision and recall.
// Closed forms and hand-made cases, plus tests/data/eval_reference.json made
// by tests/reference/make_eval_reference.py (PyTorch/numpy, float64, by
// routes independent of eval/: eigvals of the non-symmetric S_a S_b, brute
// force distance matrices).
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numbers>
#include <random>
#include <string>
#include <vector>

#include "eval/frechet.h"
#include "eval/inception_score.h"
#include "eval/precision_recall.h"
#include "io/safetensors.h"
#include "tests/io_util.h"

using namespace ddpm;
using namespace ddpm::eval;
using ddpm::test::check_contains;
using ddpm::test::error_message;
using ddpm::test::TempDir;

namespace {

const nlohmann::json& reference() {
  static const nlohmann::json data = [] {
    const std::string path = std::string(DDPM_TEST_DATA_DIR) + "/eval_reference.json";
    std::ifstream in(path);
    REQUIRE_MESSAGE(in.good(), "cannot open " << path);
    return nlohmann::json::parse(in);
  }();
  return data;
}

Tensor from_json(const nlohmann::json& j, DType dtype = DType::f64) {
  const Shape shape = j.at("shape").get<Shape>();
  return Tensor::from_vector(j.at("data").get<std::vector<double>>(), shape).to(dtype);
}

// [n, d] standard normals times `scale` plus `shift`, from a fixed seed.
std::vector<double> normals(int64_t n, int64_t d, uint64_t seed, double scale = 1.0, double shift = 0.0) {
  std::mt19937_64 rng(seed);
  std::vector<double> v(static_cast<size_t>(n * d));
  for (size_t i = 0; i < v.size(); i += 2) {  // Box-Muller: portable, unlike std::normal_distribution
    const double u1 = (static_cast<double>(rng() >> 11) + 0.5) * 0x1p-53;
    const double u2 = static_cast<double>(rng() >> 11) * 0x1p-53;
    const double r = std::sqrt(-2.0 * std::log(u1));
    v[i] = scale * r * std::cos(2 * std::numbers::pi * u2) + shift;
    if (i + 1 < v.size()) v[i + 1] = scale * r * std::sin(2 * std::numbers::pi * u2) + shift;
  }
  return v;
}

Tensor matrix(const std::vector<double>& v, int64_t n, int64_t d) { return Tensor::from_vector(v, {n, d}); }

FeatureStats diagonal_stats(const std::vector<double>& mean, const std::vector<double>& var) {
  FeatureStats s;
  s.n = 100;
  s.dim = static_cast<int64_t>(mean.size());
  s.mean = mean;
  s.cov.assign(mean.size() * mean.size(), 0.0);
  for (size_t i = 0; i < mean.size(); ++i) s.cov[i * mean.size() + i] = var[i];
  return s;
}

// R S R^T for the rotation R that turns each pair of coordinates (0,1), (2,3),
// ... by `angle`: S stays a covariance, the FD between two stats rotated alike
// does not change.
FeatureStats rotated(FeatureStats s, double angle) {
  const size_t d = static_cast<size_t>(s.dim);
  std::vector<double> r(d * d, 0.0);
  for (size_t i = 0; i + 1 < d; i += 2) {
    r[i * d + i] = std::cos(angle);
    r[i * d + i + 1] = -std::sin(angle);
    r[(i + 1) * d + i] = std::sin(angle);
    r[(i + 1) * d + i + 1] = std::cos(angle);
  }
  if (d % 2) r[d * d - 1] = 1.0;
  std::vector<double> rs(d * d, 0.0), out(d * d, 0.0), mean(d, 0.0);
  for (size_t i = 0; i < d; ++i)
    for (size_t j = 0; j < d; ++j) {
      mean[i] += r[i * d + j] * s.mean[j];
      for (size_t k = 0; k < d; ++k) rs[i * d + j] += r[i * d + k] * s.cov[k * d + j];
    }
  for (size_t i = 0; i < d; ++i)
    for (size_t j = 0; j < d; ++j)
      for (size_t k = 0; k < d; ++k) out[i * d + j] += rs[i * d + k] * r[j * d + k];
  s.mean = mean;
  s.cov = out;
  return s;
}

// Naive k-NN radius and coverage, straight from the definitions.
double naive_coverage(const std::vector<double>& q, const std::vector<double>& ref, int64_t d, int64_t k) {
  const int64_t nq = static_cast<int64_t>(q.size()) / d, nr = static_cast<int64_t>(ref.size()) / d;
  auto dist = [d](const double* a, const double* b) {
    double s = 0;
    for (int64_t t = 0; t < d; ++t) s += (a[t] - b[t]) * (a[t] - b[t]);
    return std::sqrt(s);
  };
  std::vector<double> radius(static_cast<size_t>(nr));
  for (int64_t j = 0; j < nr; ++j) {
    std::vector<double> all;
    for (int64_t i = 0; i < nr; ++i)
      if (i != j) all.push_back(dist(ref.data() + j * d, ref.data() + i * d));
    std::nth_element(all.begin(), all.begin() + (k - 1), all.end());
    radius[static_cast<size_t>(j)] = all[static_cast<size_t>(k - 1)];
  }
  int64_t inside = 0;
  for (int64_t i = 0; i < nq; ++i)
    for (int64_t j = 0; j < nr; ++j)
      if (dist(q.data() + i * d, ref.data() + j * d) <= radius[static_cast<size_t>(j)]) {
        ++inside;
        break;
      }
  return static_cast<double>(inside) / static_cast<double>(nq);
}

}  // namespace

// ---- Fréchet distance ----

TEST_CASE("eval: Fréchet distance of identical statistics is 0, and statistics follow numpy.cov") {
  const std::vector<double> x = {1, 2, 3, 2, 5, 1};  // 3 samples of width 2: (1, 2), (3, 2), (5, 1)
  const FeatureStats s = feature_stats(matrix(x, 3, 2));
  CHECK(s.n == 3);
  CHECK(s.dim == 2);
  CHECK(s.mean[0] == doctest::Approx(3.0));
  CHECK(s.mean[1] == doctest::Approx(5.0 / 3));
  // numpy.cov([[1, 3, 5], [2, 2, 1]]) = [[4, -1], [-1, 1/3]] (N - 1 = 2)
  CHECK(s.cov[0] == doctest::Approx(4.0));
  CHECK(s.cov[1] == doctest::Approx(-1.0));
  CHECK(s.cov[2] == doctest::Approx(-1.0));
  CHECK(s.cov[3] == doctest::Approx(1.0 / 3));

  const std::vector<double> f = normals(500, 24, 1, 2.0, 0.5);
  const FeatureStats a = feature_stats(f.data(), 500, 24);
  CHECK(std::abs(frechet_distance(a, a)) < 1e-9);
  // f32 input: the statistics are still accumulated in double.
  const std::vector<float> ff(f.begin(), f.end());
  const FeatureStats af = feature_stats(ff.data(), 500, 24);
  CHECK(std::abs(frechet_distance(a, af)) < 1e-9);
  CHECK(frechet_distance(matrix(f, 500, 24), matrix(f, 500, 24).to(DType::f32)) < 1e-9);
}

TEST_CASE("eval: Fréchet distance of Gaussians with diagonal covariances has the closed form") {
  // FD = sum (mu_a - mu_b)^2 + sum (sqrt(var_a) - sqrt(var_b))^2
  const std::vector<double> ma = {0.0, 1.0, -2.0, 0.5, 3.0}, mb = {1.0, 1.0, 0.0, 0.0, -1.0};
  const std::vector<double> va = {1.0, 4.0, 0.25, 9.0, 2.0}, vb = {4.0, 1.0, 0.25, 0.0, 8.0};
  double expected = 0;
  for (size_t i = 0; i < ma.size(); ++i)
    expected += (ma[i] - mb[i]) * (ma[i] - mb[i]) +
                (std::sqrt(va[i]) - std::sqrt(vb[i])) * (std::sqrt(va[i]) - std::sqrt(vb[i]));
  const FeatureStats a = diagonal_stats(ma, va), b = diagonal_stats(mb, vb);
  CHECK(frechet_distance(a, b) == doctest::Approx(expected).epsilon(1e-12));
  CHECK(frechet_distance(b, a) == doctest::Approx(expected).epsilon(1e-12));
  // The same pair rotated alike: non-diagonal covariances, the same distance.
  CHECK(frechet_distance(rotated(a, 0.7), rotated(b, 0.7)) == doctest::Approx(expected).epsilon(1e-10));
  // Equal covariances: only the means count.
  CHECK(frechet_distance(a, diagonal_stats(mb, va)) == doctest::Approx(1.0 + 0.0 + 4.0 + 0.25 + 16.0));
}

TEST_CASE("eval: Fréchet distance matches the PyTorch reference and is symmetric") {
  const nlohmann::json& c = reference().at("frechet");
  const Tensor a = from_json(c.at("a")), b = from_json(c.at("b"));
  const double expected = c.at("fd").get<double>();
  const FeatureStats sa = feature_stats(a), sb = feature_stats(b);
  const double ab = frechet_distance(sa, sb), ba = frechet_distance(sb, sa);
  INFO("fd(a, b) = " << ab << ", torch " << expected);
  CHECK(ab == doctest::Approx(expected).epsilon(1e-9));
  CHECK(ba == doctest::Approx(ab).epsilon(1e-12));
  CHECK(std::abs(c.at("fd_aa").get<double>()) < 1e-9);
  CHECK(frechet_distance(sa, sa) < 1e-9);
  // From f32 features: the rounding of the inputs only.
  CHECK(frechet_distance(a.to(DType::f32), b.to(DType::f32)) == doctest::Approx(expected).epsilon(1e-5));
}

TEST_CASE("eval: Fréchet distance and feature statistics reject bad input") {
  const std::vector<double> x = normals(10, 3, 2);
  check_contains(error_message<std::invalid_argument>([&] { feature_stats(x.data(), 1, 3); }),
                 {"N >= 2", "N = 1"});
  check_contains(error_message<std::invalid_argument>([&] {
                   feature_stats(Tensor::zeros({2, 3, 4}));
                 }),
                 {"[N, D]", "[2, 3, 4]"});
  std::vector<double> bad = x;
  bad[7] = std::nan("");
  check_contains(error_message<std::invalid_argument>([&] { feature_stats(bad.data(), 10, 3); }),
                 {"features[2, 1]", "not finite"});
  const FeatureStats s3 = feature_stats(x.data(), 10, 3), s2 = feature_stats(x.data(), 15, 2);
  check_contains(error_message<std::invalid_argument>([&] { frechet_distance(s3, s2); }),
                 {"widths differ", "3", "2"});
  FeatureStats broken = s3;
  broken.cov.pop_back();
  check_contains(error_message<std::invalid_argument>([&] { frechet_distance(s3, broken); }), {"malformed"});
}

TEST_CASE("eval: feature statistics save/load round trip, wrong tag and width errors") {
  TempDir dir;
  const std::vector<double> x = normals(40, 6, 3, 1.5, -0.25);
  const FeatureStats s = feature_stats(x.data(), 40, 6);
  const std::string path = dir.file("test_stats.safetensors");
  save_feature_stats(path, s, "fashion-mnist/test classifier-v1");
  CHECK(feature_stats_tag(path) == "fashion-mnist/test classifier-v1");

  const FeatureStats back = load_feature_stats(path, "fashion-mnist/test classifier-v1", 6);
  CHECK(back.n == 40);
  CHECK(back.dim == 6);
  CHECK(back.mean == s.mean);  // bit-exact: F64 on disk
  CHECK(back.cov == s.cov);
  CHECK(frechet_distance(back, s) < 1e-12);
  const SafetensorsFile f = load_safetensors(path);
  CHECK(f.metadata().at("feature_width") == "6");
  CHECK(f.metadata().at("n") == "40");
  CHECK(f.entry("mu").dtype == "F64");
  CHECK(f.entry("sigma").shape == Shape{6, 6});

  check_contains(
      error_message<std::runtime_error>([&] { load_feature_stats(path, "cifar10/train classifier-v1"); }),
      {"'" + path + "'", "tag 'fashion-mnist/test classifier-v1'", "expected 'cifar10/train classifier-v1'"});
  check_contains(error_message<std::runtime_error>(
                     [&] { load_feature_stats(path, "fashion-mnist/test classifier-v1", 2048); }),
                 {"'" + path + "'", "feature width 6", "expected 2048"});

  // A safetensors file that is not feature statistics.
  const std::string other = dir.file("weights.safetensors");
  save_safetensors(other, {{"mu", Tensor::zeros({6}, DType::f64)}});
  check_contains(error_message<std::runtime_error>([&] { load_feature_stats(other, "x"); }),
                 {"'" + other + "'", "'ddpm_eval' is missing", "expected 'feature_stats'"});
  // Metadata that disagrees with the tensors.
  const std::string lying = dir.file("lying.safetensors");
  save_safetensors(lying,
                   {{"mu", Tensor::zeros({5}, DType::f64)}, {"sigma", Tensor::zeros({5, 5}, DType::f64)}},
                   {{"ddpm_eval", "feature_stats"}, {"feature_width", "6"}, {"n", "10"}, {"tag", "t"}});
  check_contains(error_message<std::runtime_error>([&] { load_feature_stats(lying, "t"); }),
                 {"'" + lying + "'", "mu", "[5]", "[6]"});
  save_safetensors(lying,
                   {{"mu", Tensor::zeros({6}, DType::f64)}, {"sigma", Tensor::zeros({6, 6}, DType::f64)}},
                   {{"ddpm_eval", "feature_stats"}, {"feature_width", "six"}, {"n", "10"}, {"tag", "t"}});
  check_contains(error_message<std::runtime_error>([&] { load_feature_stats(lying, "t"); }),
                 {"'" + lying + "'", "'feature_width' is 'six'", "non-negative integer"});
}

// ---- Inception score ----

TEST_CASE("eval: Inception score is 1 for identical rows and K for one-hot rows spread over K classes") {
  const int64_t n = 60, k = 6;
  std::vector<double> same(static_cast<size_t>(n * k)), onehot(static_cast<size_t>(n * k), 0.0);
  const std::vector<double> row = {0.5, 0.2, 0.1, 0.1, 0.05, 0.05};
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < k; ++j) same[static_cast<size_t>(i * k + j)] = row[static_cast<size_t>(j)];
    onehot[static_cast<size_t>(i * k + i % k)] = 1.0;
  }
  const InceptionScore one = inception_score(matrix(same, n, k));
  CHECK(one.mean == doctest::Approx(1.0).epsilon(1e-12));
  CHECK(one.std == 0.0);
  const InceptionScore full = inception_score(matrix(onehot, n, k));
  CHECK(full.mean == doctest::Approx(double(k)).epsilon(1e-12));
  // 10 splits of 6 rows: each split holds every class once.
  const InceptionScore split = inception_score(matrix(onehot, n, k), 10);
  CHECK(split.mean == doctest::Approx(double(k)).epsilon(1e-12));
  CHECK(split.std == doctest::Approx(0.0).epsilon(1e-12));
  // All rows one-hot on the same class: 1 (p(y|x) = p(y)).
  std::vector<double> one_class(static_cast<size_t>(n * k), 0.0);
  for (int64_t i = 0; i < n; ++i) one_class[static_cast<size_t>(i * k + 2)] = 1.0;
  CHECK(inception_score(matrix(one_class, n, k)).mean == doctest::Approx(1.0));
  // f32 input.
  CHECK(inception_score(matrix(onehot, n, k).to(DType::f32)).mean ==
        doctest::Approx(double(k)).epsilon(1e-6));
}

TEST_CASE("eval: Inception score matches the numpy reference with 1 and 5 splits") {
  const nlohmann::json& c = reference().at("inception");
  const Tensor p = from_json(c.at("probs"));
  const InceptionScore s1 = inception_score(p), s5 = inception_score(p, 5);
  CHECK(s1.mean == doctest::Approx(c.at("splits1")[0].get<double>()).epsilon(1e-10));
  CHECK(s1.std == 0.0);
  CHECK(s5.mean == doctest::Approx(c.at("splits5")[0].get<double>()).epsilon(1e-10));
  CHECK(s5.std == doctest::Approx(c.at("splits5")[1].get<double>()).epsilon(1e-9));
  CHECK(s5.std > 0.0);
}

TEST_CASE("eval: Inception score rejects logits, negative or unnormalised rows and bad splits") {
  std::vector<double> p = {0.5, 0.5, 0.25, 0.75, 1.0, 0.0};
  CHECK(inception_score(p.data(), 3, 2).mean >= 1.0);
  std::vector<double> bad = p;
  bad[3] = 0.7;
  check_contains(error_message<std::invalid_argument>([&] { inception_score(bad.data(), 3, 2); }),
                 {"row 1 sums to 0.95", "expected 1", "not logits"});
  bad = p;
  bad[4] = -1.0;
  bad[5] = 2.0;
  check_contains(error_message<std::invalid_argument>([&] { inception_score(bad.data(), 3, 2); }),
                 {"probs[2, 0] = -1", ">= 0"});
  check_contains(error_message<std::invalid_argument>([&] { inception_score(p.data(), 3, 2, 4); }),
                 {"splits = 4", "N = 3"});
  check_contains(error_message<std::invalid_argument>([&] { inception_score(Tensor::zeros({6})); }),
                 {"[N, K]", "[6]"});
}

// ---- precision and recall ----

TEST_CASE("eval: precision and recall are 1 for identical sets and 0 for far-apart sets") {
  const std::vector<double> x = normals(300, 10, 4);
  const PrecisionRecall same = precision_recall(matrix(x, 300, 10), matrix(x, 300, 10));
  CHECK(same.precision == 1.0);
  CHECK(same.recall == 1.0);
  const std::vector<double> far = normals(200, 10, 5, 1.0, 100.0);
  const PrecisionRecall apart = precision_recall(matrix(x, 300, 10), matrix(far, 200, 10));
  CHECK(apart.precision == 0.0);
  CHECK(apart.recall == 0.0);
}

TEST_CASE("eval: precision and recall of a hand-made 2-D case") {
  // Real: the corners of the unit square. Their 3rd nearest neighbour is the
  // opposite corner (radius sqrt 2); their 1st an adjacent one (radius 1).
  const std::vector<double> real = {0, 0, 1, 0, 0, 1, 1, 1};
  // Generated: the centre (0.707 from every corner), (2, 0) exactly 1 from
  // (1, 0) (on the ball's edge: inside), (3, 3) 2.83 from (1, 1) (outside),
  // (-1.2, 0) 1.2 from (0, 0) (inside for k = 3, outside for k = 1).
  const std::vector<double> gen = {0.5, 0.5, 2, 0, 3, 3, -1.2, 0};
  const Tensor r = matrix(real, 4, 2), g = matrix(gen, 4, 2);
  const std::vector<double> radii = knn_radii(real.data(), 4, 2, 3);
  for (double v : radii) CHECK(v == doctest::Approx(std::sqrt(2.0)));
  const PrecisionRecall k3 = precision_recall(r, g);
  CHECK(k3.precision == 0.75);
  // The generated radii (k = 3: the farthest other point, >= 3.2) cover every corner.
  CHECK(k3.recall == 1.0);
  const PrecisionRecall k1 = precision_recall(r, g, 1);
  CHECK(k1.precision == 0.5);
  CHECK(k1.recall == 1.0);  // the centre's nearest neighbour is (2, 0), 1.58 away
  // Swapping the roles swaps the numbers.
  const PrecisionRecall swapped = precision_recall(g, r);
  CHECK(swapped.precision == k3.recall);
  CHECK(swapped.recall == k3.precision);

  check_contains(error_message<std::invalid_argument>([&] { precision_recall(r, g, 4); }),
                 {"real", "N > k", "k = 4", "N = 4"});
  check_contains(error_message<std::invalid_argument>([&] {
                   precision_recall(r, Tensor::zeros({4, 3}, DType::f64));
                 }),
                 {"widths differ"});
}

TEST_CASE("eval: precision and recall match the brute-force PyTorch reference") {
  const nlohmann::json& c = reference().at("precision_recall");
  const PrecisionRecall pr =
      precision_recall(from_json(c.at("real")), from_json(c.at("generated")), c.at("k").get<int64_t>());
  CHECK(pr.precision == doctest::Approx(c.at("precision").get<double>()).epsilon(1e-12));
  CHECK(pr.recall == doctest::Approx(c.at("recall").get<double>()).epsilon(1e-12));
  CHECK(pr.precision > 0.0);  // the case is not degenerate
  CHECK(pr.precision < 1.0);
}

TEST_CASE("eval: blocked k-NN radii and coverage equal the naive loops across block edges") {
  // 700 and 530 rows: several 128-row tasks and two 512-column GEMM blocks.
  const int64_t d = 5;
  const std::vector<double> real = normals(700, d, 6), gen = normals(530, d, 7, 1.2, 0.3);
  const PrecisionRecall pr = precision_recall(real.data(), 700, gen.data(), 530, d, 3);
  CHECK(pr.precision == doctest::Approx(naive_coverage(gen, real, d, 3)).epsilon(1e-12));
  CHECK(pr.recall == doctest::Approx(naive_coverage(real, gen, d, 3)).epsilon(1e-12));
}

TEST_CASE("eval: precision and recall at 2000 x 2000 samples of width 128") {
  const int64_t n = 2000, d = 128;
  const Tensor real = matrix(normals(n, d, 8), n, d).to(DType::f32);
  const Tensor gen = matrix(normals(n, d, 9, 1.1, 0.05), n, d).to(DType::f32);
  const auto t0 = std::chrono::steady_clock::now();
  const PrecisionRecall pr = precision_recall(real, gen);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  MESSAGE("precision_recall 2000 x 2000 x 128: " << seconds << " s, precision " << pr.precision << ", recall "
                                                 << pr.recall);
  CHECK(pr.precision > 0.0);
  CHECK(pr.precision <= 1.0);
  CHECK(pr.recall > 0.0);
  CHECK(pr.recall <= 1.0);
  CHECK(seconds < 10.0);  // ~0.25 s on two cores; loose for sanitizer builds and loaded machines
}
