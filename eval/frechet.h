// Fréchet distance between two sets of features (the "FID" of Heusel et al.
// 2017 when the features are Inception pool activations), and the cached
// statistics of a reference set.
//
// Each set is summarised by its mean mu and covariance S (N - 1 in the
// denominator, as numpy.cov and the reference FID implementations); the
// distance between the two fitted Gaussians is
//
//   FD = |mu_a - mu_b|^2 + tr(S_a) + tr(S_b) - 2 tr((S_a S_b)^{1/2}).
//
// tr((S_a S_b)^{1/2}) is computed in double without a complex sqrtm:
// S_a S_b is similar to the symmetric positive semi-definite
// M = S_a^{1/2} S_b S_a^{1/2}, so the trace is the sum of the square roots of
// M's eigenvalues (two symmetric eigendecompositions, Eigen's
// SelfAdjointEigenSolver; eigenvalues that round below 0 count as 0). Cost:
// O(D^3) for the distance, O(N D^2) for the statistics (a blocked GEMM over
// rows, threaded by Eigen), memory O(D^2).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace ddpm::eval {

struct FeatureStats {
  int64_t n = 0;             // number of samples summarised
  int64_t dim = 0;           // feature width D
  std::vector<double> mean;  // [D]
  std::vector<double> cov;   // [D, D] row-major, unbiased (N - 1)
};

// Statistics of an [N, D] matrix of features, N >= 2, D >= 1, finite values.
// The Tensor may be f32 or f64 on any device (copied to the host);
// throws std::invalid_argument naming what was found otherwise.
FeatureStats feature_stats(const Tensor& features);
FeatureStats feature_stats(const float* features, int64_t n, int64_t d);
FeatureStats feature_stats(const double* features, int64_t n, int64_t d);

// The Fréchet distance of the Gaussians N(a.mean, a.cov) and N(b.mean, b.cov).
// Throws std::invalid_argument when the widths differ or a stats object is
// malformed (sizes not D and D*D).
double frechet_distance(const FeatureStats& a, const FeatureStats& b);
// Shorthand: frechet_distance(feature_stats(a), feature_stats(b)).
double frechet_distance(const Tensor& a, const Tensor& b);

// Cached statistics as a safetensors file: tensors "mu" (F64 [D]) and
// "sigma" (F64 [D, D]) and metadata
//   ddpm_eval = "feature_stats", feature_width = D, n = N, tag = `tag`.
// The tag says what the statistics describe (for example
// "fashion-mnist/test classifier-v1"): load refuses a file with another tag,
// so cached statistics of one feature extractor never meet features of
// another.
void save_feature_stats(const std::string& path, const FeatureStats& stats, const std::string& tag);
// Loads and checks a file written by save_feature_stats: its tag must equal
// `expected_tag` and, when expected_dim > 0, its feature width expected_dim.
// Throws std::runtime_error naming the file, what was found and what was
// expected (also for a file that is not feature statistics, or whose shapes
// disagree with its metadata).
FeatureStats load_feature_stats(const std::string& path, const std::string& expected_tag,
                                int64_t expected_dim = 0);
// The tag stored in a feature-statistics file (no other checks but the format).
std::string feature_stats_tag(const std::string& path);

}  // namespace ddpm::eval
