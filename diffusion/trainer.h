// The DDPM training loop's step, and the state a checkpoint holds.
//
// One step (the seed's train_step, plus the recipe that makes a short CPU run
// produce garments: warm-up, gradient clipping, EMA):
//   x0     = the next batch of the epoch's shuffled order (drop_last)
//   t_n    = uniform_int(seed, kTimesteps, step*B + n, T)
//   x_t, target = q_sample(x0, sqrt(alphabar_t), sqrt(1-alphabar_t), noise at step*B*P)
//   loss   = mse(model(x_t, t), target)          target: eps, or v
//   g      = grad(loss) in the flat buffer; norm = ||g||; clip to grad_clip
//   lr_s   = lr * min(1, (step+1)/warmup)
//   Adam(lr_s); EMA update
// Every random number is a function of (seed, step), and the data order of
// (seed, epoch), so the state to resume is just the weights, Adam's moments,
// the EMA weights and the step number: a resumed run repeats an
// uninterrupted one bit for bit (on the CPU, for the same thread count).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "diffusion/scheduler.h"
#include "kernels/q_sample.h"
#include "nn/adam.h"
#include "nn/ema.h"
#include "nn/flat_parameters.h"
#include "nn/unet.h"

namespace ddpm {

kernels::Prediction parse_prediction(const std::string& s);
const char* prediction_name(kernels::Prediction p);

struct TrainConfig {
  nn::UNetConfig model;
  BetaSchedule schedule = BetaSchedule::linear;
  int64_t timesteps = 1000;
  kernels::Prediction prediction = kernels::Prediction::epsilon;
  int64_t batch_size = 128;
  double lr = 1e-3;
  int64_t warmup_steps = 100;
  double grad_clip = 1.0;  // 0: no clipping
  double ema_decay = 0.995;  // 0: EMA off
  double weight_decay = 0.0;
  bool adamw = false;
  uint64_t seed = 0;

  // Flat string map (model keys included) for config.json and checkpoint
  // metadata; from_map validates and names a bad or missing key.
  std::map<std::string, std::string> to_map() const;
  static TrainConfig from_map(const std::map<std::string, std::string>& m);
  void validate() const;
};

// Thrown when the loss or the gradient norm is not finite.
class NonFiniteError : public std::runtime_error {
 public:
  NonFiniteError(int64_t step, double loss, double norm);
  int64_t step;
};

class Trainer {
 public:
  // images: the whole data set [N, C, H, W], float32 in [-1, 1], on the CPU.
  Trainer(const TrainConfig& cfg, Tensor images, Device device = Device::cpu);

  struct StepResult {
    double loss, grad_norm, lr;
  };
  // One optimisation step. On a non-finite loss or gradient norm the weights
  // are left untouched and NonFiniteError is thrown (skip_nonfinite: the step
  // is counted and skipped instead, and the result says so with a NaN loss).
  StepResult step(bool skip_nonfinite = false);

  int64_t step_count() const { return step_; }
  int64_t batches_per_epoch() const { return batches_per_epoch_; }
  const TrainConfig& config() const { return cfg_; }
  const NoiseScheduler& scheduler() const { return sched_; }
  nn::UNet& model() { return *model_; }
  nn::FlatParameters& flat() { return flat_; }
  // The weights sampling should use: the EMA when on, else the live weights.
  const Tensor& sampling_weights() const;
  Device device() const { return device_; }

  // Everything needed to resume (weights, Adam moments, EMA, step), with the
  // configuration in the metadata.
  void save_state(const std::string& path, const std::map<std::string, std::string>& extra_meta = {}) const;
  // Loads a state file; throws std::runtime_error naming the file and the
  // mismatch when its configuration or tensors differ from this trainer's,
  // a tensor is not a finite float tensor, or the step counters are
  // inconsistent. The trainer is unchanged when it throws.
  void load_state(const std::string& path);
  // Testing aid (ddpm-train --debug-nan-at-step): one pixel of the batch of
  // step `step` becomes NaN, so that step's loss and gradients are NaN and
  // the non-finite handling can be tested end to end. -1 turns it off.
  void inject_nan_at_step(int64_t step) { nan_step_ = step; }

  // The sampling weights under the model's parameter names, with the
  // configuration (and extra_meta) in __metadata__.
  void save_model(const std::string& path, const std::map<std::string, std::string>& extra_meta = {}) const;

 private:
  Tensor batch_for_step(int64_t step);

  TrainConfig cfg_;
  NoiseScheduler sched_;
  Tensor images_;
  Device device_;
  std::shared_ptr<nn::UNet> model_;
  nn::FlatParameters flat_;
  std::unique_ptr<nn::Adam> adam_;
  std::unique_ptr<nn::Ema> ema_;
  int64_t step_ = 0;
  int64_t nan_step_ = -1;
  int64_t batches_per_epoch_ = 0;
  int64_t cached_epoch_ = -1;
  std::vector<int64_t> order_;
};

}  // namespace ddpm
