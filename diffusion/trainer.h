// The DDPM training loop's step, and the state a checkpoint holds.
//
// One step (the seed's train_step, plus the recipe that makes a short CPU run
// produce garments: warm-up, gradient clipping, EMA), with B the batch per
// rank, R ranks (dist/distributed.h; R = 1 without MPI), G = R*B the global
// batch, and r this rank:
//   rows   = the global batch k of the epoch's shuffled order (drop_last):
//            order[k*G + j], j in [0, G); rank r takes j in [r*B, (r+1)*B)
//   t_j    = uniform_int(seed, kTimesteps, step*G + j, T)
//   y_j    = (class-conditional) the row's label, or "no class" when
//            uniform(seed, kCondDrop, step*G + j) < cond_drop
//   x_t, target = q_sample(x0, sqrt(alphabar_t), sqrt(1-alphabar_t), noise at (step*G + j)*P + i)
//   c_j    = (image-conditional) the condition of x0_j (diffusion/image_condition.h;
//            an inpainting box drawn at index step*G + j)
//   loss   = mse(model(x_t, t[, y][, c]), target)     target: eps, or v
//   g      = grad(loss) in the flat buffer; all-reduced to the mean over the
//            ranks (the gradient of the mean loss over the global batch,
//            since every rank's batch has B rows); norm = ||g||; clip
//   lr_s   = lr * min(1, (step+1)/warmup), then constant or a cosine decay
//            (diffusion/lr_schedule.h)
//   Adam(lr_s); EMA update
// Every sample's image, timestep and noise depend on its index j in the
// global batch only, so R ranks of batch B see exactly what one rank of batch
// R*B sees. The reported loss is the mean over the global batch.
// Every random number is a function of (seed, step), and the data order of
// (seed, epoch), so the state to resume is just the weights, Adam's moments,
// the EMA weights and the step number: a resumed run repeats an
// uninterrupted one bit for bit (on the CPU, for the same thread and rank
// counts). All ranks hold the same state; rank 0 reads and writes it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "diffusion/train_config.h"
#include "dist/distributed.h"
#include "nn/adam.h"
#include "nn/ema.h"
#include "nn/flat_parameters.h"
#include "nn/unet.h"

namespace ddpm {

// Thrown when the loss or the gradient norm is not finite.
class NonFiniteError : public std::runtime_error {
 public:
  NonFiniteError(int64_t step, double loss, double norm);
  int64_t step;
};

class Trainer {
 public:
  // images: the whole data set [N, C, H, W], float32 in [-1, 1], on the CPU
  // (every rank holds all of it and reads its own rows). cfg.batch_size is
  // the batch of each rank. With more than one rank, the constructor is a
  // collective: the initial state is broadcast from rank 0, and it throws
  // std::runtime_error on every rank when the ranks' images differ.
  Trainer(const TrainConfig& cfg, Tensor images, Device device = Device::cpu,
          dist::Communicator& comm = dist::single_process());
  // A class-conditional model (cfg.conditioning class) trains on labels, one
  // per image in [0, cfg.model.num_classes); an unconditional one takes none.
  Trainer(const TrainConfig& cfg, Tensor images, std::vector<int64_t> labels, Device device = Device::cpu,
          dist::Communicator& comm = dist::single_process());

  struct StepResult {
    double loss, grad_norm, lr;
  };
  // One optimisation step. On a non-finite loss or gradient norm the weights
  // are left untouched and NonFiniteError is thrown (skip_nonfinite: the step
  // is counted and skipped instead, and the result says so with a NaN loss).
  StepResult step(bool skip_nonfinite = false);

  int64_t step_count() const { return step_; }
  // The class labels this rank's rows of step `step` train on: the rows'
  // labels, each replaced by "no class" (num_classes) where
  // uniform(seed, kCondDrop, step*G + j) < cond_drop; empty for an
  // unconditional model.
  std::vector<int64_t> labels_for_step(int64_t step);
  int64_t batches_per_epoch() const { return batches_per_epoch_; }
  // batch_size x ranks: the images one step trains on.
  int64_t global_batch() const { return global_batch_; }
  dist::Communicator& comm() { return *comm_; }
  const TrainConfig& config() const { return cfg_; }
  const NoiseScheduler& scheduler() const { return sched_; }
  // The whole data set [N, C, H, W] (host).
  const Tensor& images() const { return images_; }
  nn::UNet& model() { return *model_; }
  nn::FlatParameters& flat() { return flat_; }
  // The weights sampling should use: the EMA when on, else the live weights.
  const Tensor& sampling_weights() const;
  Device device() const { return device_; }

  // Everything needed to resume (weights, Adam moments, EMA, step), with the
  // configuration and the rank count ("world_size") in the metadata. Writes
  // on the calling rank: the tools call it on rank 0 only.
  void save_state(const std::string& path, const std::map<std::string, std::string>& extra_meta = {}) const;
  // Loads a state file on rank 0 and broadcasts it (a collective: the file
  // need not exist on the other ranks' machines). Throws std::runtime_error
  // naming the file and the mismatch when its configuration or tensors differ
  // from this trainer's, a tensor is not a finite float tensor, or the step
  // counters are inconsistent; the trainer is unchanged when it throws. A
  // different rank count is accepted when the global batch is the same
  // (per_rank_batch_for_resume): the run continues as the same computation,
  // up to float rounding of the gradient sum.
  void load_state(const std::string& path);
  // Testing aid (ddpm-train --debug-nan-at-step): one pixel of the batch of
  // step `step` becomes NaN, so that step's loss and gradients are NaN and
  // the non-finite handling can be tested end to end. -1 turns it off.
  void inject_nan_at_step(int64_t step) { nan_step_ = step; }
  // Makes every rank's weights, Adam moments, EMA and step rank 0's.
  void sync_from_root();
  // A collective: true when every rank holds bitwise the same weights.
  bool replicas_in_sync();
  // The sampling weights under the model's parameter names, with the
  // configuration (and extra_meta) in __metadata__.
  // dtype: f32 (what training keeps), or bf16 for a half-size export (each
  // weight rounded to nearest even; load_model reads either into f32).
  void save_model(const std::string& path, const std::map<std::string, std::string>& extra_meta = {},
                  DType dtype = DType::f32) const;

 private:
  // This rank's rows of step `step`, on the host.
  Tensor batch_for_step(int64_t step);
  // An image-conditional model's condition of those rows (host; inpainting
  // boxes from stream kInpaintMask at the rows' sample indices); undefined
  // for other models.
  Tensor condition_for_step(int64_t step, const Tensor& x0) const;
  // The data order of the epoch of `step` (cached for the current epoch).
  const std::vector<int64_t>& order_for_step(int64_t step);
  void load_state_here(const std::string& path);

  TrainConfig cfg_;
  NoiseScheduler sched_;
  Tensor coef_a_, coef_b_;  // sqrt(alphabar_t), sqrt(1 - alphabar_t) [T], float, on device_
  Tensor images_;
  std::vector<int64_t> labels_;
  Device device_;
  std::shared_ptr<nn::UNet> model_;
  dist::Communicator* comm_;
  nn::FlatParameters flat_;
  std::unique_ptr<nn::Adam> adam_;
  std::unique_ptr<nn::Ema> ema_;
  int64_t step_ = 0;
  int64_t nan_step_ = -1;
  int64_t global_batch_ = 0;
  int64_t batches_per_epoch_ = 0;
  int64_t cached_epoch_ = -1;
  std::vector<int64_t> order_;
};

}  // namespace ddpm
