// Inception score from class probabilities (eval/inception_score.h).
#include "eval/inception_score.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace ddpm::eval {
namespace {

template <class T>
void validate(const T* p, int64_t n, int64_t k, int64_t splits, double tolerance) {
  if (n < 1 || k < 1) {
    std::ostringstream os;
    os << "inception_score: need an [N, K] probability matrix with N, K >= 1, got N = " << n << ", K = " << k;
    throw std::invalid_argument(os.str());
  }
  if (splits < 1 || splits > n) {
    std::ostringstream os;
    os << "inception_score: splits = " << splits << ", expected 1 <= splits <= N = " << n;
    throw std::invalid_argument(os.str());
  }
  for (int64_t i = 0; i < n; ++i) {
    double sum = 0;
    for (int64_t j = 0; j < k; ++j) {
      const double v = static_cast<double>(p[i * k + j]);
      if (!std::isfinite(v) || v < 0) {
        std::ostringstream os;
        os << "inception_score: probs[" << i << ", " << j << "] = " << v
           << ", expected a finite probability >= 0 (pass softmax outputs, not logits)";
        throw std::invalid_argument(os.str());
      }
      sum += v;
    }
    if (std::abs(sum - 1.0) > tolerance) {
      std::ostringstream os;
      os.precision(10);
      os << "inception_score: row " << i << " sums to " << sum << ", expected 1 within " << tolerance
         << " (pass softmax outputs, not logits)";
      throw std::invalid_argument(os.str());
    }
  }
}

template <class T>
InceptionScore score_impl(const T* p, int64_t n, int64_t k, int64_t splits, double tolerance) {
  validate(p, n, k, splits, tolerance);
  std::vector<double> scores;
  std::vector<double> py(static_cast<size_t>(k));
  for (int64_t s = 0; s < splits; ++s) {
    const int64_t begin = s * n / splits, end = (s + 1) * n / splits;
    std::fill(py.begin(), py.end(), 0.0);
    for (int64_t i = begin; i < end; ++i)
      for (int64_t j = 0; j < k; ++j) py[static_cast<size_t>(j)] += static_cast<double>(p[i * k + j]);
    for (double& v : py) v /= static_cast<double>(end - begin);
    double kl_sum = 0;
    for (int64_t i = begin; i < end; ++i)
      for (int64_t j = 0; j < k; ++j) {
        const double v = static_cast<double>(p[i * k + j]);
        if (v > 0) kl_sum += v * (std::log(v) - std::log(py[static_cast<size_t>(j)]));  // py >= v / n > 0
      }
    scores.push_back(std::exp(kl_sum / static_cast<double>(end - begin)));
  }
  InceptionScore r;
  for (double v : scores) r.mean += v;
  r.mean /= static_cast<double>(splits);
  for (double v : scores) r.std += (v - r.mean) * (v - r.mean);
  r.std = std::sqrt(r.std / static_cast<double>(splits));
  return r;
}

}  // namespace

InceptionScore inception_score(const float* probs, int64_t n, int64_t k, int64_t splits, double tolerance) {
  return score_impl(probs, n, k, splits, tolerance);
}
InceptionScore inception_score(const double* probs, int64_t n, int64_t k, int64_t splits, double tolerance) {
  return score_impl(probs, n, k, splits, tolerance);
}

InceptionScore inception_score(const Tensor& probs, int64_t splits, double tolerance) {
  if (!probs.defined() || probs.dim() != 2)
    throw std::invalid_argument("inception_score: expected an [N, K] tensor of class probabilities, got " +
                                (probs.defined() ? probs.desc() : std::string("an undefined tensor")));
  const int64_t n = probs.size(0), k = probs.size(1);
  if (probs.dtype() == DType::f64) {
    const std::vector<double> v = probs.to_vector<double>();
    return score_impl(v.data(), n, k, splits, tolerance);
  }
  const std::vector<float> v = probs.to_vector<float>();
  return score_impl(v.data(), n, k, splits, tolerance);
}

}  // namespace ddpm::eval
