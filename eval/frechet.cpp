// Feature statistics, the Fréchet distance and the statistics file
// (eval/frechet.h).
#include "eval/frechet.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>
#include <stdexcept>
#include <utility>

#include "eval/eigen.h"  // first: see the note on GCC 12 there
#include "io/safetensors.h"

namespace ddpm::eval {
namespace {

constexpr const char* kFormat = "feature_stats";

void check_matrix(int64_t n, int64_t d, const char* what) {
  if (n < 2 || d < 1) {
    std::ostringstream os;
    os << what << ": need an [N, D] feature matrix with N >= 2 samples and D >= 1, got N = " << n
       << ", D = " << d;
    throw std::invalid_argument(os.str());
  }
}

template <class T>
FeatureStats stats_impl(const T* x, int64_t n, int64_t d) {
  check_matrix(n, d, "feature_stats");
  FeatureStats s;
  s.n = n;
  s.dim = d;
  Eigen::VectorXd mean = Eigen::VectorXd::Zero(d);
  for (int64_t i = 0; i < n; ++i) {
    const T* row = x + i * d;
    for (int64_t j = 0; j < d; ++j) {
      const double v = static_cast<double>(row[j]);
      if (!std::isfinite(v)) {
        std::ostringstream os;
        os << "feature_stats: features[" << i << ", " << j << "] = " << v << " is not finite";
        throw std::invalid_argument(os.str());
      }
      mean[j] += v;
    }
  }
  mean /= static_cast<double>(n);
  // Centred rows in blocks (double), cov += block^T block: a GEMM that Eigen
  // threads, memory O(block * D + D^2) whatever N is.
  constexpr int64_t kBlock = 1024;
  Eigen::MatrixXd cov = Eigen::MatrixXd::Zero(d, d);
  RowMatrixD block(std::min(kBlock, n), d);
  for (int64_t r0 = 0; r0 < n; r0 += kBlock) {
    const int64_t rows = std::min(kBlock, n - r0);
    for (int64_t i = 0; i < rows; ++i) {
      const T* row = x + (r0 + i) * d;
      for (int64_t j = 0; j < d; ++j) block(i, j) = static_cast<double>(row[j]) - mean[j];
    }
    cov.noalias() += block.topRows(rows).transpose() * block.topRows(rows);
  }
  cov /= static_cast<double>(n - 1);
  const Eigen::MatrixXd sym = 0.5 * (cov + cov.transpose());  // exactly symmetric
  s.mean.assign(mean.data(), mean.data() + d);
  s.cov.resize(static_cast<size_t>(d * d));
  Eigen::Map<RowMatrixD>(s.cov.data(), d, d) = sym;
  return s;
}

void check_stats(const FeatureStats& s, const char* which) {
  if (s.dim < 1 || s.mean.size() != static_cast<size_t>(s.dim) ||
      s.cov.size() != static_cast<size_t>(s.dim * s.dim)) {
    std::ostringstream os;
    os << "frechet_distance: stats " << which << " are malformed: dim = " << s.dim << ", mean has "
       << s.mean.size() << " values, cov " << s.cov.size() << " (expected dim >= 1, dim and dim^2)";
    throw std::invalid_argument(os.str());
  }
}

std::string quoted(const std::string& s) { return "'" + s + "'"; }

int64_t metadata_int(const SafetensorsFile& f, const std::string& key) {
  const auto& md = f.metadata();
  const auto it = md.find(key);
  if (it == md.end())
    throw std::runtime_error("feature statistics " + quoted(f.source()) + ": metadata has no '" + key +
                             "' (expected an integer)");
  size_t used = 0;
  int64_t v = 0;
  try {
    v = std::stoll(it->second, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != it->second.size() || v < 0)
    throw std::runtime_error("feature statistics " + quoted(f.source()) + ": metadata '" + key + "' is " +
                             quoted(it->second) + ", expected a non-negative integer");
  return v;
}

// Opens a file and checks that it is feature statistics (the format key).
SafetensorsFile open_stats(const std::string& path) {
  SafetensorsFile f = load_safetensors(path);
  const auto& md = f.metadata();
  const auto it = md.find("ddpm_eval");
  if (it == md.end() || it->second != kFormat)
    throw std::runtime_error("feature statistics " + quoted(path) + ": metadata 'ddpm_eval' is " +
                             (it == md.end() ? std::string("missing") : quoted(it->second)) +
                             ", expected 'feature_stats' (a file written by save_feature_stats)");
  if (!md.contains("tag"))
    throw std::runtime_error("feature statistics " + quoted(path) + ": metadata has no 'tag'");
  return f;
}

}  // namespace

FeatureStats feature_stats(const float* features, int64_t n, int64_t d) { return stats_impl(features, n, d); }
FeatureStats feature_stats(const double* features, int64_t n, int64_t d) {
  return stats_impl(features, n, d);
}

FeatureStats feature_stats(const Tensor& features) {
  if (!features.defined() || features.dim() != 2)
    throw std::invalid_argument("feature_stats: expected an [N, D] tensor, got " +
                                (features.defined() ? features.desc() : std::string("an undefined tensor")));
  const int64_t n = features.size(0), d = features.size(1);
  if (features.dtype() == DType::f64) {
    const std::vector<double> v = features.to_vector<double>();
    return stats_impl(v.data(), n, d);
  }
  const std::vector<float> v = features.to_vector<float>();
  return stats_impl(v.data(), n, d);
}

double frechet_distance(const FeatureStats& a, const FeatureStats& b) {
  check_stats(a, "a");
  check_stats(b, "b");
  if (a.dim != b.dim) {
    std::ostringstream os;
    os << "frechet_distance: feature widths differ: " << a.dim << " and " << b.dim;
    throw std::invalid_argument(os.str());
  }
  const int64_t d = a.dim;
  const Eigen::Map<const Eigen::VectorXd> mu_a(a.mean.data(), d), mu_b(b.mean.data(), d);
  const Eigen::MatrixXd sa = Eigen::Map<const RowMatrixD>(a.cov.data(), d, d);
  const Eigen::MatrixXd sb = Eigen::Map<const RowMatrixD>(b.cov.data(), d, d);
  for (int64_t i = 0; i < d * d; ++i)
    if (!std::isfinite(a.cov[static_cast<size_t>(i)]) || !std::isfinite(b.cov[static_cast<size_t>(i)]))
      throw std::invalid_argument("frechet_distance: a covariance holds a value that is not finite");

  // S_a^{1/2} from the eigendecomposition of S_a (lower triangle read; the
  // matrix is symmetric), eigenvalues rounding below 0 taken as 0.
  const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> ea(sa);
  if (ea.info() != Eigen::Success)
    throw std::runtime_error("frechet_distance: eigendecomposition of S_a failed");
  const Eigen::VectorXd root = ea.eigenvalues().cwiseMax(0.0).cwiseSqrt();
  const Eigen::MatrixXd sqrt_a = ea.eigenvectors() * root.asDiagonal() * ea.eigenvectors().transpose();
  Eigen::MatrixXd m = sqrt_a * sb * sqrt_a;
  m = (0.5 * (m + m.transpose())).eval();
  const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> em(m, Eigen::EigenvaluesOnly);
  if (em.info() != Eigen::Success)
    throw std::runtime_error("frechet_distance: eigendecomposition of S_a^1/2 S_b S_a^1/2 failed");
  const double tr_sqrt = em.eigenvalues().cwiseMax(0.0).cwiseSqrt().sum();

  const double fd = (mu_a - mu_b).squaredNorm() + sa.trace() + sb.trace() - 2.0 * tr_sqrt;
  return std::max(fd, 0.0);  // >= 0 exactly; only rounding can make it negative
}

double frechet_distance(const Tensor& a, const Tensor& b) {
  return frechet_distance(feature_stats(a), feature_stats(b));
}

void save_feature_stats(const std::string& path, const FeatureStats& stats, const std::string& tag) {
  if (stats.dim < 1 || stats.mean.size() != static_cast<size_t>(stats.dim) ||
      stats.cov.size() != static_cast<size_t>(stats.dim * stats.dim))
    throw std::invalid_argument("save_feature_stats: malformed statistics for " + quoted(path));
  const Tensor mu = Tensor::from_vector(stats.mean, {stats.dim});
  const Tensor sigma = Tensor::from_vector(stats.cov, {stats.dim, stats.dim});
  const std::map<std::string, std::string> metadata = {{"ddpm_eval", kFormat},
                                                       {"feature_width", std::to_string(stats.dim)},
                                                       {"n", std::to_string(stats.n)},
                                                       {"tag", tag}};
  save_safetensors(path, {safetensors_blob("mu", mu), safetensors_blob("sigma", sigma)}, metadata);
}

std::string feature_stats_tag(const std::string& path) { return open_stats(path).metadata().at("tag"); }

FeatureStats load_feature_stats(const std::string& path, const std::string& expected_tag,
                                int64_t expected_dim) {
  const SafetensorsFile f = open_stats(path);
  const std::string& tag = f.metadata().at("tag");
  if (tag != expected_tag)
    throw std::runtime_error("feature statistics " + quoted(path) + ": tag " + quoted(tag) + ", expected " +
                             quoted(expected_tag) + " (statistics of other features or another data set)");
  const int64_t d = metadata_int(f, "feature_width");
  const int64_t n = metadata_int(f, "n");
  if (d < 1)
    throw std::runtime_error("feature statistics " + quoted(path) + ": feature_width is 0, expected >= 1");
  if (expected_dim > 0 && d != expected_dim)
    throw std::runtime_error("feature statistics " + quoted(path) + ": feature width " + std::to_string(d) +
                             ", expected " + std::to_string(expected_dim));
  require_names(f, {{"mu", {d}}, {"sigma", {d, d}}});  // names the file and each shape found/expected
  FeatureStats s;
  s.n = n;
  s.dim = d;
  s.mean = f.tensor("mu", DType::f64).to_vector<double>();
  s.cov = f.tensor("sigma", DType::f64).to_vector<double>();
  return s;
}

}  // namespace ddpm::eval
