// Class conditioning at sampling time, with classifier-free guidance (Ho &
// Salimans 2022).
//
// A class-conditional model (TrainConfig::conditioning class) learns both
// the conditional prediction (its class label) and the unconditional one
// (the "no class" label, which training substitutes at rate cond_drop). The
// guided prediction of scale w is
//   out = out_uncond + w * (out_cond - out_uncond)
// (the same combination for epsilon and for v, both linear in the score):
// w = 1 is the plain conditional model, w = 0 the unconditional one, w > 1
// trades variety for agreement with the class. The two predictions come from
// one forward pass over 2N images: [x; x], [t; t], [labels; no class].
#pragma once

#include <cstdint>
#include <vector>

#include "diffusion/sampler.h"
#include "nn/unet.h"

namespace ddpm {

// The default guidance scale of ddpm-sample --class, ddpm-eval --guidance and
// a conditional run's sample grids (docs/cli.md).
inline constexpr double kDefaultGuidance = 3.0;

// The model's prediction for images whose classes are `labels` (one per
// image, each in [0, num_classes)), guided with `scale`; the sampler's batch
// must have labels.size() images. scale == 1 needs no unconditional pass (one
// forward of N images). An unconditional model refuses labels; labels empty
// means the unconditional prediction (one forward pass, scale unused).
// Throws std::invalid_argument naming a bad label or scale.
DenoiseFn guided_model(nn::UNet& model, std::vector<int64_t> labels, double scale);

// The labels of a class grid: `rows` classes (0..rows-1), `cols` images each,
// row-major (image r * cols + c is of class r).
std::vector<int64_t> class_grid_labels(int64_t rows, int64_t cols);

}  // namespace ddpm
