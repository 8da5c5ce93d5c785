// The training configuration: the model, the noise schedule, the optimiser
// settings and the seed; what config.json and a checkpoint's __metadata__
// hold (docs/formats.md). Apart from the trainer so that reading a model file
// (diffusion/model_file.h, ddpm-sample) needs no optimiser, EMA or MPI.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "diffusion/lr_schedule.h"
#include "diffusion/prediction.h"
#include "diffusion/scheduler.h"
#include "nn/unet_config.h"

namespace ddpm {

// What a model is conditioned on: nothing, a class label (model.num_classes
// classes; labels dropped to "no class" at rate cond_drop during training, so
// the same model also predicts unconditionally: classifier-free guidance),
// or an image joined to x_t as extra input channels (the seed's
// easy_conditioning; diffusion/image_condition.h makes it from the data).
enum class Conditioning { none, class_label, image };
// "none", "class" or "image"; throws std::invalid_argument naming the valid names.
Conditioning parse_conditioning(const std::string& s);
const char* conditioning_name(Conditioning c);

// What an image-conditional model completes: superres (the condition is the
// image downsampled to superres_from x superres_from and upsampled back, one
// channel per image channel) or inpaint (the image with a box masked out,
// plus the mask: one more channel).
enum class ImageTask { superres, inpaint };
// "superres" or "inpaint"; throws std::invalid_argument naming them.
ImageTask parse_image_task(const std::string& s);
const char* image_task_name(ImageTask t);
// The condition's channels for images of `in_channels`: in_channels for
// superres, in_channels + 1 for inpaint.
int64_t condition_channels(ImageTask task, int64_t in_channels);

struct TrainConfig {
  nn::UNetConfig model;
  BetaSchedule schedule = BetaSchedule::linear;
  int64_t timesteps = 1000;
  Prediction prediction = Prediction::epsilon;
  int64_t batch_size = 128;
  double lr = 1e-3;
  int64_t warmup_steps = 100;
  LrSchedule lr_schedule = LrSchedule::constant;  // after the warm-up (diffusion/lr_schedule.h)
  int64_t lr_decay_steps = 0;                     // cosine: the step where the rate reaches 0
  double grad_clip = 1.0;                         // 0: no clipping
  double ema_decay = 0.995;                       // 0: EMA off
  double weight_decay = 0.0;
  bool adamw = false;
  uint64_t seed = 0;
  Conditioning conditioning = Conditioning::none;  // class: model.num_classes > 0
  double cond_drop = 0.1;                          // class: rate of "no class" labels in training
  ImageTask task = ImageTask::superres;            // image: what the condition is
  int64_t superres_from = 8;                       // image, superres: the low resolution (pixels)

  // The learning rate of step `step` (0-based): learning_rate() above.
  double learning_rate_at(int64_t step) const;

  // Flat string map (model keys included) for config.json and checkpoint
  // metadata; from_map validates and names a bad or missing key. The keys
  // lr_schedule and lr_decay_steps may be missing (files written before
  // they existed): constant and 0; so may conditional and cond_drop: none
  // and 0.1. An image-conditional model's map also holds task and (superres)
  // superres_from; other models' maps have neither.
  std::map<std::string, std::string> to_map() const;
  static TrainConfig from_map(const std::map<std::string, std::string>& m);
  void validate() const;
};

// Throws std::invalid_argument saying why when `cfg` (an image-conditional
// configuration) cannot condition images of h x w: superres_from must be
// below h, divide it, and its factor divide w. Other configurations pass.
void check_condition_geometry(const TrainConfig& cfg, int64_t h, int64_t w);

// The superres factor f = h / superres_from, after check_condition_geometry.
int64_t superres_factor(const TrainConfig& cfg, int64_t h);

// The per-rank batch that continues a run saved with state metadata `meta`
// on world_size ranks: its global batch (batch_size x its "world_size",
// 1 when absent) divided evenly. Throws std::runtime_error saying why when
// it does not divide, or when batch_size is outside 1..65536 or world_size
// outside 1..1000000.
int64_t per_rank_batch_for_resume(const std::map<std::string, std::string>& meta, int world_size);

// v with 17 significant digits: round-trips a double through text. Any NaN
// is written "nan" (no sign).
std::string format_number(double v);

}  // namespace ddpm
