// Sample-quality evaluation of a diffusion model (docs/evaluation.md): draw
// images with a sampler, crop them to the data set's original size, and
// score them with the engine's classifier against a reference set. Used by
// ddpm-eval and by ddpm-train --eval-every.
#pragma once

#include <cstdint>
#include <functional>

#include "diffusion/sampler.h"
#include "diffusion/trainer.h"
#include "eval/classifier.h"
#include "eval/score.h"
#include "io/images.h"

namespace ddpm {

// Philox streams of evaluation samples: batch b draws from stream
// kEvalSamplingStream + b ("EVAL" in the high 32 bits), apart from the
// sample grids' streams::kSampling, so an evaluation never repeats the
// pictures' noise.
inline constexpr uint64_t kEvalSamplingStream = 0x4556414c00000000ull;

struct EvalSampling {
  int64_t num = 2000;     // images
  int64_t batch = 250;    // images per sampler call (the noise depends on it)
  SamplerConfig sampler;  // kind, steps, eta, prediction, seed; the stream is set per batch
  int64_t channels = 1, height = 32, width = 32;  // what the model makes
  CropBox crop;                                   // the data set's original image inside it
};

// Called after each batch with (images done, total).
using EvalProgress = std::function<void(int64_t done, int64_t total)>;

// `num` images from the model (no autograd graph), cropped, as [num, C, h, w]
// f32 on the CPU. Batch b is sample() of min(batch, num - b * batch) images
// with stream kEvalSamplingStream + b.
Tensor sample_for_eval(const NoiseScheduler& sched, const DenoiseFn& model, const EvalSampling& opt,
                       DType dtype, Device device, const EvalProgress& progress = nullptr);
// The same with a model per batch: model_for(first, count) denoises images
// [first, first + count) of the evaluation (e.g. guided towards their
// classes).
using EvalModelFn = std::function<DenoiseFn(int64_t first, int64_t count)>;
Tensor sample_for_eval_by_batch(const NoiseScheduler& sched, const EvalModelFn& model_for,
                                const EvalSampling& opt, DType dtype, Device device,
                                const EvalProgress& progress = nullptr);
// The classes of a class-balanced evaluation of n images over k classes:
// image i has class i % k.
std::vector<int64_t> balanced_labels(int64_t n, int64_t k);

// What ddpm-train --eval-every measures: `num` DDIM images with `steps` steps
// and noise `eta` from the trainer's sampling weights (EMA when on), scored
// against `reference` with `classifier`.
struct TrainingEval {
  int64_t every = 0;  // steps between evaluations; 0: off
  int64_t num = 500;
  int64_t steps = 50;
  double eta = 0.0;
  int64_t batch = 250;
  const eval::LoadedClassifier* classifier = nullptr;
  const eval::ReferenceSet* reference = nullptr;
  std::string reference_name;  // for the plot's title
};

// Scores the trainer's sampling weights as `options` says (seed: the run's;
// the live weights are put back afterwards). Precision and recall included.
eval::SampleScores evaluate_trainer(Trainer& tr, const TrainingEval& options, const CropBox& crop,
                                    int64_t height, int64_t width);

// The crop of [N, C, H, W] images to `crop` (empty: a copy), on the CPU.
Tensor crop_images(const Tensor& images, const CropBox& crop);

}  // namespace ddpm
