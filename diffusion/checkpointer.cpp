#include "diffusion/checkpointer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "io/atomic_file.h"

namespace ddpm {

namespace fs = std::filesystem;

namespace {

// The index of the first non-finite value of a float tensor (any device), or -1.
int64_t first_nonfinite(const Tensor& t) {
  const Tensor h = t.to(Device::cpu);
  const float* p = h.data<float>();
  for (int64_t i = 0; i < h.numel(); ++i)
    if (!std::isfinite(p[i])) return i;
  return -1;
}

}  // namespace

CheckpointCadence CheckpointCadence::for_run(int64_t steps, int64_t checkpoint_every, int64_t sample_every) {
  CheckpointCadence c;
  c.steps = steps;
  c.checkpoint_every = checkpoint_every ? checkpoint_every : std::max<int64_t>(1, steps / 10);
  c.sample_every = sample_every ? sample_every : std::max<int64_t>(1, steps / 5);
  return c;
}

Checkpointer::Checkpointer(Trainer& tr, Options options, bool root, bool resumed)
    : tr_(tr),
      opt_(std::move(options)),
      root_(root),
      resumed_(resumed),
      last_checkpoint_(resumed ? tr.step_count() : -1) {
  if (resumed && root) rows_ = read_loss_csv(path("loss.csv"), tr.step_count());
  if (resumed && root && opt_.cadence.eval_every > 0)
    evals_ = read_eval_csv(path("eval.csv"), tr.step_count());
  if (root && opt_.cadence.eval_every > 0 && (!opt_.eval.classifier || !opt_.eval.reference))
    throw std::invalid_argument("Checkpointer: evaluation every " + std::to_string(opt_.cadence.eval_every) +
                                " steps needs a classifier and a reference set");
}

std::string Checkpointer::path(const std::string& name) const { return (fs::path(opt_.dir) / name).string(); }
std::string Checkpointer::state_path() const { return path("state.safetensors"); }
std::string Checkpointer::model_path() const { return path("model.safetensors"); }
std::string Checkpointer::model_bf16_path() const { return path("model-bf16.safetensors"); }

std::string Checkpointer::sample_name(int64_t done) {
  char name[64];
  std::snprintf(name, sizeof name, "step_%06lld.png", static_cast<long long>(done));
  return name;
}

std::vector<std::string> Checkpointer::files_after_step(int64_t done) const {
  std::vector<std::string> files;
  if (opt_.cadence.checkpoint_due(done)) {
    files.push_back("loss.csv");
    if (opt_.cadence.eval_every > 0) files.push_back("eval.csv");
    files.push_back("model.safetensors");
    if (opt_.export_bf16) files.push_back("model-bf16.safetensors");
    files.push_back("state.safetensors");
  }
  if (opt_.cadence.samples_due(done)) files.insert(files.end(), {"samples/" + sample_name(done), "loss.png"});
  return files;
}

void Checkpointer::begin(const Tensor& images, const CropBox& crop) {
  if (!root_) return;
  nlohmann::json cj;
  for (const auto& [k, v] : tr_.config().to_map()) cj["config"][k] = v;
  for (const auto& [k, v] : opt_.shared_meta) cj["data"][k] = v;
  cj["run"] = {{"steps", opt_.cadence.steps},
               {"device", device_name(tr_.device())},
               {"sample_every", opt_.cadence.sample_every},
               {"checkpoint_every", opt_.cadence.checkpoint_every},
               {"eval_every", opt_.cadence.eval_every},
               {"parameters", tr_.model().num_parameters()},
               {"world_size", tr_.comm().size()},
               {"precision", opt_.precision},
               {"export_bf16", opt_.export_bf16},
               {"global_batch", tr_.global_batch()}};
  write_file_atomic(path("config.json"), cj.dump(2) + "\n");
  if (!resumed_) write_forward_process(tr_, images, path("forward_process.png"), crop);
}

void Checkpointer::after_step(int64_t done) {
  // What a step shows comes before the checkpoint that marks it done: a
  // crash in between makes a resume redo the step and write it again, where
  // the other order would lose it.
  if (root_ && opt_.cadence.eval_due(done)) evaluate(done);
  if (root_ && opt_.cadence.samples_due(done)) write_samples(done);
  if (opt_.cadence.checkpoint_due(done)) checkpoint(done);
}

void Checkpointer::checkpoint(int64_t done) {
  if (!tr_.replicas_in_sync())
    throw std::runtime_error(
        "the ranks' weights differ at step " + std::to_string(tr_.step_count()) +
        " (the all-reduce did not give every rank the same bytes); not writing a checkpoint");
  if (!root_) {
    last_checkpoint_ = done;
    return;
  }
  const int64_t bad_live = first_nonfinite(tr_.flat().params());
  const int64_t bad = bad_live >= 0 ? bad_live : first_nonfinite(tr_.sampling_weights());
  if (bad >= 0)
    throw NonFiniteWeights("the weights hold a non-finite value at flat index " + std::to_string(bad) +
                           " after step " + std::to_string(done - 1) + "; they were not saved");
  try {
    write_file_atomic(path("loss.csv"), format_loss_csv(rows_));
    if (opt_.cadence.eval_every > 0) write_file_atomic(path("eval.csv"), format_eval_csv(evals_));
    tr_.save_model(model_path(), opt_.shared_meta);
    if (opt_.export_bf16) tr_.save_model(model_bf16_path(), opt_.shared_meta, DType::bf16);
    tr_.save_state(state_path(), opt_.meta);
  } catch (const std::exception& e) {
    throw std::runtime_error(
        std::string(e.what()) + "; the previous checkpoint " +
        (last_checkpoint_ >= 0 ? "(step " + std::to_string(last_checkpoint_) + ") " : "") + "in " + opt_.dir +
        " is kept");
  }
  last_checkpoint_ = done;
}

void Checkpointer::write_samples(int64_t done) {
  if (!root_) return;
  write_sample_grid(tr_, (fs::path(opt_.dir) / "samples" / sample_name(done)).string(), opt_.samples);
  write_loss_png(path("loss.png"), rows_, tr_.config().prediction, evals_, eval_title());
}

void Checkpointer::evaluate(int64_t done) {
  if (!root_) return;
  const auto t0 = std::chrono::steady_clock::now();
  const eval::SampleScores s =
      evaluate_trainer(tr_, opt_.eval, opt_.samples.crop, opt_.samples.height, opt_.samples.width);
  const EvalRow row{done, s.fd, s.is, s.precision, s.recall, s.n};
  // A resumed run may evaluate a step again: the new row replaces the old.
  while (!evals_.empty() && evals_.back().step >= done) evals_.pop_back();
  evals_.push_back(row);
  if (opt_.on_eval)
    opt_.on_eval(row, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
}

std::string Checkpointer::eval_title() const {
  return "fd of " + std::to_string(opt_.eval.num) + " ddim-" + std::to_string(opt_.eval.steps) +
         " samples vs " +
         (opt_.eval.reference_name.empty() ? std::string("the reference") : opt_.eval.reference_name);
}

void Checkpointer::finish() {
  if (root_) write_loss_png(path("loss.png"), rows_, tr_.config().prediction, evals_, eval_title());
}

}  // namespace ddpm
