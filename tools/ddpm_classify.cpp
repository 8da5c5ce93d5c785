// ddpm-classify: trains and tests the evaluation classifier
// (eval/classifier.h, docs/evaluation.md).
//   ddpm-classify train [--data fashion-mnist] [--out PATH] [--epochs] [--batch] [--lr] [--seed]
//                       [--limit N] [--device auto|cpu|cuda]
//   ddpm-classify test  [--classifier PATH] [--data fashion-mnist] [--limit N] [--device ...]
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <string>

#include "eval/classifier.h"
#include "io/data.h"
#include "tools/common.h"

using namespace ddpm;

namespace {

int train(const eval::ClassifierTrainConfig& cfg, const std::string& out) {
  // Fails now, not after minutes of training, when the file cannot be written.
  const std::vector<std::string> created = tools::prepare_output_file("--out", out);
  std::fprintf(stderr, "ddpm-classify: training %s on %s (%lld epochs, batch %lld, lr %g, seed %llu) on %s\n",
               eval::kClassifierArch, cfg.data.c_str(), static_cast<long long>(cfg.epochs),
               static_cast<long long>(cfg.batch), cfg.lr, static_cast<unsigned long long>(cfg.seed),
               device_name(cfg.device));
  nn::Classifier model(1, 10);
  std::unique_ptr<tools::Progress> progress;
  double recent = 0;  // running mean of the loss, for the progress line
  eval::ClassifierTrainResult r;
  try {
    r = eval::train_classifier(model, cfg, [&](int64_t step, int64_t total, double loss) {
      if (!progress) progress = std::make_unique<tools::Progress>("training", total);
      recent = step == 1 ? loss : 0.98 * recent + 0.02 * loss;
      char extra[48];
      std::snprintf(extra, sizeof extra, "loss %.4f", recent);
      progress->update(step, extra, static_cast<double>(cfg.batch));
    });
  } catch (const std::exception&) {
    tools::remove_created(created);
    throw;
  }
  if (progress) progress->finish();
  eval::save_classifier(out, model, eval::classifier_train_metadata(cfg, r));
  std::printf("test accuracy %.2f%% on %lld test images (%lld steps, final loss %.4f, %.0f s)\n",
              100.0 * r.test_accuracy, static_cast<long long>(r.test_images), static_cast<long long>(r.steps),
              r.final_loss, r.seconds);
  std::fprintf(stderr, "wrote %s (fingerprint %s)\n", out.c_str(),
               eval::classifier_fingerprint(model).c_str());
  return 0;
}

int test(const std::string& path, const std::string& data, int64_t limit, Device device) {
  const eval::LoadedClassifier c = eval::load_classifier(path, device);
  ImageDataset set = resolve_dataset(data, "test", 0);
  if (set.labels.empty())
    throw std::invalid_argument("--data '" + data + "' (" + set.source +
                                ") has no labels; testing needs an IDX data set with labels");
  if (limit > 0 && limit < set.size()) {
    Tensor head =
        Tensor::from_host(set.images.data<float>(), {limit, set.channels(), set.height(), set.width()});
    set.images = head;
    set.labels.resize(static_cast<size_t>(limit));
  }
  const double acc = eval::accuracy(c, set.images, set.labels);
  std::printf("test accuracy %.2f%% on %lld images of %s (classifier %s, %s, fingerprint %s)\n", 100.0 * acc,
              static_cast<long long>(set.size()), data.c_str(), path.c_str(), eval::kClassifierArch,
              c.fingerprint.c_str());
  return 0;
}

int run(int argc, char** argv) {
  CLI::App app{"ddpm-classify: train and test the classifier whose features score samples (ddpm-eval)"};
  app.option_defaults()->always_capture_default();
  eval::ClassifierTrainConfig cfg;
  std::string device_flag = "auto", out, classifier, test_data = "fashion-mnist";
  int64_t test_limit = 0;

  CLI::App* tr = app.add_subcommand("train", "train a classifier and write it (with its test accuracy)");
  tr->add_option("--data", cfg.data, "fashion-mnist, or a folder of IDX files with labels");
  tr->add_option("--out", out, "where to write the classifier")->default_str("default_classifier_path()");
  tr->add_option("--epochs", cfg.epochs, "passes over the training images")
      ->check(CLI::Range(int64_t{1}, int64_t{1000}));
  tr->add_option("--batch", cfg.batch, "images per step")->check(CLI::Range(int64_t{1}, int64_t{65536}));
  tr->add_option("--lr", cfg.lr, "Adam's peak learning rate (half-cosine decay to 0)")
      ->check(tools::finite_range(1e-8, 1.0));
  tr->add_option("--seed", cfg.seed, "random seed: the same seed gives the same weights")
      ->check(tools::unsigned_integer());
  tr->add_option("--limit", cfg.limit, "train on the first N images only (0: all)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 40));
  tr->add_option("--device", device_flag, "auto, cpu or cuda")->check(CLI::IsMember({"auto", "cpu", "cuda"}));

  CLI::App* te = app.add_subcommand("test", "print a classifier's accuracy on a test split");
  te->add_option("--classifier", classifier, "the classifier file")->default_str("default_classifier_path()");
  te->add_option("--data", test_data, "fashion-mnist, or a folder of IDX files with labels");
  te->add_option("--limit", test_limit, "test on the first N images only (0: all)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 40));
  te->add_option("--device", device_flag, "auto, cpu or cuda")->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return tools::usage_exit(app, e);
  }
  if (!tr->parsed() && !te->parsed()) {
    std::fprintf(stderr, "ddpm-classify: a command is required: train or test (see --help)\n");
    return 2;
  }
  const Device device = tools::resolve_device(device_flag);
  if (tr->parsed()) {
    cfg.device = device;
    return train(cfg, out.empty() ? eval::default_classifier_path() : out);
  }
  return test(classifier.empty() ? eval::default_classifier_path() : classifier, test_data, test_limit,
              device);
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGXFSZ, SIG_IGN);  // report EFBIG instead of dying on RLIMIT_FSIZE
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ddpm-classify: error: %s\n", e.what());
    return 1;
  }
}
