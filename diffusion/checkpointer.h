// The run folder of a training run (ddpm-train --out; docs/cli.md): when
// checkpoints and sample grids are due, and what each writes.
//
//   config.json             at the start
//   forward_process.png     at the start of a new run
//   loss.csv, model.safetensors, state.safetensors
//                           every checkpoint_every steps, at the last step and
//                           when the run stops on a signal
//   samples/step_NNNNNN.png, loss.png
//                           every sample_every steps and at the last step;
//                           loss.png again at the end
//   eval.csv                with --eval-every: every checkpoint (after
//                           loss.csv), holding the evaluations so far; an
//                           evaluation due at a step runs before that step's
//                           checkpoint, so a resume never repeats or loses one
//
// A step's sample grid (and loss.png) is written before its checkpoint, so a
// crash between them never loses it: the resume redoes the step and writes
// the same grid again. A checkpoint writes loss.csv first and
// state.safetensors last: whatever
// moment a crash hits, loss.csv covers at least the steps of the state a
// resume starts from. Weights that are not finite are never written over a
// good checkpoint (NonFiniteWeights). Only rank 0 writes files; every rank
// takes part in a checkpoint's check that the replicas agree (a collective).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "diffusion/evaluate.h"
#include "diffusion/trainer.h"
#include "diffusion/training_pictures.h"
#include "io/eval_csv.h"
#include "io/loss_csv.h"

namespace ddpm {

// Weights found non-finite at a checkpoint (ddpm-train exits 3, as for a
// NonFiniteError).
struct NonFiniteWeights : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// When a step (done: the steps finished so far) checkpoints and samples.
struct CheckpointCadence {
  int64_t steps = 1;             // the run ends after this step
  int64_t checkpoint_every = 1;  // > 0
  int64_t sample_every = 1;      // > 0

  // 0 for an interval means its default: steps/10 for checkpoints, steps/5
  // for samples (at least 1).
  static CheckpointCadence for_run(int64_t steps, int64_t checkpoint_every = 0, int64_t sample_every = 0);
  bool checkpoint_due(int64_t done) const { return done % checkpoint_every == 0 || done == steps; }
  bool samples_due(int64_t done) const { return done % sample_every == 0 || done == steps; }
  // eval_every: steps between evaluations (--eval-every), 0: none.
  int64_t eval_every = 0;
  bool eval_due(int64_t done) const { return eval_every > 0 && (done % eval_every == 0 || done == steps); }
};

class Checkpointer {
 public:
  struct Options {
    std::string dir;  // the run folder (existing, with samples/, on rank 0)
    CheckpointCadence cadence;
    SampleGridOptions samples;
    // The data's metadata: `meta` in state.safetensors (the run's own resume
    // file: data.spec is the absolute folder), `shared_meta` in
    // model.safetensors and config.json, the files that get shared (data.spec
    // the data set's name unless --record-data-path).
    std::map<std::string, std::string> meta, shared_meta;
    TrainingEval eval;  // used when cadence.eval_every > 0 (classifier and reference set)
    // Called on the root after each evaluation with its row and its seconds.
    std::function<void(const EvalRow&, double)> on_eval;
    // What --precision asked for, recorded in config.json's run section.
    std::string precision = "fp32";
    // Also write model-bf16.safetensors (the sampling weights in BF16) at
    // every checkpoint, after model.safetensors.
    bool export_bf16 = false;
  };
  // root: whether this rank writes files. resumed: the folder's checkpoint is
  // at tr.step_count() and its loss.csv rows before that step are kept (read
  // on the root only).
  Checkpointer(Trainer& tr, Options options, bool root, bool resumed);

  std::string state_path() const;
  std::string model_path() const;
  std::string model_bf16_path() const;  // model-bf16.safetensors (Options::export_bf16)
  // "step_000120.png" for done = 120
  static std::string sample_name(int64_t done);
  // The files (relative to the folder) after_step(done) writes on the root,
  // in the order it writes them.
  std::vector<std::string> files_after_step(int64_t done) const;

  // config.json (the configuration, the data's metadata and `run`, as
  // docs/formats.md describes), and forward_process.png of images[0] unless
  // resumed; on the root only.
  void begin(const Tensor& images, const CropBox& crop);
  // Logs one step's row (written with the next checkpoint).
  void record(const LossRow& row) { rows_.push_back(row); }
  // After a step: a checkpoint and/or the samples when due.
  void after_step(int64_t done);
  // A checkpoint of the state after `done` steps. Throws NonFiniteWeights when
  // the live or sampling weights hold a NaN or infinity, std::runtime_error
  // when the ranks' weights differ, and rethrows a failed write saying that
  // the previous checkpoint is kept.
  void checkpoint(int64_t done);
  // A checkpoint unless the last one is of step `done` (a stop on a signal).
  void checkpoint_if_new(int64_t done) {
    if (last_checkpoint_ != done) checkpoint(done);
  }
  // The sample grid of step `done` and loss.png (root only).
  void write_samples(int64_t done);
  // Evaluates the sampling weights after `done` steps and keeps the row
  // (root only; the other ranks go on and wait in the next step's all-reduce).
  void evaluate(int64_t done);
  // loss.png once more at the end of the run (root only).
  void finish();

  // The step of the last checkpoint in the folder, -1 when none was written.
  int64_t last_checkpoint() const { return last_checkpoint_; }
  const std::vector<LossRow>& rows() const { return rows_; }
  const std::vector<EvalRow>& eval_rows() const { return evals_; }
  const CheckpointCadence& cadence() const { return opt_.cadence; }

 private:
  std::string path(const std::string& name) const;
  std::string eval_title() const;

  Trainer& tr_;
  Options opt_;
  bool root_;
  bool resumed_;
  int64_t last_checkpoint_;
  std::vector<LossRow> rows_;
  std::vector<EvalRow> evals_;
};

}  // namespace ddpm
