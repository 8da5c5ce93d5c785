// Inception score (Salimans et al. 2016) from class probabilities:
//
//   IS = exp( mean_i KL(p(y|x_i) || p(y)) ),   p(y) = mean_i p(y|x_i),
//
// for an [N, K] matrix whose rows are the classifier's softmax outputs. With
// S splits (the usual 10), the rows are cut into S consecutive parts
// [s N / S, (s + 1) N / S), the score is computed within each part (its own
// p(y)), and the result is the mean and the population standard deviation
// (numpy.std, ddof = 0) of the S scores, as in the original code and
// torch-fidelity. 0 log 0 counts as 0. IS lies in [1, K]: 1 when every row
// is the same, K when the rows are one-hot and spread evenly over the K
// classes. Cost O(N K), one pass in double.
#pragma once

#include <cstdint>

#include "tensor/tensor.h"

namespace ddpm::eval {

struct InceptionScore {
  double mean = 0;  // exp(mean KL), averaged over the splits
  double std = 0;   // standard deviation over the splits (0 for one split)
};

// Rows must be finite, >= 0 and sum to 1 within `tolerance` (float softmax
// outputs over 1000 classes sum to 1 within ~1e-5); 1 <= splits <= N.
// Throws std::invalid_argument naming the row and what was found.
InceptionScore inception_score(const Tensor& probs, int64_t splits = 1, double tolerance = 1e-3);
InceptionScore inception_score(const float* probs, int64_t n, int64_t k, int64_t splits = 1,
                               double tolerance = 1e-3);
InceptionScore inception_score(const double* probs, int64_t n, int64_t k, int64_t splits = 1,
                               double tolerance = 1e-3);

}  // namespace ddpm::eval
