// The scoring pieces of ddpm-eval and ddpm-train --eval-every: scores of
// classifier outputs against a reference set, the reference subset of
// precision/recall, eval.csv, the stacked loss/FD picture, the evaluation
// sampler's crop and determinism.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "diffusion/evaluate.h"
#include "eval/calibration.h"
#include "eval/score.h"
#include "io/eval_csv.h"
#include "io/images.h"
#include "tensor/philox.h"
#include "tests/io_util.h"

using namespace ddpm;
using ddpm::test::check_contains;
using ddpm::test::error_message;

namespace {

// [n, d] features: N(shift, 1) per element from (seed, stream).
Tensor gaussian_features(int64_t n, int64_t d, uint64_t stream, double shift = 0) {
  Tensor t = Tensor::empty({n, d});
  for (int64_t i = 0; i < n * d; ++i)
    t.data<float>()[i] = static_cast<float>(shift + philox::normal(11, stream, static_cast<uint64_t>(i)));
  return t;
}

// [n, k] rows of probabilities: one-hot on class i % k (spread), or uniform.
Tensor probabilities(int64_t n, int64_t k, bool one_hot) {
  Tensor t = Tensor::empty({n, k});
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < k; ++j)
      t.data<float>()[i * k + j] = one_hot ? (j == i % k ? 1.0f : 0.0f) : 1.0f / static_cast<float>(k);
  return t;
}

eval::ReferenceSet reference_of(const Tensor& features) {
  eval::ReferenceSet r;
  r.features = features;
  r.stats = eval::feature_stats(features);
  r.tag = "test";
  return r;
}

}  // namespace

TEST_CASE("eval: score_outputs of the reference itself: FD 0, precision and recall 1") {
  const Tensor f = gaussian_features(300, 16, 1);
  const eval::ReferenceSet ref = reference_of(f);
  eval::ClassifierOutputs out;
  out.features = f;
  out.probs = probabilities(300, 10, true);
  const eval::SampleScores s = eval::score_outputs(out, ref, 5);
  CHECK(std::abs(s.fd) < 1e-6);
  CHECK(s.precision == 1.0);
  CHECK(s.recall == 1.0);
  CHECK(s.n == 300);
  CHECK(s.n_ref == 300);
  CHECK(s.n_ref_pr == 300);
  CHECK(s.is_splits == 1);
  CHECK(s.is == doctest::Approx(10.0).epsilon(1e-9));  // one-hot rows spread over 10 classes
}

TEST_CASE("eval: score_outputs of shifted features: FD = |shift|^2 D roughly, precision and recall 0") {
  const Tensor f = gaussian_features(400, 8, 2);
  const eval::ReferenceSet ref = reference_of(f);
  eval::ClassifierOutputs out;
  out.features = gaussian_features(200, 8, 3, 10.0);  // 10 standard deviations away
  out.probs = probabilities(200, 10, false);
  const eval::SampleScores s = eval::score_outputs(out, ref, 0);
  // |mu_a - mu_b|^2 = 8 * 100 plus sampling noise of the covariances
  CHECK(s.fd > 700);
  CHECK(s.fd < 900);
  CHECK(s.precision == 0.0);
  CHECK(s.recall == 0.0);
  CHECK(s.n_ref_pr == 200);                           // as many reference rows as images
  CHECK(s.is == doctest::Approx(1.0).epsilon(1e-9));  // uniform rows: no information
  const std::string j = eval::scores_json(s);
  for (const char* key : {"\"fd\": ", "\"is\": ", "\"precision\": 0", "\"recall\": 0", "\"n\": 200"})
    CHECK_MESSAGE(j.find(key) != std::string::npos, j);
}

TEST_CASE("eval: score_outputs rejects mismatched widths and too few images") {
  const eval::ReferenceSet ref = reference_of(gaussian_features(50, 8, 4));
  eval::ClassifierOutputs out;
  out.features = gaussian_features(20, 4, 5);
  out.probs = probabilities(20, 10, true);
  CHECK_THROWS_WITH_AS(eval::score_outputs(out, ref), doctest::Contains("4 wide"), std::invalid_argument);
  out.features = gaussian_features(1, 8, 5);
  out.probs = probabilities(1, 10, true);
  CHECK_THROWS_WITH_AS(eval::score_outputs(out, ref), doctest::Contains("n >= 2"), std::invalid_argument);
  out.features = gaussian_features(20, 8, 5);
  out.probs = probabilities(19, 10, true);
  CHECK_THROWS_WITH_AS(eval::score_outputs(out, ref), doctest::Contains("do not match"),
                       std::invalid_argument);
}

TEST_CASE("eval: the precision/recall reference subset is distinct rows, a function of the seed") {
  const std::vector<int64_t> a = eval::reference_subset(1000, 100, 7);
  CHECK(a.size() == 100);
  CHECK(std::set<int64_t>(a.begin(), a.end()).size() == 100);
  for (int64_t i : a) CHECK((i >= 0 && i < 1000));
  CHECK(eval::reference_subset(1000, 100, 7) == a);
  CHECK(eval::reference_subset(1000, 100, 8) != a);
  // n >= N: every row once.
  std::vector<int64_t> all = eval::reference_subset(50, 80, 1);
  std::sort(all.begin(), all.end());
  CHECK(all.size() == 50);
  for (int64_t i = 0; i < 50; ++i) CHECK(all[static_cast<size_t>(i)] == i);
  CHECK(eval::inception_splits(999) == 1);
  CHECK(eval::inception_splits(2000) == 10);
}

TEST_CASE("io: eval.csv round trip keeps the rows up to a step") {
  const std::vector<EvalRow> rows = {{100, 55.5, 3.25, 0.5, 0.25, 500}, {200, 20.125, 5.5, 0.75, 0.5, 500}};
  const std::string text = format_eval_csv(rows);
  CHECK(text.rfind("step,fd,is,precision,recall,n\n", 0) == 0);
  const std::vector<EvalRow> back = parse_eval_csv(text, 1000);
  REQUIRE(back.size() == 2);
  CHECK(back[1].step == 200);
  CHECK(back[1].fd == 20.125);
  CHECK(back[1].is == 5.5);
  CHECK(back[1].precision == 0.75);
  CHECK(back[1].recall == 0.5);
  CHECK(back[1].n == 500);
  CHECK(parse_eval_csv(text, 200).size() == 2);  // the checkpoint's own step is kept
  CHECK(parse_eval_csv(text, 199).size() == 1);
  CHECK(parse_eval_csv(text + "garbage\n1,2\n", 1000).size() == 2);
}

TEST_CASE("io: stack_vertically puts rasters one below the other, widening grey to RGB") {
  Raster a;
  a.width = 3;
  a.height = 2;
  a.channels = 1;
  a.pixels.assign(6, 10);
  Raster b;
  b.width = 5;
  b.height = 1;
  b.channels = 3;
  b.pixels.assign(15, 200);
  const Raster s = stack_vertically({a, b});
  CHECK(s.width == 5);
  CHECK(s.height == 3);
  CHECK(s.channels == 3);
  CHECK(s.at(0, 0)[0] == 10);
  CHECK(s.at(1, 2)[2] == 10);
  CHECK(s.at(0, 4)[1] == 255);  // right of the narrower raster: white
  CHECK(s.at(2, 4)[0] == 200);
  Raster bad;
  bad.width = bad.height = 1;
  bad.channels = 4;
  bad.pixels.assign(4, 0);
  CHECK_THROWS_WITH_AS(stack_vertically({a, bad}), doctest::Contains("4 channels"), std::invalid_argument);
}

TEST_CASE("diffusion: crop_images cuts the box out of every image and checks it fits") {
  Tensor x = Tensor::empty({2, 1, 4, 5});
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = static_cast<float>(i);
  const Tensor c = crop_images(x, {1, 2, 2, 3});
  REQUIRE(c.size(2) == 2);
  REQUIRE(c.size(3) == 3);
  CHECK(c.data<float>()[0] == 7.0f);                   // image 0, row 1, column 2
  CHECK(c.data<float>()[6 + 5] == 20.0f + 2 * 5 + 4);  // image 1, row 2, column 4
  CHECK(crop_images(x, {}).numel() == x.numel());
  CHECK_THROWS_WITH_AS(crop_images(x, {3, 0, 2, 2}), doctest::Contains("does not fit"),
                       std::invalid_argument);
}

TEST_CASE("diffusion: sample_for_eval draws batches from their own streams, deterministically") {
  const NoiseScheduler sched(BetaSchedule::linear, 10);
  // A model that predicts zero noise: the result is a function of the noise draws alone.
  const DenoiseFn zero = [](const Tensor& x, const Tensor&) { return Tensor::zeros(x.shape()); };
  EvalSampling es;
  es.num = 5;
  es.batch = 2;
  es.sampler.kind = SamplerKind::ddim;
  es.sampler.steps = 3;
  es.sampler.seed = 4;
  es.channels = 1;
  es.height = es.width = 6;
  es.crop = {1, 1, 4, 4};
  int64_t calls = 0, last = 0;
  const Tensor a =
      sample_for_eval(sched, zero, es, DType::f32, Device::cpu, [&](int64_t done, int64_t total) {
        ++calls;
        last = done;
        CHECK(total == 5);
      });
  CHECK(calls == 3);  // batches of 2, 2, 1
  CHECK(last == 5);
  REQUIRE(a.shape() == Shape{5, 1, 4, 4});
  const Tensor b = sample_for_eval(sched, zero, es, DType::f32, Device::cpu);
  CHECK(std::equal(a.data<float>(), a.data<float>() + a.numel(), b.data<float>()));
  // Images 0 and 2 start batches 0 and 1 (streams differ): different images.
  CHECK_FALSE(std::equal(a.data<float>(), a.data<float>() + 16, a.data<float>() + 32));
  es.sampler.seed = 5;
  const Tensor c = sample_for_eval(sched, zero, es, DType::f32, Device::cpu);
  CHECK_FALSE(std::equal(a.data<float>(), a.data<float>() + a.numel(), c.data<float>()));
}

TEST_CASE("eval: gaussian_blur keeps constants and mass, spreads a point symmetrically, copies at sigma 0") {
  Tensor img = Tensor::zeros({2, 1, 15, 15});
  img.data<float>()[7 * 15 + 7] = 1.0f;                              // a point in the first image
  for (int64_t i = 225; i < 450; ++i) img.data<float>()[i] = 0.25f;  // a constant second image
  const Tensor same = eval::gaussian_blur(img, 0);
  CHECK(same.to_vector<float>() == img.to_vector<float>());
  CHECK(same.data<float>() != img.data<float>());

  const Tensor b = eval::gaussian_blur(img, 1.0);
  const float* p = b.data<float>();
  double mass = 0;
  for (int64_t i = 0; i < 225; ++i) mass += p[i];
  CHECK(mass == doctest::Approx(1.0).epsilon(1e-6));
  double k0 = 0;  // the normalised 1-D kernel's centre: 1 / sum over -3..3 of exp(-i^2 / 2)
  for (int i = -3; i <= 3; ++i) k0 += std::exp(-0.5 * i * i);
  k0 = 1 / k0;
  CHECK(p[7 * 15 + 7] == doctest::Approx(k0 * k0).epsilon(1e-6));
  CHECK(p[7 * 15 + 6] == p[7 * 15 + 8]);
  CHECK(p[6 * 15 + 7] == p[8 * 15 + 7]);
  CHECK(p[6 * 15 + 7] == doctest::Approx(p[7 * 15 + 6]).epsilon(1e-6));
  CHECK(p[7 * 15 + 11] == 0.0f);  // beyond the radius ceil(3 sigma) = 3
  for (int64_t i = 225; i < 450; ++i) CHECK(p[i] == doctest::Approx(0.25).epsilon(1e-6));

  check_contains(error_message<std::invalid_argument>([&] { eval::gaussian_blur(img, -1); }),
                 {"sigma", "-1"});
  check_contains(error_message<std::invalid_argument>([] {
                   eval::gaussian_blur(Tensor::zeros({3, 4}), 1);
                 }),
                 {"[N, C, H, W]", "[3, 4]"});
}

TEST_CASE("eval: uniform_noise_images fills [-1, 1] evenly, a function of the seed") {
  const Tensor a = eval::uniform_noise_images(4, 1, 16, 16, 5),
               b = eval::uniform_noise_images(4, 1, 16, 16, 5);
  const Tensor c = eval::uniform_noise_images(4, 1, 16, 16, 6);
  CHECK(a.shape() == Shape{4, 1, 16, 16});
  CHECK(a.to_vector<float>() == b.to_vector<float>());
  CHECK(a.to_vector<float>() != c.to_vector<float>());
  double sum = 0, lo = 1, hi = -1;
  for (float v : a.to_vector<float>()) {
    sum += v;
    lo = std::min<double>(lo, v);
    hi = std::max<double>(hi, v);
  }
  CHECK(lo >= -1);
  CHECK(hi <= 1);
  CHECK(lo < -0.95);
  CHECK(hi > 0.95);
  CHECK(std::fabs(sum / 1024) < 0.1);  // mean 0, standard error 0.018
}
