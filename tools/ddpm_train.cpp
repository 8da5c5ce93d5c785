// ddpm-train: train a DDPM UNet on Fashion-MNIST (or MNIST, or a folder of
// PNGs), writing checkpoints, sample grids and the loss curve into a run folder.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "diffusion/checkpointer.h"
#include "diffusion/image_condition.h"
#include "diffusion/resume.h"
#include "diffusion/stop_signal.h"
#include "diffusion/trainer.h"
#include "dist/distributed.h"
#include "eval/classifier.h"
#include "io/atomic_file.h"
#include "io/data.h"
#include "io/stale_temporaries.h"
#include "kernels/precision.h"
#include "tools/common.h"

#ifdef _OPENMP
#include <omp.h>
#endif

using namespace ddpm;
namespace fs = std::filesystem;

namespace {

// v as %g would print it, except that any NaN is "nan" (its sign means nothing).
std::string short_number(double v) {
  if (std::isnan(v)) return "nan";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// "simple", or "ddpm 1,2,2 x2, attention 16,8, 32 channels per head" (plus
// dropout and cross-attention when on) for the log.
std::string arch_summary(const nn::UNetConfig& m) {
  if (m.arch != nn::UNetArch::ddpm) return "simple";
  const std::string attn =
      m.attention_resolutions.empty() ? "middle only" : nn::format_int_list(m.attention_resolutions);
  return "ddpm " + nn::format_int_list(m.channel_mult) + " x" + std::to_string(m.num_res_blocks) +
         ", attention " + attn + ", " + std::to_string(m.head_channels) + " channels per head" +
         (m.dropout > 0 ? ", dropout " + std::to_string(m.dropout).substr(0, 5) : "") +
         (m.cross_attention_tokens > 0
              ? ", cross-attention to " + std::to_string(m.cross_attention_tokens) + " class tokens"
              : "");
}

int run(int argc, char** argv) {
  CLI::App app{"ddpm-train: train a denoising diffusion model (DDPM) without Python"};
  app.option_defaults()->always_capture_default();
  TrainConfig cfg;
  cfg.model.base_channels = 32;
  cfg.model.time_embed_dim = 128;
  cfg.model.time_embedding = nn::TimeEmbedding::sinusoidal;
  std::string data = "fashion-mnist", out = "runs/fashion-mnist", device_flag = "auto", schedule = "linear",
              prediction = "epsilon", time_embedding = "sinusoidal", lr_schedule = "constant";
  int64_t steps = 0, sample_every = 0, checkpoint_every = 0, sample_num = 64, sample_steps = 50, threads = 0;
  int64_t debug_nan_at_step = -1;
  double sample_eta = 1.0;
  bool resume = false, skip_nonfinite = false, record_data_path = false;
  auto* o_data = app.add_option("--data", data,
                                "fashion-mnist (Debian's dataset-fashion-mnist), a folder of IDX files "
                                "((Fashion-)MNIST names), or a folder of PNG images of one size");
  app.add_option("--out", out,
                 "run folder: config.json, loss.csv, model.safetensors, state.safetensors, PNGs");
  auto* o_steps = app.add_option("--steps", steps, "optimisation steps")
                      ->check(CLI::Range(int64_t{1}, int64_t{100000000}))
                      ->default_str("4500 on the CPU, 20000 on a GPU");
  std::vector<std::pair<CLI::Option*, std::string>> cfg_opts;  // flag -> config key
  auto* o_batch =
      app.add_option("--batch-size", cfg.batch_size,
                     "images per step on each rank (under mpirun the global batch is ranks x this)")
          ->check(CLI::Range(int64_t{1}, int64_t{65536}))
          ->default_str("32 on the CPU, 128 on a GPU");
  cfg_opts.emplace_back(o_batch, "batch_size");
  cfg_opts.emplace_back(app.add_option("--lr", cfg.lr, "Adam learning rate (after warm-up)")
                            ->check(tools::finite_range(1e-8, 1.0)),
                        "lr");
  cfg_opts.emplace_back(app.add_option("--warmup", cfg.warmup_steps, "linear learning-rate warm-up steps")
                            ->check(CLI::Range(int64_t{0}, int64_t{100000000})),
                        "warmup_steps");
  cfg_opts.emplace_back(app.add_option("--lr-schedule", lr_schedule,
                                       "learning rate after the warm-up: constant, or cosine (decays to 0 at "
                                       "the first run's --steps)")
                            ->check(CLI::IsMember({"constant", "cosine"})),
                        "lr_schedule");
  cfg_opts.emplace_back(
      app.add_option("--grad-clip", cfg.grad_clip, "clip the global gradient norm to this (0: off)")
          ->check(tools::finite_range(0.0, 1e12)),
      "grad_clip");
  cfg_opts.emplace_back(
      app.add_option("--weight-decay", cfg.weight_decay, "weight decay (L2 for Adam, decoupled with --adamw)")
          ->check(tools::finite_range(0.0, 0.999)),
      "weight_decay");
  cfg_opts.emplace_back(app.add_flag("--adamw", cfg.adamw, "decoupled weight decay (AdamW)"), "adamw");
  cfg_opts.emplace_back(
      app.add_option("--schedule", schedule, "beta schedule: linear, cosine, quadratic or sigmoid")
          ->check(CLI::IsMember({"linear", "cosine", "quadratic", "sigmoid"})),
      "schedule");
  cfg_opts.emplace_back(app.add_option("--timesteps", cfg.timesteps, "diffusion steps T")
                            ->check(CLI::Range(int64_t{2}, int64_t{100000})),
                        "timesteps");
  auto* o_base = app.add_option("--base-channels", cfg.model.base_channels,
                                "UNet width (channels of the first block; a multiple of 8)")
                     ->check(CLI::Range(int64_t{8}, int64_t{1024}))
                     ->default_str("24 on the CPU, 32 on a GPU or with --arch ddpm");
  cfg_opts.emplace_back(o_base, "base_channels");
  auto* o_time_embed_dim =
      app.add_option("--time-embed-dim", cfg.model.time_embed_dim, "width of the time embedding")
          ->check(CLI::Range(int64_t{4}, int64_t{4096}))
          ->default_str("128; 4 x --base-channels with --arch ddpm");
  cfg_opts.emplace_back(o_time_embed_dim, "time_embed_dim");
  cfg_opts.emplace_back(
      app.add_option("--time-embedding", time_embedding, "sinusoidal, or linear (the seed's MLP on t/1000)")
          ->check(CLI::IsMember({"linear", "sinusoidal"})),
      "time_embedding");
  std::string arch = "simple", channel_mult = "1,2,2", attention_resolutions = "16,8";
  auto* o_arch =
      app.add_option("--arch", arch,
                     "UNet layout: simple (the seed's SimpleUNet: three conv blocks each way) or ddpm "
                     "(diffusers' UNet2DModel layout: ResBlocks, self-attention, channel multipliers)")
          ->check(CLI::IsMember({"simple", "ddpm"}));
  cfg_opts.emplace_back(o_arch, "arch");
  auto* o_channel_mult =
      app.add_option("--channel-mult", channel_mult,
                     "with --arch ddpm: channels of each level as multiples of --base-channels (e.g. 1,2,2: "
                     "three levels, each but the last followed by a stride-2 downsampling)");
  cfg_opts.emplace_back(o_channel_mult, "channel_mult");
  auto* o_num_res_blocks = app.add_option("--num-res-blocks", cfg.model.num_res_blocks,
                                          "with --arch ddpm: ResBlocks per level (one more on the way up)")
                               ->check(CLI::Range(int64_t{1}, int64_t{16}));
  cfg_opts.emplace_back(o_num_res_blocks, "num_res_blocks");
  auto* o_attention_resolutions = app.add_option(
      "--attention-resolutions", attention_resolutions,
      "with --arch ddpm: the levels with self-attention, as their feature-map sizes for a 32x32 "
      "input (16,8: the 2nd and 3rd levels, whatever the image size; \"\" for none; the "
      "middle block always has attention)");
  cfg_opts.emplace_back(o_attention_resolutions, "attention_resolutions");
  auto* o_head_channels =
      app.add_option("--head-channels", cfg.model.head_channels,
                     "with --arch ddpm: channels per attention head (heads = a level's channels / this)")
          ->check(CLI::Range(int64_t{1}, int64_t{4096}));
  cfg_opts.emplace_back(o_head_channels, "head_channels");
  auto* o_dropout =
      app.add_option("--dropout", cfg.model.dropout,
                     "with --arch ddpm: dropout rate in the ResBlocks while training, in [0, 1)")
          ->check(CLI::Range(0.0, 0.999));
  cfg_opts.emplace_back(o_dropout, "dropout");
  auto* o_cross_attention_tokens =
      app.add_option("--cross-attention-tokens", cfg.model.cross_attention_tokens,
                     "with --arch ddpm and --conditional class: every attention block also attends to T "
                     "learned tokens of the image's class (0: off)")
          ->check(CLI::Range(int64_t{0}, int64_t{64}));
  cfg_opts.emplace_back(o_cross_attention_tokens, "cross_attention_tokens");
  auto* o_prediction =
      app.add_option("--prediction", prediction, "what the network predicts: epsilon (the seed) or v")
          ->check(CLI::IsMember({"epsilon", "v"}))
          ->default_str("v on the CPU, epsilon on a GPU");
  cfg_opts.emplace_back(o_prediction, "prediction");
  cfg_opts.emplace_back(
      app.add_option("--ema-decay", cfg.ema_decay,
                     "EMA of the weights for sampling, warmed up as min(D, (1+s)/(10+s)) at "
                     "step s (0 turns it off)")
          ->check(tools::finite_range(0.0, 0.999999)),
      "ema_decay");
  std::string conditional = "none";
  cfg_opts.emplace_back(
      app.add_option(
             "--conditional", conditional,
             "none; class: a class-conditional model (labels from the IDX label files or from the "
             "class sub-folders of a PNG folder) that ddpm-sample --class guides; image: a model that "
             "completes a condition image (--task), which ddpm-sample --cond takes")
          ->check(CLI::IsMember({"none", "class", "image"})),
      "conditional");
  std::string task;
  auto* o_task = app.add_option("--task", task,
                                "with --conditional image: superres (complete a low-resolution image) or "
                                "inpaint (fill a masked box)")
                     ->check(CLI::IsMember({"superres", "inpaint"}));
  cfg_opts.emplace_back(o_task, "task");
  auto* o_superres_from =
      app.add_option(
             "--superres-from", cfg.superres_from,
             "with --task superres: the low resolution in pixels (the image's height is a multiple of "
             "it); the condition is the image averaged down to it and upsampled back")
          ->check(CLI::Range(int64_t{1}, int64_t{4096}));
  cfg_opts.emplace_back(o_superres_from, "superres_from");
  auto* o_cond_drop =
      app.add_option("--cond-drop", cfg.cond_drop,
                     "with --conditional class: the rate at which training replaces a label by \"no class\", "
                     "so one model also predicts unconditionally (classifier-free guidance)")
          ->check(tools::finite_range(0.0, 0.99));
  cfg_opts.emplace_back(o_cond_drop, "cond_drop");
  cfg_opts.emplace_back(app.add_option("--seed", cfg.seed, "random seed (weights, data order, noise)")
                            ->check(tools::unsigned_integer()),
                        "seed");
  app.add_option("--device", device_flag, "auto, cpu or cuda")->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  std::string precision_flag = "fp32";
  bool export_bf16 = false;
  app.add_option("--precision", precision_flag,
                 "fp32; tf32 (GPU: convolutions and GEMMs on TF32 tensor cores, FP32 storage; the CPU runs "
                 "FP32); bf16 (convolutions on BF16 operands with FP32 accumulation and FP32 weights: AMX or "
                 "AVX512-BF16 where the CPU has them, BF16 tensor cores on the GPU)")
      ->check(CLI::IsMember({"fp32", "tf32", "bf16"}))
      ->capture_default_str();
  app.add_flag("--export-bf16", export_bf16,
               "at every checkpoint also write model-bf16.safetensors: the sampling weights in BF16, half "
               "the size (ddpm-sample and ddpm-eval read it like model.safetensors)");
  app.add_flag("--resume", resume, "continue the run in --out from its state.safetensors");
  app.add_flag("--record-data-path", record_data_path,
               "write --data's absolute path into model.safetensors and config.json too (default: the data "
               "set's name only; state.safetensors always keeps the path, for --resume)");
  app.add_option("--sample-every", sample_every, "write samples/step_NNNNNN.png every N steps")
      ->check(CLI::Range(int64_t{1}, int64_t{100000000}))
      ->default_str("steps/5");
  app.add_option("--sample-steps", sample_steps, "DDIM steps for the sample grids")
      ->check(CLI::Range(int64_t{1}, int64_t{100000}));
  app.add_option("--sample-eta", sample_eta,
                 "DDIM eta for the sample grids (1: ancestral noise, which early in training gives cleaner "
                 "images than the deterministic 0)")
      ->check(tools::finite_range(0.0, 1.0));
  app.add_option("--sample-num", sample_num, "images per sample grid")
      ->check(CLI::Range(int64_t{1}, int64_t{1024}));
  app.add_option("--checkpoint-every", checkpoint_every,
                 "write state.safetensors and model.safetensors every N steps")
      ->check(CLI::Range(int64_t{1}, int64_t{100000000}))
      ->default_str("steps/10");
  int64_t eval_every = 0, eval_num = 500, eval_steps = 50;
  std::string classifier_path;
  app.add_option("--eval-every", eval_every,
                 "every N steps (and at the last), score eval-num DDIM samples with the classifier (FD, IS, "
                 "precision, recall: eval.csv and a second panel in loss.png)")
      ->check(CLI::Range(int64_t{1}, int64_t{100000000}))
      ->default_str("off");
  auto* o_eval_num = app.add_option("--eval-num", eval_num, "images per evaluation")
                         ->check(CLI::Range(int64_t{2}, int64_t{100000}));
  auto* o_eval_steps = app.add_option("--eval-steps", eval_steps, "DDIM steps (eta 0) per evaluation image")
                           ->check(CLI::Range(int64_t{1}, int64_t{100000}));
  auto* o_classifier =
      app.add_option("--classifier", classifier_path, "classifier for --eval-every (ddpm-classify train)")
          ->default_str(eval::default_classifier_path());
  app.add_flag("--skip-nonfinite", skip_nonfinite,
               "skip a step whose loss or gradient norm is not finite instead of stopping");
  app.add_option("--threads", threads,
                 "CPU threads (under mpirun: by default the cores / the ranks on the machine)")
      ->check(CLI::Range(int64_t{1}, int64_t{1024}))
      ->default_str("all cores");
  double dist_timeout = 600;
  app.add_option("--dist-timeout", dist_timeout,
                 "under mpirun: seconds a rank waits for the others before it stops the job (0: forever)")
      ->check(CLI::Range(0.0, 1e9));
  // Testing aid (docs/cli.md): poisons one step's batch, so the handling of
  // a non-finite loss can be tested end to end.
  app.add_option("--debug-nan-at-step", debug_nan_at_step,
                 "put a NaN into the batch of step N (0-based), to test the non-finite handling")
      ->check(CLI::Range(int64_t{0}, int64_t{100000000}))
      ->default_str("off")
      ->group("Testing aids");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return tools::usage_exit(app, e);
  }
  if (eval_every == 0)
    for (CLI::Option* o : {o_eval_num, o_eval_steps, o_classifier})
      if (o->count())
        throw std::invalid_argument(o->get_name() + " applies to --eval-every, which is not given");
  cfg.schedule = parse_beta_schedule(schedule);
  cfg.prediction = parse_prediction(prediction);
  cfg.lr_schedule = parse_lr_schedule(lr_schedule);
  cfg.conditioning = parse_conditioning(conditional);
  if (o_task->count()) cfg.task = parse_image_task(task);
  // --task or --superres-from alone on a resume imply an image-conditional
  // run, so the comparison with the checkpoint names them.
  if (resume && (o_task->count() || o_superres_from->count())) cfg.conditioning = Conditioning::image;
  cfg.model.time_embedding = nn::parse_time_embedding(time_embedding);
  // The ddpm layout's flags; on a resume they alone imply --arch ddpm (as
  // --task implies --conditional image), so the comparison with the
  // checkpoint names them.
  const std::vector<CLI::Option*> ddpm_opts = {o_channel_mult,  o_num_res_blocks, o_attention_resolutions,
                                               o_head_channels, o_dropout,        o_cross_attention_tokens};
  cfg.model.arch = nn::parse_unet_arch(arch);
  for (CLI::Option* o : ddpm_opts)
    if (o->count() && cfg.model.arch != nn::UNetArch::ddpm) {
      if (!resume || o_arch->count()) throw std::invalid_argument(o->get_name() + " applies to --arch ddpm");
      cfg.model.arch = nn::UNetArch::ddpm;
    }
  cfg.model.channel_mult = nn::parse_int_list(channel_mult, "--channel-mult");
  cfg.model.attention_resolutions = nn::parse_int_list(attention_resolutions, "--attention-resolutions");
  if (cfg.model.time_embedding == nn::TimeEmbedding::sinusoidal && cfg.model.time_embed_dim % 2 != 0)
    throw std::invalid_argument("--time-embed-dim " + std::to_string(cfg.model.time_embed_dim) +
                                ": the sinusoidal embedding needs an even width");
  // Under mpirun: one process per rank (docs/distributed.md); rank 0 alone
  // writes files and logs.
  dist::Communicator& comm = dist::world();
  const bool root = comm.rank() == 0;
  comm.set_timeout(dist_timeout);
  const Device device = tools::resolve_device(device_flag);
  // Before anything is read or created.
  const std::string precision_note =
      kernels::apply_precision(kernels::parse_precision(precision_flag), device);
  if (root && !precision_note.empty()) std::fprintf(stderr, "ddpm-train: %s\n", precision_note.c_str());
  if (device == Device::cuda) dist::select_local_gpu(comm);
  // Defaults by device. The CPU's are tuned for sample quality (FD) in the
  // quick start's ~14 minutes on a 2-core CPU (docs/evaluation.md, "Tuning
  // the quick start"); the GPU's are the recipe of the GPU runs.
  const bool on_cpu = device == Device::cpu;
  if (!o_steps->count()) steps = on_cpu ? 4500 : 20000;
  if (!o_batch->count()) cfg.batch_size = on_cpu ? 32 : 128;
  // --arch ddpm: 32 on the CPU too, so that the default 32 channels per
  // attention head divide every level (24 x 2 = 48 would not).
  if (!o_base->count()) cfg.model.base_channels = on_cpu && cfg.model.arch != nn::UNetArch::ddpm ? 24 : 32;
  if (!o_prediction->count()) cfg.prediction = on_cpu ? Prediction::v : Prediction::epsilon;
  if (cfg.model.base_channels % cfg.model.groups != 0)
    throw std::invalid_argument("--base-channels " + std::to_string(cfg.model.base_channels) +
                                ": expected a multiple of " + std::to_string(cfg.model.groups) +
                                " (every GroupNorm has " + std::to_string(cfg.model.groups) + " groups)");
  if (cfg.model.arch == nn::UNetArch::ddpm && !resume) {
    if (!o_time_embed_dim->count()) cfg.model.time_embed_dim = 4 * cfg.model.base_channels;
    if (cfg.model.time_embedding != nn::TimeEmbedding::sinusoidal)
      throw std::invalid_argument(
          "--time-embedding " + time_embedding +
          ": --arch ddpm embeds time with the sinusoid only (linear is the simple arch's)");
    if (cfg.model.cross_attention_tokens > 0 && cfg.conditioning != Conditioning::class_label)
      throw std::invalid_argument(
          "--cross-attention-tokens " + std::to_string(cfg.model.cross_attention_tokens) +
          " attends to class tokens: it applies to --conditional class (this run is --conditional " +
          conditioning_name(cfg.conditioning) + ")");
    try {
      // The classes are counted when the data is loaded; any count will do
      // for the layout's checks.
      nn::UNetConfig check = cfg.model;
      if (cfg.conditioning == Conditioning::class_label) check.num_classes = 1;
      check.validate();
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(std::string("--arch ddpm: ") + e.what());
    }
  }
  if (cfg.lr_schedule == LrSchedule::cosine && !resume) {
    if (steps <= cfg.warmup_steps)
      throw std::invalid_argument(
          "--lr-schedule cosine decays from the end of the warm-up to --steps: --steps " +
          std::to_string(steps) + " must exceed --warmup " + std::to_string(cfg.warmup_steps));
    cfg.lr_decay_steps = steps;
  }
#ifdef _OPENMP
  if (threads == 0 && comm.local_size() > 1 && !std::getenv("OMP_NUM_THREADS"))
    threads = std::max(1, omp_get_num_procs() / comm.local_size());
  if (threads > 0) omp_set_num_threads(static_cast<int>(threads));
#endif

  // Everything is checked before anything is created: a refused start leaves
  // the file system as it was.
  const fs::path dir(out);
  const std::string state_path = (dir / "state.safetensors").string();
  if (root) tools::check_directory_path("--out", out);
  Metadata saved_meta;  // the checkpoint's, on every rank
  if (resume) {
    saved_meta = read_resume_metadata(state_path, comm);
    std::vector<GivenFlag> given;
    for (const auto& [o, key] : cfg_opts)
      if (o->count()) given.push_back({o->get_name(), key});
    cfg = merge_resume_config(cfg, given, saved_meta, comm.size(), state_path);
    if (root && cfg.lr_schedule == LrSchedule::cosine && steps > cfg.lr_decay_steps)
      std::fprintf(
          stderr,
          "ddpm-train: warning: the cosine learning rate of this run reaches 0 at step %lld (its first "
          "--steps); the steps after it train at learning rate 0\n",
          static_cast<long long>(cfg.lr_decay_steps));
    data = resume_data_spec(data, o_data->count() > 0, saved_meta);
  } else if (root) {
    refuse_existing_run(out);
  }
  if (o_cond_drop->count() && cfg.conditioning != Conditioning::class_label)
    throw std::invalid_argument(
        "--cond-drop applies to --conditional class (this run is " +
        std::string(cfg.conditioning == Conditioning::image ? "image-conditional)" : "unconditional)"));
  const bool image_cond = cfg.conditioning == Conditioning::image;
  if (image_cond && !resume && !o_task->count())
    throw std::invalid_argument("--conditional image needs --task superres or --task inpaint");
  if (!image_cond && o_task->count())
    throw std::invalid_argument("--task applies to --conditional image (this run is " +
                                std::string(conditioning_name(cfg.conditioning)) + ")");
  if (o_superres_from->count() && !(image_cond && cfg.task == ImageTask::superres))
    throw std::invalid_argument("--superres-from applies to --conditional image --task superres");
  if (image_cond && eval_every > 0)
    throw std::invalid_argument(
        "--eval-every scores unconditional and class-conditional models; an image-conditional model's "
        "completions are shown in its sample grids (and ddpm-sample --cond reports their error)");

  const ImageDataset ds = resolve_dataset(data);
  if (root)
    std::fprintf(stderr, "ddpm-train: %s: %lld images %lldx%lldx%lld (padded to %lldx%lld)\n",
                 ds.source.c_str(), static_cast<long long>(ds.images.size(0)),
                 static_cast<long long>(ds.images.size(1)), static_cast<long long>(ds.orig_height),
                 static_cast<long long>(ds.orig_width), static_cast<long long>(ds.images.size(2)),
                 static_cast<long long>(ds.images.size(3)));
  const bool class_cond = cfg.conditioning == Conditioning::class_label;
  if (class_cond) {
    if (ds.labels.empty())
      throw std::invalid_argument("--conditional class: --data '" + data +
                                  "' has no labels (a PNG folder is labelled when its images sit in one "
                                  "sub-folder per class)");
    const auto k = static_cast<int64_t>(ds.class_names.size());
    if (!resume) cfg.model.num_classes = k;
    if (cfg.model.num_classes != k)
      throw std::runtime_error("--resume: --data '" + data + "' has " + std::to_string(k) +
                               " classes, the checkpoint's model " + std::to_string(cfg.model.num_classes));
  }
  Metadata meta = dataset_metadata(ds, class_cond);
  // What --data said, so a resume without --data finds the same data; a
  // folder as an absolute path, so it works from another working folder.
  meta["data.spec"] = data == "fashion-mnist" ? data : fs::absolute(data).lexically_normal().string();
  if (resume) check_resume_data(meta, saved_meta, data, state_path);
  if (cfg.batch_size > ds.size())
    throw std::invalid_argument("--batch-size " + std::to_string(cfg.batch_size) + " exceeds the " +
                                std::to_string(ds.size()) + " images of --data '" + data + "'");
  if (ds.images.size(1) != cfg.model.in_channels) {
    if (resume)
      throw std::runtime_error("--resume: --data '" + data + "' has " + std::to_string(ds.images.size(1)) +
                               " channel(s), the checkpoint's model takes " +
                               std::to_string(cfg.model.in_channels));
    cfg.model.in_channels = ds.images.size(1);
  }
  if (image_cond) {
    cfg.model.cond_channels = condition_channels(cfg.task, cfg.model.in_channels);
    try {
      check_condition_geometry(cfg, ds.images.size(2), ds.images.size(3));
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(std::string("--superres-from: ") + e.what() + " (--data '" + data +
                                  "' is padded to " + std::to_string(ds.images.size(2)) + "x" +
                                  std::to_string(ds.images.size(3)) + ")");
    }
  }
  // The classifier and the reference statistics (computed once and cached
  // beside the classifier) before anything is created; rank 0 evaluates.
  eval::LoadedClassifier classifier;
  eval::ReferenceSet reference;
  if (root && eval_every > 0) {
    if (classifier_path.empty()) classifier_path = eval::default_classifier_path();
    classifier = eval::load_classifier(classifier_path, device);
    const int64_t h = ds.orig_height, w = ds.orig_width;
    if (ds.images.size(1) != classifier.channels || h != classifier.height || w != classifier.width)
      throw std::invalid_argument("--eval-every: --data '" + data + "' holds " +
                                  std::to_string(ds.images.size(1)) + "x" + std::to_string(h) + "x" +
                                  std::to_string(w) + " images; the classifier " + classifier_path +
                                  " takes " + std::to_string(classifier.channels) + "x" +
                                  std::to_string(classifier.height) + "x" + std::to_string(classifier.width));
    reference = eval::reference_set(classifier, classifier_path, data, "test");
    std::fprintf(stderr,
                 "ddpm-train: evaluating every %lld steps: %lld DDIM-%lld samples vs %s test (%lld images)\n",
                 static_cast<long long>(eval_every), static_cast<long long>(eval_num),
                 static_cast<long long>(eval_steps), data.c_str(), static_cast<long long>(reference.stats.n));
  }
  std::unique_ptr<Trainer> trainer;
  try {
    trainer = std::make_unique<Trainer>(cfg, ds.images, ds.labels, device, comm);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument("--data '" + data + "': " + e.what());
  }
  Trainer& tr = *trainer;
  if (debug_nan_at_step >= 0) tr.inject_nan_at_step(debug_nan_at_step);
  if (resume) tr.load_state(state_path);
  const int64_t start = tr.step_count();
  if (start >= steps) {
    if (root)
      std::fprintf(
          stderr,
          "ddpm-train: the run in %s is already at step %lld of %lld: nothing to do (raise --steps to "
          "train further)\n",
          dir.c_str(), static_cast<long long>(start), static_cast<long long>(steps));
    return 0;
  }

  // Now the run folder: created (with samples/), checked writable, and
  // removed again if that fails.
  std::vector<std::string> created;
  if (root) try {
      created = tools::make_directories("--out", out);
      const std::vector<std::string> more = tools::make_directories("--out", (dir / "samples").string());
      created.insert(created.end(), more.begin(), more.end());
      write_file_atomic((dir / ".write-test").string(), std::string("ok"));
      fs::remove(dir / ".write-test");
    } catch (const std::exception& e) {
      tools::remove_created(created);
      throw std::runtime_error(std::string("--out: cannot write the run folder: ") + e.what());
    }
  if (const int n = root ? remove_stale_temporaries({out, (dir / "samples").string()}) : 0; n > 0)
    std::fprintf(stderr, "ddpm-train: removed %d temporary file(s) left in %s by an interrupted write\n", n,
                 dir.c_str());

  Checkpointer::Options co;
  co.dir = out;
  co.cadence = CheckpointCadence::for_run(steps, checkpoint_every, sample_every);
  co.cadence.eval_every = eval_every;
  co.eval.every = eval_every;
  co.eval.num = eval_num;
  co.eval.steps = eval_steps;
  co.eval.classifier = &classifier;
  co.eval.reference = &reference;
  co.eval.reference_name = (record_data_path ? data : dataset_name(data)) + " test";
  co.on_eval = [&](const EvalRow& r, double secs) {
    std::fprintf(
        stderr, "\nddpm-train: step %lld: FD %.3f, IS %.3f, precision %.3f, recall %.3f (%lld samples, %s)\n",
        static_cast<long long>(r.step), r.fd, r.is, r.precision, r.recall, static_cast<long long>(r.n),
        tools::format_duration(secs).c_str());
  };
  co.samples = {sample_num, sample_steps, sample_eta, ds.crop(), ds.images.size(2), ds.images.size(3)};
  co.meta = meta;
  co.shared_meta = record_data_path ? meta : shareable_data_metadata(meta);
  co.precision = precision_flag;
  co.export_bf16 = export_bf16;
  Checkpointer ck(tr, co, root, resume);
  ck.begin(ds.images, ds.crop());
  if (comm.size() > 1 && root)
    std::fprintf(stderr, "ddpm-train: %s, global batch %lld = %d x %lld per rank\n", comm.describe().c_str(),
                 static_cast<long long>(tr.global_batch()), comm.size(),
                 static_cast<long long>(cfg.batch_size));
  if (root && class_cond)
    std::fprintf(stderr, "ddpm-train: class-conditional, %lld classes, labels dropped at rate %g\n",
                 static_cast<long long>(cfg.model.num_classes), cfg.cond_drop);
  if (root && image_cond) {
    if (cfg.task == ImageTask::superres)
      std::fprintf(stderr, "ddpm-train: image-conditional: super-resolution from %lldx%lld\n",
                   static_cast<long long>(cfg.superres_from),
                   static_cast<long long>(ds.images.size(3) / superres_factor(cfg, ds.images.size(2))));
    else
      std::fprintf(stderr, "ddpm-train: image-conditional: inpainting of random boxes\n");
  }
  if (root)
    std::fprintf(
        stderr,
        "ddpm-train: UNet base %lld (%s, %lld parameters), %s schedule T=%lld, batch %lld, lr %s %s, %s %s, "
        "steps %lld..%lld\n",
        static_cast<long long>(cfg.model.base_channels), arch_summary(cfg.model).c_str(),
        static_cast<long long>(tr.model().num_parameters()), beta_schedule_name(cfg.schedule),
        static_cast<long long>(cfg.timesteps), static_cast<long long>(cfg.batch_size),
        format_number(cfg.lr).c_str(), lr_schedule_name(cfg.lr_schedule), device_name(device),
        precision_flag.c_str(), static_cast<long long>(start), static_cast<long long>(steps));

  install_stop_signal_handlers();
  auto stop_nonfinite = [&](const char* what) {
    if (root)
      std::fprintf(
          stderr,
          "\nddpm-train: stopping: %s. The last good checkpoint (%s, step %s) is kept; lower --lr, "
          "check the data, or pass --skip-nonfinite to skip such steps.\n",
          what, state_path.c_str(),
          ck.last_checkpoint() >= 0 ? std::to_string(ck.last_checkpoint()).c_str() : "none written yet");
    return 3;
  };
  tools::Progress progress("train", steps, start);
  double avg = 0;
  auto t_last = std::chrono::steady_clock::now();
  try {
    while (tr.step_count() < steps) {
      const int64_t s = tr.step_count();
      const Trainer::StepResult r = tr.step(skip_nonfinite);
      const auto now = std::chrono::steady_clock::now();
      const double dt = std::chrono::duration<double>(now - t_last).count();
      t_last = now;
      if (!std::isfinite(r.loss) || !std::isfinite(r.grad_norm)) {
        if (root)
          std::fprintf(stderr, "\nddpm-train: step %lld skipped: non-finite loss %s or gradient norm %s\n",
                       static_cast<long long>(s), short_number(r.loss).c_str(),
                       short_number(r.grad_norm).c_str());
      } else {
        avg = s == start ? r.loss : 0.98 * avg + 0.02 * r.loss;
      }
      const double images = static_cast<double>(tr.global_batch());
      ck.record({s, r.loss, r.grad_norm, r.lr, dt > 0 ? images / dt : 0});
      char extra[96];
      std::snprintf(extra, sizeof extra, "loss %.4f (avg %.4f)", r.loss, avg);
      if (root) progress.update(s + 1, extra, images);
      const int64_t done = s + 1;
      ck.after_step(done);
      // Every rank stops at the same step when any of them got the signal.
      if (dist::any_rank(comm, stop_signal_received() != 0)) {
        ck.checkpoint_if_new(done);
        if (root)
          std::fprintf(stderr, "\nddpm-train: %s at step %lld: state saved to %s; continue with --resume\n",
                       stop_signal_verb(stop_signal_received()), static_cast<long long>(done),
                       state_path.c_str());
        return 0;
      }
    }
  } catch (const NonFiniteError& e) {
    return stop_nonfinite(e.what());
  } catch (const NonFiniteWeights& e) {
    return stop_nonfinite(e.what());
  }
  if (!root) return 0;
  progress.finish();
  ck.finish();
  std::fprintf(stderr, "ddpm-train: wrote %s, %s, loss.csv, %sloss.png and samples/ in %s\n",
               fs::path(ck.model_path()).filename().c_str(), fs::path(state_path).filename().c_str(),
               eval_every > 0 ? "eval.csv, " : "", dir.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // A write past RLIMIT_FSIZE then fails with EFBIG, which is reported,
  // instead of killing the process.
  std::signal(SIGXFSZ, SIG_IGN);
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    dist::Communicator* comm = nullptr;
    try {
      comm = &dist::world();
    } catch (const std::exception&) {
    }
    if (comm && comm->size() > 1) {  // stop the other ranks too: they would wait for this one
      std::fprintf(stderr, "ddpm-train: rank %d: error: %s\n", comm->rank(), e.what());
      comm->abort(1);
    }
    std::fprintf(stderr, "ddpm-train: error: %s\n", e.what());
    return 1;
  }
}
