#include "eval/score.h"

#include <cmath>
#include <cstdio>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "eval/inception_score.h"
#include "eval/precision_recall.h"
#include "tensor/philox.h"

namespace ddpm::eval {

namespace {

// Philox stream of the reference subset ("EVRF" in the high 32 bits).
constexpr uint64_t kReferenceSubsetStream = 0x4556524600000000ull;

std::string shape_text(const Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + "]";
}

std::string number(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.8g", v);
  return buf;
}

}  // namespace

int64_t inception_splits(int64_t n) { return n >= 1000 ? 10 : 1; }

std::vector<int64_t> reference_subset(int64_t n_ref, int64_t n, uint64_t seed) {
  std::vector<int64_t> idx(static_cast<size_t>(n_ref));
  for (int64_t i = 0; i < n_ref; ++i) idx[static_cast<size_t>(i)] = i;
  const int64_t m = std::min(n, n_ref);
  // A partial Fisher-Yates shuffle: position i takes a random one of [i, n_ref).
  for (int64_t i = 0; i < m; ++i) {
    const int64_t j =
        philox::uniform_int(seed, kReferenceSubsetStream, static_cast<uint64_t>(i), n_ref - i) + i;
    std::swap(idx[static_cast<size_t>(i)], idx[static_cast<size_t>(j)]);
  }
  idx.resize(static_cast<size_t>(m));
  return idx;
}

SampleScores score_outputs(const ClassifierOutputs& images, const ReferenceSet& ref, uint64_t seed,
                           bool with_precision_recall) {
  const Tensor& f = images.features;
  if (f.dim() != 2 || f.size(0) < 2)
    throw std::invalid_argument("score_outputs: expected features [n >= 2, D], got " + shape_text(f));
  if (f.size(1) != ref.stats.dim)
    throw std::invalid_argument("score_outputs: features " + shape_text(f) + " are " +
                                std::to_string(f.size(1)) + " wide, the reference statistics " +
                                std::to_string(ref.stats.dim));
  if (images.probs.dim() != 2 || images.probs.size(0) != f.size(0))
    throw std::invalid_argument("score_outputs: probabilities " + shape_text(images.probs) +
                                " do not match features " + shape_text(f));
  SampleScores s;
  s.n = f.size(0);
  s.n_ref = ref.stats.n;
  s.fd = frechet_distance(feature_stats(f), ref.stats);
  s.is_splits = inception_splits(s.n);
  const InceptionScore is = inception_score(images.probs, s.is_splits);
  s.is = is.mean;
  s.is_std = is.std;
  if (with_precision_recall) {
    const Tensor& rf = ref.features;
    if (rf.dim() != 2 || rf.size(1) != f.size(1))
      throw std::invalid_argument("score_outputs: reference features " + shape_text(rf) + " do not match " +
                                  shape_text(f));
    const std::vector<int64_t> rows = reference_subset(rf.size(0), s.n, seed);
    const int64_t d = f.size(1);
    const Tensor rfc = rf.to(Device::cpu).to(DType::f32);
    const Tensor fc = f.to(Device::cpu).to(DType::f32);
    std::vector<double> real(rows.size() * static_cast<size_t>(d)), gen(static_cast<size_t>(s.n * d));
    for (size_t r = 0; r < rows.size(); ++r)
      for (int64_t j = 0; j < d; ++j)
        real[r * static_cast<size_t>(d) + static_cast<size_t>(j)] = rfc.data<float>()[rows[r] * d + j];
    for (int64_t i = 0; i < s.n * d; ++i) gen[static_cast<size_t>(i)] = fc.data<float>()[i];
    const PrecisionRecall pr =
        precision_recall(real.data(), static_cast<int64_t>(rows.size()), gen.data(), s.n, d);
    s.precision = pr.precision;
    s.recall = pr.recall;
    s.n_ref_pr = static_cast<int64_t>(rows.size());
  }
  return s;
}

std::string scores_json(const SampleScores& s, bool with_precision_recall) {
  std::ostringstream o;
  o << "{\"fd\": " << number(s.fd) << ", \"is\": " << number(s.is) << ", \"is_std\": " << number(s.is_std)
    << ", \"is_splits\": " << s.is_splits
    << ", \"precision\": " << (with_precision_recall ? number(s.precision) : "null")
    << ", \"recall\": " << (with_precision_recall ? number(s.recall) : "null") << ", \"n\": " << s.n
    << ", \"n_ref\": " << s.n_ref << ", \"n_ref_pr\": " << s.n_ref_pr << "}";
  return o.str();
}

}  // namespace ddpm::eval
