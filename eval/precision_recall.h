// Improved precision and recall (Kynkäänniemi et al. 2019, "Improved
// Precision and Recall Metric for Assessing Generative Models").
//
// Each set of features approximates its manifold by balls: around every
// sample, a ball whose radius is the distance to its k-th nearest neighbour
// in the same set (the sample itself excluded; k = 3 as in the paper).
//   precision = fraction of generated samples inside at least one ball of the
//               real set (how many samples look real),
//   recall    = fraction of real samples inside at least one ball of the
//               generated set (how much of the real data is covered).
// "Inside" is distance <= radius, as the reference implementation. Both lie
// in [0, 1]; identical sets give 1 and 1.
//
// Distances are exact (no approximate nearest neighbours): squared distances
// |x|^2 + |y|^2 - 2 x.y in double, the x.y from Eigen GEMMs over blocks of
// 128 x 512 pairs, the row blocks spread over the OpenMP threads (each row
// written by one thread, so the result does not depend on the thread count).
// Cost: the real-real and generated-generated distances (for the radii) and
// the real-generated ones twice (once per direction), about
// 2 D (N_r^2 + N_g^2 + 2 N_r N_g) flops at most (the coverage passes stop a
// row block early once all its rows are covered), memory O((N_r + N_g) D)
// doubles plus one block per thread. N = 2000 x 2000 at D = 128 is about
// 0.25 s on two shared cores (~16 GFLOP/s); N = 50,000 at D = 2048 would be
// ~4e13 flops (tens of minutes there).
#pragma once

#include <cstdint>
#include <vector>

#include "tensor/tensor.h"

namespace ddpm::eval {

inline constexpr int64_t kPrecisionRecallK = 3;

struct PrecisionRecall {
  double precision = 0;
  double recall = 0;
};

// real: [N_r, D], generated: [N_g, D] (f32 or f64, any device: copied to
// the host as double), N_r, N_g > k, finite values. Throws
// std::invalid_argument naming what was found otherwise.
PrecisionRecall precision_recall(const Tensor& real, const Tensor& generated, int64_t k = kPrecisionRecallK);
PrecisionRecall precision_recall(const double* real, int64_t n_real, const double* generated,
                                 int64_t n_generated, int64_t d, int64_t k = kPrecisionRecallK);

// The building blocks, on row-major double [n, d] buffers:
// the distance of each row to its k-th nearest other row (n > k);
std::vector<double> knn_radii(const double* x, int64_t n, int64_t d, int64_t k);
// the fraction of `queries` rows within radii[j] of at least one row j of `ref`.
double manifold_coverage(const double* queries, int64_t n_queries, const double* ref,
                         const std::vector<double>& radii, int64_t n_ref, int64_t d);

}  // namespace ddpm::eval
