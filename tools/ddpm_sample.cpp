// ddpm-sample: images from a trained model.safetensors, with DDPM, DDIM,
// DPM-Solver++(2M) or Euler ancestral.
#include <CLI/CLI.hpp>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <string>

#include "autograd/node.h"
#include "diffusion/guidance.h"
#include "diffusion/image_condition.h"
#include "diffusion/model_file.h"
#include "diffusion/sampler.h"
#include "diffusion/streams.h"
#include "io/data.h"
#include "io/images.h"
#include "kernels/precision.h"
#include "tools/common.h"

using namespace ddpm;

namespace {

// Image i of a [N, C, H, W] batch as a [C, H, W] copy.
Tensor image_at(const Tensor& x, int64_t i) {
  const int64_t per = x.numel() / x.size(0);
  Tensor out = Tensor::empty({x.size(1), x.size(2), x.size(3)});
  std::copy_n(x.data<float>() + i * per, per, out.data<float>());
  return out;
}

// The first k images of a [N, C, H, W] batch, copied.
Tensor first_images(const Tensor& x, int64_t k) {
  const int64_t per = x.numel() / x.size(0);
  Tensor out = Tensor::empty({k, x.size(1), x.size(2), x.size(3)});
  std::copy_n(x.data<float>(), k * per, out.data<float>());
  return out;
}

// [N, C, h, w] images (crop-sized) placed into an H x W canvas of -1 at the
// crop's corner, as the data loader padded the training images.
Tensor pad_like_training(const Tensor& raw, int64_t height, int64_t width, const CropBox& crop) {
  const int64_t n = raw.size(0), c = raw.size(1), h = raw.size(2), w = raw.size(3);
  Tensor out = Tensor::full({n, c, height, width}, -1.0, DType::f32);
  const int64_t top = crop.empty() ? 0 : crop.top, left = crop.empty() ? 0 : crop.left;
  for (int64_t p = 0; p < n * c; ++p)
    for (int64_t y = 0; y < h; ++y)
      std::copy_n(raw.data<float>() + (p * h + y) * w, w,
                  out.data<float>() + (p * height + y + top) * width + left);
  return out;
}

// What ddpm-sample --cond gives an image-conditional model: the condition,
// and the originals it was made from (undefined when the user gave
// low-resolution images).
struct Conditions {
  Tensor cond, originals;
};

// --cond's images for `lm`: PNG files, or one data set (a PNG folder, an IDX
// folder or fashion-mnist: its test images) of which the first `num` are
// taken. Originals must be the size the model was trained on (before
// padding); a superres model also takes its low-resolution size.
Conditions load_conditions(const LoadedModel& lm, const std::vector<std::string>& specs, int64_t num,
                           bool num_given, const std::string& mask, uint64_t seed) {
  const TrainConfig& cfg = lm.config;
  const bool one_set =
      specs.size() == 1 && (specs[0] == "fashion-mnist" || std::filesystem::is_directory(specs[0]));
  ImageDataset ds;
  try {
    ds = one_set ? resolve_dataset(specs[0], "test", 0) : load_png_files(specs, 0);
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string("--cond: ") + e.what());
  }
  const int64_t count = ds.size();
  if (num_given && num > count)
    throw std::invalid_argument("--num " + std::to_string(num) + ": --cond gives only " +
                                std::to_string(count) + " image(s)");
  const int64_t n = num_given || one_set ? std::min(num, count) : count;
  Tensor raw = Tensor::empty({n, ds.images.size(1), ds.images.size(2), ds.images.size(3)});
  std::copy_n(ds.images.data<float>(), raw.numel(), raw.data<float>());
  const int64_t c = cfg.model.in_channels, h = lm.height, w = lm.width;
  const int64_t oh = lm.crop.empty() ? h : lm.crop.height, ow = lm.crop.empty() ? w : lm.crop.width;
  const int64_t f = cfg.task == ImageTask::superres ? superres_factor(cfg, h) : 1;
  const bool superres = cfg.task == ImageTask::superres;
  const std::string got = std::to_string(raw.size(1)) + "-channel " + std::to_string(raw.size(2)) + "x" +
                          std::to_string(raw.size(3));
  const std::string want = std::to_string(c) + "-channel " + std::to_string(oh) + "x" + std::to_string(ow) +
                           " images (the size it was trained on)" +
                           (superres ? " or " + std::to_string(h / f) + "x" + std::to_string(w / f) +
                                           " low-resolution images (of the " + std::to_string(h) + "x" +
                                           std::to_string(w) + " padded frame)"
                                     : std::string());
  if (raw.size(1) != c)
    throw std::invalid_argument("--cond '" + ds.source + "': " + got + " images; this model takes " + want);
  Conditions out;
  if (raw.size(2) == oh && raw.size(3) == ow) {
    out.originals = pad_like_training(raw, h, w, lm.crop);
    Tensor masks;
    if (!superres) {
      std::vector<MaskBox> boxes;
      for (int64_t i = 0; i < n; ++i)
        boxes.push_back(mask == "random"
                            ? random_mask_box(h, w, seed, streams::kInpaintMask, static_cast<uint64_t>(i))
                            : center_mask_box(h, w));
      masks = box_masks(boxes, h, w);
    }
    out.cond = make_condition(cfg, out.originals, masks);
  } else if (superres && raw.size(2) == h / f && raw.size(3) == w / f) {
    out.cond = upsample_nearest(raw, f);
  } else {
    throw std::invalid_argument("--cond '" + ds.source + "': " + got + " images; this model (" +
                                image_task_name(cfg.task) + ") takes " + want);
  }
  return out;
}

int run(int argc, char** argv) {
  CLI::App app{"ddpm-sample: generate images with a model trained by ddpm-train"};
  app.option_defaults()->always_capture_default();
  std::string model_path, sampler = "ddim", device_flag = "auto", out, out_dir, progression,
                          variance = "fixed_large", spacing;
  int64_t num = 64, steps = 0, nrow = 0, batch_size = 0;
  double eta = 0.0;
  uint64_t seed = 0;
  bool no_clip = false;
  app.add_option("--model", model_path, "model.safetensors written by ddpm-train")
      ->required()
      ->check(CLI::ExistingFile);
  app.add_option("--num", num,
                 "number of images (with --cond of a data set: how many of its images, default 8)")
      ->check(CLI::Range(int64_t{1}, int64_t{4096}));
  app.add_option("--sampler", sampler,
                 "ddpm (ancestral, the seed's sampler), ddim, dpm++2m (DPM-Solver++ 2M) or euler-a "
                 "(Euler ancestral)")
      ->check(CLI::IsMember({"ddpm", "ddim", "dpm++2m", "euler-a"}));
  app.add_option("--steps", steps, "denoising steps out of the training timesteps (placed by --spacing)")
      ->check(CLI::Range(int64_t{1}, int64_t{100000}))
      ->default_str("all for ddpm, 50 for ddim, 20 for dpm++2m and euler-a");
  app.add_option("--spacing", spacing,
                 "which timesteps the steps visit: leading (from t = 0 up), trailing "
                 "(from t = T-1 down) or quadratic (dense near t = 0)")
      ->check(CLI::IsMember({"leading", "trailing", "quadratic"}))
      ->default_str("leading for ddpm and ddim, trailing for dpm++2m and euler-a");
  auto* o_eta =
      app.add_option("--eta", eta, "DDIM noise: 0 deterministic, 1 = ancestral with the posterior variance")
          ->check(tools::finite_range(0.0, 1.0));
  auto* o_variance =
      app.add_option(
             "--variance", variance,
             "DDPM noise variance: fixed_large (beta_t, the seed's) or fixed_small (posterior beta~_t)")
          ->check(CLI::IsMember({"fixed_large", "fixed_small"}));
  std::string class_flag;
  double guidance = kDefaultGuidance;
  auto* o_class =
      app.add_option("--class", class_flag,
                     "a class-conditional model's class for every image (a name such as sneaker, or "
                     "an index); all: a class grid, one row per class; none: unconditional samples")
          ->default_str("none: unconditional samples");
  auto* o_guidance =
      app.add_option("--guidance", guidance,
                     "classifier-free guidance scale with --class: 1 is the plain conditional model, larger "
                     "values follow the class more closely")
          ->check(tools::finite_range(0.0, 100.0));
  std::vector<std::string> cond_specs;
  std::string mask = "center";
  auto* o_cond =
      app.add_option("--cond", cond_specs,
                     "an image-conditional model's condition images: PNG files, or a folder of PNGs, "
                     "an IDX folder or fashion-mnist (its test images; the first --num, default 8)");
  auto* o_mask =
      app.add_option("--mask", mask,
                     "with --cond on an inpainting model: the box to fill, center (half the height "
                     "and width, in the middle) or random (boxes as in training, from --seed)")
          ->check(CLI::IsMember({"center", "random"}));
  app.add_option("--batch-size", batch_size,
                 "images denoised together: memory holds one batch; the images do not depend on it")
      ->check(CLI::Range(int64_t{1}, int64_t{4096}))
      ->default_str("64 on the CPU (cache-sized), 256 on a GPU");
  app.add_flag("--no-clip", no_clip, "do not clip the predicted x0 to [-1, 1]");
  app.add_option("--seed", seed, "random seed: the same seed gives the same images")
      ->check(tools::unsigned_integer());
  app.add_option("--device", device_flag, "auto, cpu or cuda")->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  std::string precision_flag = "fp32";
  app.add_option(
         "--precision", precision_flag,
         "fp32; tf32 (GPU: convolutions and GEMMs on TF32 tensor cores; the CPU runs FP32); bf16 "
         "(convolutions on BF16 operands, FP32 accumulation; BF16 tensor cores on the GPU). Any model "
         "file works at any precision")
      ->check(CLI::IsMember({"fp32", "tf32", "bf16"}))
      ->capture_default_str();
  app.add_option("--out", out, "write a grid of all images to this PNG")
      ->default_str("samples.png when no other output");
  auto* o_num = app.get_option("--num");
  auto* o_nrow = app.add_option("--nrow", nrow, "images per grid row (with --cond: completions per row)")
                     ->check(CLI::Range(int64_t{1}, int64_t{4096}))
                     ->default_str("square");
  app.add_option("--out-dir", out_dir,
                 "write each image as its own PNG (at the data set's size) into this folder");
  app.add_option("--progression", progression,
                 "write a strip of x_t from noise to image for up to 8 samples");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return tools::usage_exit(app, e);
  }
  // Flags that would have no effect are mistakes worth a word.
  if (o_eta->count() && sampler != "ddim")
    throw std::invalid_argument("--eta applies to --sampler ddim only (the sampler is " + sampler + ")");
  if (o_variance->count() && sampler != "ddpm")
    throw std::invalid_argument("--variance applies to --sampler ddpm only (the sampler is " + sampler +
                                "; DDIM's noise is set by --eta)");
  if (o_nrow->count() && out.empty())
    throw std::invalid_argument("--nrow sets the columns of the --out grid, and no --out is given");
  if (o_guidance->count() && (!o_class->count() || class_flag == "none"))
    throw std::invalid_argument(
        "--guidance applies to --class NAME|INDEX|all (without it a class-conditional "
        "model samples unconditionally)");
  if (o_nrow->count() && class_flag == "all")
    throw std::invalid_argument(
        "--nrow: a --class all grid has one row per class (its columns: --num / classes)");
  if (out.empty() && out_dir.empty() && progression.empty()) out = "samples.png";

  const Device device = tools::resolve_device(device_flag);
  const std::string precision_note =
      kernels::apply_precision(kernels::parse_precision(precision_flag), device);
  if (!precision_note.empty()) std::fprintf(stderr, "ddpm-sample: %s\n", precision_note.c_str());
  const LoadedModel lm = load_model(model_path, device);
  const TrainConfig& cfg = lm.config;
  const bool image_cond = cfg.conditioning == Conditioning::image;
  if (image_cond && !o_cond->count())
    throw std::invalid_argument("--cond: " + model_path + " is an image-conditional model (task " +
                                image_task_name(cfg.task) + "): give the images to complete with --cond");
  if (!image_cond && o_cond->count())
    throw std::invalid_argument("--cond: " + model_path +
                                " takes no condition image (trained without --conditional image)");
  if (image_cond && o_class->count())
    throw std::invalid_argument("--class: " + model_path + " is image-conditional, not class-conditional");
  if (o_mask->count() && !(image_cond && cfg.task == ImageTask::inpaint))
    throw std::invalid_argument("--mask applies to --cond with an inpainting model");
  const NoiseScheduler sched(cfg.schedule, cfg.timesteps);
  SamplerConfig sc;
  sc.kind = parse_sampler_kind(sampler);
  tools::set_sampler_steps(sc, steps, spacing, cfg.timesteps);
  sc.eta = eta;
  sc.variance = parse_variance_type(variance);
  sc.clip_x0 = !no_clip;
  sc.prediction = cfg.prediction;
  sc.seed = seed;
  sc.stream = streams::kSampling;

  // Classes: one for every image, or a class grid (rows of ceil(num / K));
  // none (the default): unconditional samples, no guidance.
  std::vector<int64_t> labels;
  if (lm.class_names.empty()) {
    if (o_class->count() && class_flag != "none")
      throw std::invalid_argument("--class: " + model_path +
                                  " is an unconditional model (trained without --conditional class)");
  } else if (o_class->count() && class_flag != "none") {
    const auto k = static_cast<int64_t>(lm.class_names.size());
    if (class_flag == "all") {
      nrow = (num + k - 1) / k;
      num = k * nrow;
      labels = class_grid_labels(k, nrow);
    } else {
      labels.assign(static_cast<size_t>(num), resolve_class(lm.class_names, class_flag));
    }
  }

  Conditions conds;
  if (image_cond) {
    conds = load_conditions(lm, cond_specs, o_num->count() ? num : 8, o_num->count() > 0, mask, seed);
    num = conds.cond.size(0);
  }

  const int64_t c = cfg.model.in_channels;
  const int64_t h = lm.height, w = lm.width;
  const CropBox crop = lm.crop;
  const int64_t crop_h = crop.empty() ? h : crop.height, crop_w = crop.empty() ? w : crop.width;

  // Every output is checked writable (its folder created) before sampling,
  // which may take minutes; on failure the folders made so far are removed.
  std::vector<std::string> created;
  try {
    for (const auto& [flag, path] :
         {std::pair<std::string, std::string>{"--out", out}, {"--progression", progression}})
      if (!path.empty()) {
        const std::vector<std::string> more = tools::prepare_output_file(flag, path);
        created.insert(created.end(), more.begin(), more.end());
      }
    if (!out_dir.empty()) {
      const std::vector<std::string> more = tools::make_directories("--out-dir", out_dir);
      created.insert(created.end(), more.begin(), more.end());
      tools::prepare_output_file("--out-dir", (std::filesystem::path(out_dir) / "000000.png").string());
    }
  } catch (const std::exception&) {
    tools::remove_created(created);
    throw;
  }
  std::fprintf(stderr,
               "ddpm-sample: %lld images %lldx%lld, %s %lld steps (%s spacing) on %s %s (model step %s, %s%s "
               "weights)\n",
               static_cast<long long>(num), static_cast<long long>(crop_h), static_cast<long long>(crop_w),
               sampler.c_str(), static_cast<long long>(sc.steps), spacing_name(sc.spacing),
               device_name(device), precision_flag.c_str(),
               lm.meta.count("step") ? lm.meta.at("step").c_str() : "?",
               lm.meta.count("weights") ? lm.meta.at("weights").c_str() : "?",
               lm.meta.count("weights_dtype") ? (" " + lm.meta.at("weights_dtype")).c_str() : "");
  if (!labels.empty())
    std::fprintf(stderr, "ddpm-sample: class %s, guidance %s\n",
                 class_flag == "all" ? "grid (one row per class)"
                                     : lm.class_names[static_cast<size_t>(labels[0])].c_str(),
                 format_number(guidance).c_str());
  else if (!lm.class_names.empty())
    std::fprintf(stderr, "ddpm-sample: class-conditional model, no --class: unconditional samples\n");
  else if (image_cond)
    std::fprintf(stderr, "ddpm-sample: %s of %lld condition image(s)%s\n",
                 cfg.task == ImageTask::superres ? "super-resolution" : "inpainting",
                 static_cast<long long>(num),
                 cfg.task == ImageTask::inpaint ? (", " + mask + " boxes").c_str() : "");

  // Batches of --batch-size images (the last one smaller); the progress bar
  // counts the steps of all of them.
  if (batch_size == 0) batch_size = device == Device::cuda ? 256 : 64;
  const int64_t batches = (num + batch_size - 1) / batch_size;
  if (batches > 1)
    std::fprintf(stderr, "ddpm-sample: %lld batches of up to %lld images\n", static_cast<long long>(batches),
                 static_cast<long long>(batch_size));
  // Progression: keep x_t of the first samples (of the first batch) at ~8
  // evenly spaced steps.
  const int64_t keep = std::min<int64_t>({num, batch_size, 8});
  std::vector<Tensor> frames;
  const int64_t frame_every = std::max<int64_t>(1, sc.steps / 8);
  tools::Progress progress("sampling", batches * sc.steps);
  auto model = lm.model;
  const BatchModelFn model_for = [&](int64_t first, int64_t count) {
    if (image_cond) return conditioned_model(*model, conds.cond.rows(first, first + count));
    std::vector<int64_t> batch_labels;
    if (!labels.empty()) batch_labels.assign(labels.begin() + first, labels.begin() + first + count);
    return guided_model(*model, std::move(batch_labels), guidance);
  };
  const Tensor host = sample_in_batches(
      sched, model_for, {num, c, h, w}, sc, batch_size, DType::f32, device,
      [&](int64_t first, int64_t count, int64_t done, int64_t total, const Tensor& cur) {
        // The rate in finished images/s: each of the `total` steps advances
        // every chain of the batch by 1/total of an image.
        progress.update(first / batch_size * total + done, "",
                        static_cast<double>(count) / static_cast<double>(total));
        if (first == 0 && !progression.empty() && (done % frame_every == 0 || done == total))
          frames.push_back(first_images(cur.to(Device::cpu), keep));
      });
  progress.finish();
  GridOptions go;
  go.nrow = nrow ? nrow : static_cast<int64_t>(std::ceil(std::sqrt(static_cast<double>(num))));
  go.crop = crop;
  if (image_cond) {
    const CompletionError e = completion_error(cfg, host, conds.cond, conds.originals, crop);
    std::fprintf(stderr, "ddpm-sample: completion RMS error ([-1, 1] units): %.4f %s", e.kept,
                 cfg.task == ImageTask::superres ? "between the samples' and the condition's low resolution"
                                                 : "between the samples and the condition outside the boxes");
    if (conds.originals.defined())
      std::fprintf(stderr, "; %.4f vs the originals%s (the condition alone: %.4f)", e.original,
                   cfg.task == ImageTask::inpaint ? " inside the boxes" : "", e.baseline);
    std::fprintf(stderr, "\n");
    // condition | sample | original, ceil(sqrt(num / 3)) triplets per row.
    const int64_t k = completion_panel_width(conds.originals.defined());
    go.nrow = k * (nrow ? nrow
                        : static_cast<int64_t>(
                              std::ceil(std::sqrt(static_cast<double>(num) / static_cast<double>(k)))));
    if (!out.empty()) {
      write_image_grid(out, completion_panels(cfg, conds.cond, host, conds.originals), go);
      std::fprintf(stderr, "wrote %s (%s, side by side)\n", out.c_str(),
                   k == 3 ? "condition, sample, original" : "condition, sample");
    }
  } else if (!out.empty()) {
    write_image_grid(out, host, go);
    std::fprintf(stderr, "wrote %s\n", out.c_str());
  }
  if (!out_dir.empty()) {
    for (int64_t i = 0; i < num; ++i) {
      char name[32];
      std::snprintf(name, sizeof name, "%06lld.png", static_cast<long long>(i));
      write_image((std::filesystem::path(out_dir) / name).string(), image_at(host, i), crop);
    }
    std::fprintf(stderr, "wrote %lld images into %s\n", static_cast<long long>(num), out_dir.c_str());
  }
  if (!progression.empty()) {
    // rows: samples; columns: time from noise (left) to image (right)
    GridOptions so;
    so.crop = crop;
    write_image_strip(progression, frames, so);
    std::fprintf(stderr, "wrote %s\n", progression.c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGXFSZ, SIG_IGN);  // report EFBIG instead of dying on RLIMIT_FSIZE
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ddpm-sample: error: %s\n", e.what());
    return 1;
  }
}
