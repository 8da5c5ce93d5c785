// Calibration of the scores (docs/evaluation.md, "What the numbers mean"):
// where real images, degraded real images and noise land against the same
// reference set, so a model's FD can be read against a floor and a ceiling.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "eval/classifier.h"
#include "eval/score.h"
#include "tensor/tensor.h"

namespace ddpm::eval {

// images [N, C, H, W] f32 cpu blurred per channel with a separable Gaussian
// of standard deviation sigma pixels (radius ceil(3 sigma), edges clamped);
// sigma 0 returns a copy. Throws std::invalid_argument for sigma < 0 or a
// tensor that is not [N, C, H, W] f32.
Tensor gaussian_blur(const Tensor& images, double sigma);

// n images of c x h x w, every pixel uniform in [-1, 1] (Philox, seed).
Tensor uniform_noise_images(int64_t n, int64_t c, int64_t h, int64_t w, uint64_t seed);

struct CalibrationRow {
  std::string what;  // "train images", "train images, blur sigma 1", ...
  SampleScores scores;
};

// Scores n images of the data set's train split (a Philox choice without
// replacement by seed) as they are, blurred with sigma 0.5, 1 and 2, and n
// uniform-noise images, all against `ref` (the test split's features). The
// data must have a train split (fashion-mnist or a folder of IDX files):
// std::invalid_argument otherwise, or when its images are not the
// classifier's size.
std::vector<CalibrationRow> calibrate(const LoadedClassifier& c, const ReferenceSet& ref,
                                      const std::string& data, int64_t n, uint64_t seed);

}  // namespace ddpm::eval
