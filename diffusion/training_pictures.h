// The pictures a training run writes into its folder (docs/cli.md): sample
// grids during training, the forward process once at the start, and the loss
// curve.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "diffusion/prediction.h"
#include "diffusion/trainer.h"
#include "io/eval_csv.h"
#include "io/images.h"
#include "io/loss_csv.h"

namespace ddpm {

// What a sample grid shows: `num` images of h x w from `steps` DDIM steps
// (at most T) with noise `eta`, cropped to `crop`, ceil(sqrt(num)) per row.
// A class-conditional model's grid is a class grid instead: one row per
// class, ceil(num / classes) images each, guided with `guidance`
// (diffusion/guidance.h). An image-conditional model's grid shows the
// completions of the data set's first min(num / 3, 8) images (centre boxes
// for inpainting): condition, sample, original, two triplets per row.
struct SampleGridOptions {
  int64_t num = 64;
  int64_t steps = 50;
  double eta = 1.0;
  CropBox crop;
  int64_t height = 0, width = 0;
  double guidance = 3.0;  // kDefaultGuidance
};

// Samples a grid with the trainer's sampling weights (EMA when on; the
// sampling stream of its seed, so the same step gives the same picture),
// then puts the live weights back.
void write_sample_grid(Trainer& tr, const std::string& path, const SampleGridOptions& options);

// The seed's visualize_forward_process: images[0] noised at t = 0, T/4, T/2,
// 3T/4, T-1 (0, 250, 500, 750, 999 for T = 1000), one row, the same noise in
// every column so the picture shows the schedule alone.
void write_forward_process(const Trainer& tr, const Tensor& images, const std::string& path,
                           const CropBox& crop);

// The loss curve of `rows`, titled with what the network predicts; with
// evaluation rows (--eval-every) a second panel below shows the Fréchet
// distance over the same steps, titled `eval_title`.
void write_loss_png(const std::string& path, const std::vector<LossRow>& rows, Prediction prediction,
                    const std::vector<EvalRow>& evals = {}, const std::string& eval_title = "");

}  // namespace ddpm
