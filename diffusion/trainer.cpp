#include "diffusion/trainer.h"

#include <cmath>
#include <cstring>

#include "autograd/functions.h"
#include "diffusion/image_condition.h"
#include "diffusion/model_file.h"
#include "diffusion/resume.h"
#include "diffusion/streams.h"
#include "io/data.h"
#include "io/safetensors.h"
#include "kernels/draw_timesteps.h"
#include "kernels/q_sample.h"
#include "nn/clip_grad.h"
#include "tensor/fnv1a.h"
#include "tensor/philox.h"

namespace ddpm {

NonFiniteError::NonFiniteError(int64_t s, double loss, double norm)
    : std::runtime_error("non-finite value at step " + std::to_string(s) + ": loss " + format_number(loss) +
                         ", gradient norm " + format_number(norm)),
      step(s) {}

Trainer::Trainer(const TrainConfig& cfg, Tensor images, Device device, dist::Communicator& comm)
    : Trainer(cfg, std::move(images), {}, device, comm) {}

Trainer::Trainer(const TrainConfig& cfg, Tensor images, std::vector<int64_t> labels, Device device,
                 dist::Communicator& comm)
    : cfg_(cfg),
      sched_(cfg.schedule, cfg.timesteps),
      images_(std::move(images)),
      labels_(std::move(labels)),
      device_(device),
      comm_(&comm) {
  cfg_.validate();
  if (images_.dim() != 4 || images_.dtype() != DType::f32 || images_.device() != Device::cpu)
    throw std::invalid_argument("Trainer: images must be a [N, C, H, W] f32 cpu tensor, got " +
                                images_.desc());
  if (images_.size(1) != cfg_.model.in_channels)
    throw std::invalid_argument("Trainer: the data has " + std::to_string(images_.size(1)) +
                                " channels, the model expects in_channels " +
                                std::to_string(cfg_.model.in_channels));
  if (images_.size(2) % 8 != 0 || images_.size(3) % 8 != 0)
    throw std::invalid_argument("Trainer: image size " + std::to_string(images_.size(2)) + "x" +
                                std::to_string(images_.size(3)) +
                                " is not divisible by 8 (the UNet pools 3 times)");
  if (const int64_t m = cfg_.model.size_multiple(); images_.size(2) % m != 0 || images_.size(3) % m != 0)
    throw std::invalid_argument("Trainer: image size " + std::to_string(images_.size(2)) + "x" +
                                std::to_string(images_.size(3)) + " is not divisible by " +
                                std::to_string(m) + " (the ddpm UNet's " +
                                std::to_string(cfg_.model.levels()) + " levels halve it " +
                                std::to_string(cfg_.model.levels() - 1) + " times)");
  if (cfg_.conditioning == Conditioning::class_label) {
    if (static_cast<int64_t>(labels_.size()) != images_.size(0))
      throw std::invalid_argument(
          "Trainer: a class-conditional model needs one label per image: " + std::to_string(labels_.size()) +
          " labels for " + std::to_string(images_.size(0)) + " images");
    for (size_t i = 0; i < labels_.size(); ++i)
      if (labels_[i] < 0 || labels_[i] >= cfg_.model.num_classes)
        throw std::invalid_argument("Trainer: label " + std::to_string(labels_[i]) + " of image " +
                                    std::to_string(i) + " is out of range (expected 0.." +
                                    std::to_string(cfg_.model.num_classes - 1) + ")");
  } else if (!labels_.empty()) {
    labels_.clear();  // a model without classes does not look at them
  }
  if (cfg_.conditioning == Conditioning::image) {
    try {
      check_condition_geometry(cfg_, images_.size(2), images_.size(3));
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(std::string("Trainer: ") + e.what());
    }
  }
  global_batch_ = cfg_.batch_size * comm_->size();
  batches_per_epoch_ = images_.size(0) / global_batch_;
  if (batches_per_epoch_ == 0)
    throw std::invalid_argument(
        "Trainer: batch size " + std::to_string(cfg_.batch_size) +
        (comm_->size() > 1 ? " x " + std::to_string(comm_->size()) + " ranks" : std::string()) +
        " exceeds the " + std::to_string(images_.size(0)) + " images of the data set");
  model_ = std::make_shared<nn::UNet>(cfg_.model, cfg_.seed);
  if (device_ != Device::cpu) model_->to(device_);
  flat_ = nn::FlatParameters(*model_);
  nn::AdamConfig ac;
  ac.lr = cfg_.lr;
  ac.weight_decay = cfg_.weight_decay;
  ac.decoupled = cfg_.adamw;
  adam_ = std::make_unique<nn::Adam>(flat_, ac);
  if (cfg_.ema_decay > 0) ema_ = std::make_unique<nn::Ema>(flat_, cfg_.ema_decay);
  // q_sample's coefficient tables, resident where the step runs (float, as
  // the step uses them): each step draws its timesteps and looks them up
  // there (kernels/draw_timesteps.h), with no host work or copy for them.
  std::vector<float> ta(sched_.sqrt_alphas_cumprod.size()), tb(ta.size());
  for (size_t i = 0; i < ta.size(); ++i) {
    ta[i] = static_cast<float>(sched_.sqrt_alphas_cumprod[i]);
    tb[i] = static_cast<float>(sched_.sqrt_one_minus_alphas_cumprod[i]);
  }
  const int64_t steps = static_cast<int64_t>(ta.size());
  coef_a_ = Tensor::from_vector(ta, {steps}, device_);
  coef_b_ = Tensor::from_vector(tb, {steps}, device_);
  // The initialisation is a function of the seed alone, so the ranks agree
  // already; the broadcast makes it so whatever the initialiser does.
  sync_from_root();
  // Each rank reads its rows from its own copy of the data: they must agree.
  if (comm_->size() > 1 && !comm_->all_equal(fnv1a(images_.raw_data(), images_.nbytes()) ^
                                             fnv1a(labels_.data(), labels_.size() * sizeof(int64_t))))
    throw std::runtime_error(
        "Trainer: the ranks loaded different data sets (" + images_.desc() + " on rank " +
        std::to_string(comm_->rank()) +
        "; a hash of the images differs between ranks): give every machine the same --data");
}

void Trainer::sync_from_root() {
  if (comm_->size() == 1) return;
  comm_->broadcast(flat_.params(), 0);
  comm_->broadcast(adam_->exp_avg(), 0);
  comm_->broadcast(adam_->exp_avg_sq(), 0);
  if (ema_) comm_->broadcast(ema_->weights(), 0);
  // Step counters as float64: exact below 2^53.
  const std::vector<double> counters = {static_cast<double>(step_),
                                        static_cast<double>(adam_->steps_taken())};
  Tensor steps = Tensor::from_vector(counters, {2});
  comm_->broadcast(steps, 0);
  const std::vector<double> v = steps.to_vector<double>();
  step_ = static_cast<int64_t>(v[0]);
  adam_->set_steps_taken(static_cast<int64_t>(v[1]));
  cached_epoch_ = -1;
}

bool Trainer::replicas_in_sync() {
  if (comm_->size() == 1) return true;
  const Tensor host =
      flat_.params().device() == Device::cpu ? flat_.params() : flat_.params().to(Device::cpu);
  return comm_->all_equal(fnv1a(host.raw_data(), host.nbytes()));
}

const Tensor& Trainer::sampling_weights() const { return ema_ ? ema_->weights() : flat_.params(); }

const std::vector<int64_t>& Trainer::order_for_step(int64_t s) {
  const int64_t epoch = s / batches_per_epoch_;
  if (epoch != cached_epoch_) {
    order_ = epoch_permutation(images_.size(0), cfg_.seed, epoch);
    cached_epoch_ = epoch;
  }
  return order_;
}

Tensor Trainer::batch_for_step(int64_t s) {
  const int64_t k = s % batches_per_epoch_;
  order_for_step(s);
  const int64_t B = cfg_.batch_size, first = k * global_batch_ + comm_->rank() * B;
  const int64_t per = images_.numel() / images_.size(0);
  // Gathered on the host (the data set lives there), then one host-to-device
  // copy of B*C*H*W floats per step on a GPU. Acceptable for now: a copy of
  // 0.5 MB at batch 128 of 32x32; keeping the data set on the device and
  // gathering there would remove it.
  Tensor batch = Tensor::empty({B, images_.size(1), images_.size(2), images_.size(3)});
  const float* src = images_.data<float>();
  float* dst = batch.data<float>();
  for (int64_t n = 0; n < B; ++n)
    std::memcpy(dst + n * per, src + order_[static_cast<size_t>(first + n)] * per,
                static_cast<size_t>(per) * sizeof(float));
  if (s == nan_step_) dst[0] = std::numeric_limits<float>::quiet_NaN();
  return batch;
}

Tensor Trainer::condition_for_step(int64_t s, const Tensor& x0) const {
  if (cfg_.conditioning != Conditioning::image) return {};
  Tensor masks;
  if (cfg_.task == ImageTask::inpaint) {
    const int64_t B = cfg_.batch_size;
    const uint64_t index0 = static_cast<uint64_t>(s) * static_cast<uint64_t>(global_batch_) +
                            static_cast<uint64_t>(comm_->rank()) * static_cast<uint64_t>(B);
    std::vector<MaskBox> boxes;
    for (int64_t n = 0; n < B; ++n)
      boxes.push_back(random_mask_box(x0.size(2), x0.size(3), cfg_.seed, streams::kInpaintMask,
                                      index0 + static_cast<uint64_t>(n)));
    masks = box_masks(boxes, x0.size(2), x0.size(3));
  }
  return make_condition(cfg_, x0, masks);
}

std::vector<int64_t> Trainer::labels_for_step(int64_t s) {
  if (labels_.empty()) return {};
  const int64_t B = cfg_.batch_size, k = s % batches_per_epoch_;
  const int64_t first = k * global_batch_ + comm_->rank() * B;
  const std::vector<int64_t>& order = order_for_step(s);
  const uint64_t index0 = static_cast<uint64_t>(s) * static_cast<uint64_t>(global_batch_) +
                          static_cast<uint64_t>(comm_->rank()) * static_cast<uint64_t>(B);
  std::vector<int64_t> y(static_cast<size_t>(B));
  for (int64_t n = 0; n < B; ++n) {
    const bool drop =
        cfg_.cond_drop > 0 &&
        philox::uniform(cfg_.seed, streams::kCondDrop, index0 + static_cast<uint64_t>(n)) < cfg_.cond_drop;
    y[static_cast<size_t>(n)] =
        drop ? cfg_.model.num_classes : labels_[static_cast<size_t>(order[static_cast<size_t>(first + n)])];
  }
  return y;
}

Trainer::StepResult Trainer::step(bool skip_nonfinite) {
  const int64_t B = cfg_.batch_size;
  // Index in the global sequence of samples of this rank's first row.
  const uint64_t first = static_cast<uint64_t>(step_) * static_cast<uint64_t>(global_batch_) +
                         static_cast<uint64_t>(comm_->rank()) * static_cast<uint64_t>(B);
  const Tensor host_x0 = batch_for_step(step_);
  const Tensor host_cond = condition_for_step(step_, host_x0);
  const Tensor x0 = device_ == Device::cpu ? host_x0 : host_x0.to(device_);
  const Tensor cond = !host_cond.defined() || device_ == Device::cpu ? host_cond : host_cond.to(device_);
  const std::vector<int64_t> y = labels_for_step(step_);
  const int64_t per = x0.numel() / B;
  // t and the q_sample coefficients, drawn and looked up where the step runs
  // (one launch on a GPU, where the host drew them and copied three vectors;
  // the batch's images are still gathered on the host and copied).
  const kernels::TimestepDraw draw =
      kernels::draw_timesteps(B, cfg_.seed, streams::kTimesteps, first, coef_a_, coef_b_);
  const Tensor& t = draw.t;
  const kernels::QSampleResult q =
      kernels::q_sample(x0, draw.a, draw.b, cfg_.seed, streams::kTrainNoise,
                        first * static_cast<uint64_t>(per), cfg_.prediction == Prediction::v);
  // Dropout masks (a ddpm model with dropout) drawn per step and rank, so a
  // resume draws the same ones; off again for sampling and evaluation (the
  // graph keeps the mask's counters for the backward).
  model_->set_dropout(true, cfg_.seed, streams::kDropout,
                      static_cast<uint64_t>(step_) * static_cast<uint64_t>(comm_->size()) +
                          static_cast<uint64_t>(comm_->rank()));
  const Tensor prediction = model_->forward(q.x_t, t, y, cond);
  model_->set_dropout(false);
  const Tensor loss = mse_loss(prediction, q.target);
  flat_.zero_grad();
  autograd::backward(loss);
  // The device-to-host reads of a step (the loss, then the gradient norm in
  // clip_grad_norm): the finiteness check and the clipping scale need them.
  double loss_value = loss.item();
  if (comm_->size() > 1) {
    // Each rank's loss and gradient are means over its B rows; every rank has
    // B rows, so their mean over the ranks is the mean over the global batch.
    comm_->allreduce_mean(flat_.grads());
    Tensor l = Tensor::from_vector(std::vector<double>{loss_value}, {1});
    comm_->allreduce_mean(l);
    loss_value = l.item();
  }
  const double norm = nn::clip_grad_norm(flat_.grads(), cfg_.grad_clip);
  const double lr = cfg_.learning_rate_at(step_);
  if (!std::isfinite(loss_value) || !std::isfinite(norm)) {
    if (!skip_nonfinite) throw NonFiniteError(step_, loss_value, norm);
    ++step_;
    return {loss_value, norm, lr};
  }
  // Adam and the EMA of its result in one pass over the parameters.
  if (ema_)
    adam_->step(lr, ema_->weights(), ema_->decay_at(step_));
  else
    adam_->step(lr);
  ++step_;
  return {loss_value, norm, lr};
}

void Trainer::save_state(const std::string& path,
                         const std::map<std::string, std::string>& extra_meta) const {
  std::vector<SafetensorsBlob> blobs;
  for (const auto& [name, t] : flat_.named_views(flat_.params())) blobs.push_back(safetensors_blob(name, t));
  for (const auto& [name, t] : flat_.named_views(adam_->exp_avg()))
    blobs.push_back(safetensors_blob("optim.exp_avg." + name, t));
  for (const auto& [name, t] : flat_.named_views(adam_->exp_avg_sq()))
    blobs.push_back(safetensors_blob("optim.exp_avg_sq." + name, t));
  if (ema_)
    for (const auto& [name, t] : flat_.named_views(ema_->weights()))
      blobs.push_back(safetensors_blob("ema." + name, t));
  blobs.push_back(safetensors_blob_i64("step", {step_}));
  blobs.push_back(safetensors_blob_i64("optim.step", {adam_->steps_taken()}));
  std::map<std::string, std::string> meta = cfg_.to_map();
  for (const auto& [k, v] : extra_meta) meta[k] = v;
  meta["format"] = "ddpm-engine train state v1";
  meta["world_size"] = std::to_string(comm_->size());
  save_safetensors(path, blobs, meta);
}

void Trainer::load_state(const std::string& path) {
  if (comm_->rank() == 0) load_state_here(path);
  sync_from_root();
}

void Trainer::load_state_here(const std::string& path) {
  const SafetensorsFile f = load_safetensors(path);
  const auto meta = f.metadata();
  require_train_state_format(meta, path);
  TrainConfig saved;
  try {
    saved = TrainConfig::from_map(meta);
  } catch (const std::exception& e) {
    throw std::runtime_error(path + ": bad __metadata__: " + e.what());
  }
  const auto mine = cfg_.to_map(), theirs = saved.to_map();
  // Saved on another rank count: the global batch must match (batch_size
  // then differs); on the same count batch_size is compared below.
  const bool other_world =
      meta.count("world_size") ? meta.at("world_size") != std::to_string(comm_->size()) : comm_->size() != 1;
  int64_t resume_batch = cfg_.batch_size;
  try {
    if (other_world) resume_batch = per_rank_batch_for_resume(meta, comm_->size());
  } catch (const std::exception& e) {
    throw std::runtime_error(path + ": " + e.what());
  }
  if (resume_batch != cfg_.batch_size)
    throw std::runtime_error(
        path + ": the checkpoint's global batch is " + std::to_string(resume_batch * comm_->size()) +
        ", this run's is " + std::to_string(global_batch_) + " (" + std::to_string(comm_->size()) +
        " rank(s) x " + std::to_string(cfg_.batch_size) + "); with " + std::to_string(comm_->size()) +
        " rank(s) the batch size per rank must be " + std::to_string(resume_batch));
  for (const auto& [k, v] : mine) {
    if (k == "batch_size" && other_world) continue;  // compared as the global batch above
    if (theirs.at(k) != v)
      throw std::runtime_error(path + ": the checkpoint was trained with " + k + "=" + theirs.at(k) +
                               ", this run asks for " + k + "=" + v +
                               " (drop the flag to continue with the checkpoint's value)");
  }
  std::vector<std::pair<std::string, Shape>> expected;
  for (const auto& sl : flat_.slices()) {
    expected.emplace_back(sl.name, sl.shape);
    expected.emplace_back("optim.exp_avg." + sl.name, sl.shape);
    expected.emplace_back("optim.exp_avg_sq." + sl.name, sl.shape);
    if (ema_) expected.emplace_back("ema." + sl.name, sl.shape);
  }
  expected.emplace_back("step", Shape{1});
  expected.emplace_back("optim.step", Shape{1});
  require_names(f, expected);

  // Read and check everything before touching this trainer, so a bad file
  // leaves it as it was.
  const int64_t s = f.int64s("step").at(0), os = f.int64s("optim.step").at(0);
  if (s < 0 || os < 0 || os > s)
    throw std::runtime_error(path + ": step counters step=" + std::to_string(s) +
                             ", optim.step=" + std::to_string(os) + ", expected 0 <= optim.step <= step");
  std::vector<std::pair<Tensor, Tensor>> copies;  // (destination view, value)
  auto read_into = [&](const Tensor& buffer, const std::string& prefix) {
    for (auto& [name, view] : flat_.named_views(buffer))
      copies.emplace_back(view, read_weights(f, prefix + name));
  };
  read_into(flat_.params(), "");
  read_into(adam_->exp_avg(), "optim.exp_avg.");
  read_into(adam_->exp_avg_sq(), "optim.exp_avg_sq.");
  if (ema_) read_into(ema_->weights(), "ema.");
  for (auto& [view, value] : copies) view.copy_(value);
  step_ = s;
  adam_->set_steps_taken(os);
  cached_epoch_ = -1;
}

void Trainer::save_model(const std::string& path, const std::map<std::string, std::string>& extra_meta,
                         DType dtype) const {
  if (dtype != DType::f32 && dtype != DType::bf16)
    throw std::invalid_argument(std::string("Trainer::save_model: dtype ") + dtype_name(dtype) +
                                ", expected f32 or bf16");
  std::vector<SafetensorsBlob> blobs;
  for (const auto& [name, t] : flat_.named_views(sampling_weights()))
    blobs.push_back(safetensors_blob(name, dtype == DType::f32 ? t : t.to(dtype)));
  std::map<std::string, std::string> meta = cfg_.to_map();
  for (const auto& [k, v] : extra_meta) meta[k] = v;
  meta["format"] = "ddpm-engine model v1";
  meta["weights"] = ema_ ? "ema" : "raw";
  meta["weights_dtype"] = dtype_name(dtype);
  meta["step"] = std::to_string(step_);
  save_safetensors(path, blobs, meta);
}

}  // namespace ddpm
