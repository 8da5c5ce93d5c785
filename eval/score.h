// The scores ddpm-eval reports for a set of images (docs/evaluation.md): the
// Fréchet distance between the classifier's penultimate features of the
// images and of a reference set, the Inception-style score of its softmax,
// and improved precision / recall (k = 3) against the reference features.
#pragma once

#include <cstdint>
#include <string>

#include "eval/classifier.h"
#include "eval/frechet.h"

namespace ddpm::eval {

struct SampleScores {
  double fd = 0;      // Fréchet distance to the reference statistics (all of the reference set)
  double is = 0;      // Inception-style score, mean over the splits
  double is_std = 0;  // its standard deviation over the splits
  int64_t is_splits = 1;
  double precision = 0;  // fraction of the images inside the reference manifold
  double recall = 0;     // fraction of the reference subset inside the images' manifold
  int64_t n = 0;         // images scored
  int64_t n_ref = 0;     // images in the reference statistics
  int64_t n_ref_pr = 0;  // reference images in precision / recall
};

// Splits of the Inception-style score for n images: 10 (as the original code
// and torch-fidelity) when every split gets at least 100 images, else 1.
int64_t inception_splits(int64_t n);

// The reference rows precision / recall compares n images with: min(n, N_ref)
// distinct rows of ref.features, drawn without replacement by a Philox
// Fisher-Yates shuffle of (seed), so the subset is a pure function of
// (N_ref, n, seed) and equal sizes make the two manifolds comparable.
std::vector<int64_t> reference_subset(int64_t n_ref, int64_t n, uint64_t seed);

// Scores classifier outputs of n >= 2 images (features [n, 128], probs
// [n, K]) against a reference set. Throws std::invalid_argument naming the
// shapes when the widths disagree or there are fewer than 2 images.
SampleScores score_outputs(const ClassifierOutputs& images, const ReferenceSet& ref, uint64_t seed = 0,
                           bool with_precision_recall = true);

// The scores as one JSON object: keys fd, is, is_std, precision, recall, n,
// n_ref, n_ref_pr (precision/recall null when not computed).
std::string scores_json(const SampleScores& s, bool with_precision_recall = true);

}  // namespace ddpm::eval
