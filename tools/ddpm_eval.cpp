// ddpm-eval: how good a model's samples are (docs/evaluation.md). Samples a
// model (or reads a folder of PNGs), and scores the images with the engine's
// Fashion-MNIST classifier (ddpm-classify) against a reference set: Fréchet
// distance of the penultimate features, Inception-style score, precision and
// recall.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "diffusion/evaluate.h"
#include "diffusion/guidance.h"
#include "diffusion/model_file.h"
#include "eval/calibration.h"
#include "eval/classifier.h"
#include "eval/score.h"
#include "io/atomic_file.h"
#include "io/data.h"
#include "io/images.h"
#include "tools/common.h"

using namespace ddpm;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::string shape_text(const Tensor& t) {
  std::string s;
  for (int64_t i = 1; i < t.dim(); ++i) s += (i > 1 ? "x" : "") + std::to_string(t.size(i));
  return s;
}

int run(int argc, char** argv) {
  CLI::App app{"ddpm-eval: score a model's samples (FD, IS, precision/recall) with the engine's classifier"};
  app.option_defaults()->always_capture_default();
  std::string model_path, images_dir, classifier_path, reference = "fashion-mnist", sampler = "ddim",
                                                       device_flag = "auto", json_path, grid_path, spacing;
  int64_t num = 2000, steps = 0, batch = 250;
  double eta = 0.0;
  uint64_t seed = 0;
  auto* o_model = app.add_option("--model", model_path, "model.safetensors written by ddpm-train: sample it")
                      ->check(CLI::ExistingFile);
  auto* o_images = app.add_option("--images", images_dir,
                                  "score a folder of PNG images instead (e.g. ddpm-sample --out-dir)");
  o_model->excludes(o_images);
  bool calibrate = false;
  auto* o_calibrate =
      app.add_flag("--calibrate", calibrate,
                   "score real train images, blurred ones and noise instead (the floor and the "
                   "ceiling of the scores; needs a reference with a train split)");
  o_calibrate->excludes(o_model)->excludes(o_images);
  app.add_option("--classifier", classifier_path, "classifier written by ddpm-classify train")
      ->default_str(eval::default_classifier_path());
  auto* o_num = app.add_option("--num", num, "images to sample (with --images: the first N of the folder)")
                    ->check(CLI::Range(int64_t{2}, int64_t{1000000}));
  auto* o_sampler =
      app.add_option("--sampler", sampler, "ddim, ddpm, dpm++2m or euler-a (ddpm-sample --help)")
          ->check(CLI::IsMember({"ddpm", "ddim", "dpm++2m", "euler-a"}));
  auto* o_steps = app.add_option("--steps", steps, "denoising steps")
                      ->check(CLI::Range(int64_t{1}, int64_t{100000}))
                      ->default_str("all for ddpm, 50 for ddim, 20 for dpm++2m and euler-a");
  auto* o_spacing = app.add_option("--spacing", spacing, "timestep spacing: leading, trailing or quadratic")
                        ->check(CLI::IsMember({"leading", "trailing", "quadratic"}))
                        ->default_str("leading for ddpm and ddim, trailing for dpm++2m and euler-a");
  auto* o_eta =
      app.add_option("--eta", eta, "DDIM noise (0: deterministic)")->check(tools::finite_range(0.0, 1.0));
  app.add_option("--seed", seed, "random seed of the samples and of the precision/recall reference subset")
      ->check(tools::unsigned_integer());
  double guidance = kDefaultGuidance;
  auto* o_guidance =
      app.add_option("--guidance", guidance,
                     "a class-conditional model: sample every class equally (image i of class i mod K) with "
                     "this classifier-free guidance scale, and report how often the classifier agrees with "
                     "the class (without it: unconditional samples)")
          ->check(tools::finite_range(0.0, 100.0));
  auto* o_batch = app.add_option("--batch", batch, "images per sampler call (the noise depends on it)")
                      ->check(CLI::Range(int64_t{1}, int64_t{65536}));
  app.add_option(
      "--reference", reference,
      "reference images: fashion-mnist (its test set), a folder of IDX files (test split) or of PNGs");
  app.add_option("--device", device_flag, "auto, cpu or cuda")->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  app.add_option("--json", json_path, "also write the scores to this JSON file");
  app.add_option("--grid", grid_path, "also write the first 64 scored images as a PNG grid");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return tools::usage_exit(app, e);
  }
  if (model_path.empty() && images_dir.empty() && !calibrate)
    throw std::invalid_argument(
        "nothing to score: give --model MODEL (to sample it), --images DIR or --calibrate");
  if (!images_dir.empty() || calibrate)
    for (CLI::Option* o : {o_sampler, o_steps, o_spacing, o_eta, o_batch, o_guidance})
      if (o->count())
        throw std::invalid_argument(o->get_name() + " applies to --model (sampling), not to " +
                                    (calibrate ? "--calibrate" : "--images (the folder is scored as it is)"));
  if (calibrate && !grid_path.empty()) throw std::invalid_argument("--grid applies to --model and --images");
  if (o_eta->count() && sampler != "ddim")
    throw std::invalid_argument("--eta applies to --sampler ddim only (the sampler is " + sampler + ")");
  if (classifier_path.empty()) classifier_path = eval::default_classifier_path();

  // Every output is checked writable, and the classifier loaded, before the
  // minutes of sampling.
  std::vector<std::string> created;
  try {
    for (const auto& [flag, path] :
         {std::pair<std::string, std::string>{"--json", json_path}, {"--grid", grid_path}})
      if (!path.empty()) {
        const std::vector<std::string> more = tools::prepare_output_file(flag, path);
        created.insert(created.end(), more.begin(), more.end());
      }
  } catch (const std::exception&) {
    tools::remove_created(created);
    throw;
  }
  // Past here a failure (no classifier, images of the wrong size, ...) removes
  // the folders made for the outputs again.
  auto score = [&]() -> int {
    const Device device = tools::resolve_device(device_flag);
    const auto t0 = std::chrono::steady_clock::now();
    const eval::LoadedClassifier clf = eval::load_classifier(classifier_path, device);
    const eval::ReferenceSet ref = eval::reference_set(clf, classifier_path, reference, "test");
    std::fprintf(stderr, "ddpm-eval: classifier %s (%s); reference %s: %lld images\n",
                 classifier_path.c_str(), clf.meta.count("arch") ? clf.meta.at("arch").c_str() : "?",
                 reference.c_str(), static_cast<long long>(ref.stats.n));

    if (calibrate) {
      const std::vector<eval::CalibrationRow> rows = eval::calibrate(clf, ref, reference, num, seed);
      std::printf("ddpm-eval: calibration against %s test (%lld images), %lld images per row, seed %llu\n",
                  reference.c_str(), static_cast<long long>(ref.stats.n),
                  static_cast<long long>(rows[0].scores.n), static_cast<unsigned long long>(seed));
      std::printf("  %-32s %10s %8s %10s %8s\n", "images", "FD", "IS", "precision", "recall");
      nlohmann::ordered_json list = nlohmann::ordered_json::array();
      for (const eval::CalibrationRow& r : rows) {
        std::printf("  %-32s %10.4f %8.4f %10.4f %8.4f\n", r.what.c_str(), r.scores.fd, r.scores.is,
                    r.scores.precision, r.scores.recall);
        nlohmann::ordered_json j = nlohmann::ordered_json::parse(eval::scores_json(r.scores));
        j["images"] = r.what;
        list.push_back(j);
      }
      const double secs = seconds_since(t0);
      std::printf("  time       %s\n", tools::format_duration(secs).c_str());
      if (!json_path.empty()) {
        nlohmann::ordered_json j{
            {"calibration", list},
            {"classifier", {{"path", classifier_path}, {"fingerprint", clf.fingerprint}}},
            {"reference", {{"data", reference}, {"split", "test"}, {"images", ref.stats.n}}},
            {"seed", seed},
            {"seconds", secs}};
        write_file_atomic(json_path, j.dump(2) + "\n");
        std::fprintf(stderr, "wrote %s\n", json_path.c_str());
      }
      return 0;
    }

    Tensor images;
    std::vector<int64_t> labels;  // the requested classes (--guidance)
    bool labels_match_classifier = false;
    std::string what;
    nlohmann::ordered_json source;
    if (!images_dir.empty()) {
      const ImageDataset ds = load_png_folder(images_dir, 0);
      if (ds.size() < 2)
        throw std::invalid_argument("--images " + images_dir + ": " + std::to_string(ds.size()) +
                                    " image(s); the scores need at least 2");
      const int64_t k = o_num->count() ? std::min(num, ds.size()) : ds.size();
      if (o_num->count() && num > ds.size())
        std::fprintf(stderr, "ddpm-eval: --num %lld, but %s holds %lld images: scoring all of them\n",
                     static_cast<long long>(num), images_dir.c_str(), static_cast<long long>(ds.size()));
      images = ds.images;
      if (k < ds.size()) {
        Tensor first = Tensor::empty({k, ds.channels(), ds.height(), ds.width()});
        std::copy_n(ds.images.data<float>(), first.numel(), first.data<float>());
        images = first;
      }
      what = std::to_string(k) + " images of " + images_dir;
      source = {{"images", images_dir}};
    } else {
      const LoadedModel lm = load_model(model_path, device);
      const TrainConfig& cfg = lm.config;
      if (cfg.conditioning == Conditioning::image)
        throw std::invalid_argument(
            "--model " + model_path + " is image-conditional (task " + image_task_name(cfg.task) +
            "): it completes condition images, which ddpm-eval does not have; ddpm-sample --cond shows its "
            "completions and their error");
      const NoiseScheduler sched(cfg.schedule, cfg.timesteps);
      EvalSampling es;
      es.num = num;
      es.batch = std::min(batch, num);
      es.sampler.kind = parse_sampler_kind(sampler);
      tools::set_sampler_steps(es.sampler, steps, spacing, cfg.timesteps);
      es.sampler.eta = eta;
      es.sampler.prediction = cfg.prediction;
      es.sampler.seed = seed;
      es.channels = cfg.model.in_channels;
      es.height = lm.height;
      es.width = lm.width;
      es.crop = lm.crop;
      const int64_t h = lm.crop.empty() ? lm.height : lm.crop.height,
                    w = lm.crop.empty() ? lm.width : lm.crop.width;
      if (es.channels != clf.channels || h != clf.height || w != clf.width)
        throw std::invalid_argument("--model " + model_path + " makes " + std::to_string(es.channels) + "x" +
                                    std::to_string(h) + "x" + std::to_string(w) + " images; the classifier " +
                                    classifier_path + " takes " + std::to_string(clf.channels) + "x" +
                                    std::to_string(clf.height) + "x" + std::to_string(clf.width));
      if (o_guidance->count() && lm.class_names.empty())
        throw std::invalid_argument("--guidance: --model " + model_path +
                                    " is an unconditional model (trained without --conditional class)");
      if (o_guidance->count()) {
        labels = balanced_labels(num, static_cast<int64_t>(lm.class_names.size()));
        labels_match_classifier = lm.class_names == clf.class_names;
      }
      std::fprintf(
          stderr, "ddpm-eval: sampling %lld images, %s %lld steps (%s spacing) on %s (model step %s)%s\n",
          static_cast<long long>(num), sampler.c_str(), static_cast<long long>(es.sampler.steps),
          spacing_name(es.sampler.spacing), device_name(device),
          lm.meta.count("step") ? lm.meta.at("step").c_str() : "?",
          labels.empty() ? "" : (", every class equally, guidance " + format_number(guidance)).c_str());
      tools::Progress progress("sampling", num);
      auto model = lm.model;
      images = sample_for_eval_by_batch(
          sched,
          [&](int64_t first, int64_t count) {
            if (labels.empty()) return guided_model(*model, {}, 1.0);
            return guided_model(*model,
                                std::vector<int64_t>(labels.begin() + first, labels.begin() + first + count),
                                guidance);
          },
          es, DType::f32, device, [&](int64_t done, int64_t) { progress.update(done); });
      progress.finish();
      source = {{"model", model_path},
                {"model_step", lm.meta.count("step") ? lm.meta.at("step") : ""},
                {"sampler", sampler},
                {"steps", es.sampler.steps},
                {"spacing", spacing_name(es.sampler.spacing)},
                {"eta", eta},
                {"seed", seed},
                {"batch", es.batch}};
      if (!labels.empty()) source["guidance"] = guidance;
      what = std::to_string(num) + " " + sampler + "-" + std::to_string(es.sampler.steps) + " samples of " +
             model_path;
    }
    if (images.size(1) != clf.channels || images.size(2) != clf.height || images.size(3) != clf.width)
      throw std::invalid_argument("--images " + images_dir + ": images of " + shape_text(images) +
                                  "; the classifier takes " + std::to_string(clf.channels) + "x" +
                                  std::to_string(clf.height) + "x" + std::to_string(clf.width));
    const eval::ClassifierOutputs out = eval::classify(clf, images);
    const eval::SampleScores s = eval::score_outputs(out, ref, seed);
    // How often the classifier names the requested class (only meaningful
    // when the model's classes are the classifier's).
    const double agreement = labels.empty() || !labels_match_classifier ? -1 : eval::top1(out.logits, labels);
    const double secs = seconds_since(t0);

    std::printf("ddpm-eval: %s\n", what.c_str());
    std::printf("  reference  %s (%lld images; precision/recall against %lld of them)\n", reference.c_str(),
                static_cast<long long>(s.n_ref), static_cast<long long>(s.n_ref_pr));
    std::printf("  FD         %.4f\n", s.fd);
    std::printf("  IS         %.4f +- %.4f (%lld splits)\n", s.is, s.is_std,
                static_cast<long long>(s.is_splits));
    std::printf("  precision  %.4f\n", s.precision);
    std::printf("  recall     %.4f\n", s.recall);
    if (agreement >= 0)
      std::printf("  class      %.4f (the classifier agrees with the requested class)\n", agreement);
    else if (!labels.empty())
      std::printf("  class      not scored: the model's class names differ from the classifier's\n");
    std::printf("  time       %s\n", tools::format_duration(secs).c_str());
    if (!json_path.empty()) {
      nlohmann::ordered_json j = nlohmann::ordered_json::parse(eval::scores_json(s));
      j["source"] = source;
      j["classifier"] = {{"path", classifier_path},
                         {"arch", clf.meta.count("arch") ? clf.meta.at("arch") : ""},
                         {"fingerprint", clf.fingerprint}};
      j["reference"] = {{"data", reference}, {"split", "test"}, {"images", ref.stats.n}};
      j["seconds"] = secs;
      if (agreement >= 0) j["class_agreement"] = agreement;
      write_file_atomic(json_path, j.dump(2) + "\n");
      std::fprintf(stderr, "wrote %s\n", json_path.c_str());
    }
    if (!grid_path.empty()) {
      const int64_t k = std::min<int64_t>(64, images.size(0));
      Tensor first = Tensor::empty({k, images.size(1), images.size(2), images.size(3)});
      std::copy_n(images.data<float>(), first.numel(), first.data<float>());
      GridOptions go;
      go.nrow = static_cast<int64_t>(std::ceil(std::sqrt(static_cast<double>(k))));
      write_image_grid(grid_path, first, go);
      std::fprintf(stderr, "wrote %s\n", grid_path.c_str());
    }
    return 0;
  };
  try {
    return score();
  } catch (const std::exception&) {
    tools::remove_created(created);
    throw;
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGXFSZ, SIG_IGN);
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ddpm-eval: error: %s\n", e.what());
    return 1;
  }
}
