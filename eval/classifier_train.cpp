// train_classifier: the recipe that makes the evaluation classifier
// (docs/evaluation.md, "The classifier").
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <numbers>
#include <stdexcept>

#include "autograd/functions.h"
#include "eval/classifier.h"
#include "io/data.h"
#include "nn/adam.h"
#include "nn/flat_parameters.h"

namespace ddpm::eval {

namespace {

// The first `limit` rows of a data set (all when limit is 0 or >= N).
ImageDataset first_rows(ImageDataset data, int64_t limit) {
  if (limit <= 0 || limit >= data.size()) return data;
  const int64_t per = data.images.numel() / data.size();
  Tensor head = Tensor::empty({limit, data.channels(), data.height(), data.width()});
  std::memcpy(head.data<float>(), data.images.data<float>(),
              static_cast<size_t>(limit * per) * sizeof(float));
  data.images = head;
  data.labels.resize(static_cast<size_t>(limit));
  return data;
}

ImageDataset load_split(const ClassifierTrainConfig& cfg, const std::string& split, int64_t limit,
                        int64_t classes) {
  ImageDataset d = first_rows(resolve_dataset(cfg.data, split, 0), limit);
  if (d.size() == 0)
    throw std::invalid_argument("train_classifier: the " + split + " split of '" + cfg.data + "' is empty");
  if (static_cast<int64_t>(d.labels.size()) != d.size())
    throw std::invalid_argument("train_classifier: '" + cfg.data + "' (" + d.source +
                                ") has no labels; the classifier trains on an IDX data set with labels "
                                "(such as fashion-mnist), not on a PNG folder");
  for (int64_t l : d.labels)
    if (l < 0 || l >= classes)
      throw std::invalid_argument("train_classifier: '" + cfg.data + "' has label " + std::to_string(l) +
                                  ", expected 0.." + std::to_string(classes - 1) + " for a " +
                                  std::to_string(classes) + "-class model");
  return d;
}

std::string format_double(double v, const char* fmt) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

}  // namespace

ClassifierTrainResult train_classifier(nn::Classifier& model, const ClassifierTrainConfig& cfg,
                                       const std::function<void(int64_t, int64_t, double)>& progress) {
  const auto t0 = std::chrono::steady_clock::now();
  if (cfg.epochs < 1 || cfg.batch < 1 || !(cfg.lr > 0) || !std::isfinite(cfg.lr) || cfg.limit < 0 ||
      cfg.test_limit < 0)
    throw std::invalid_argument(
        "train_classifier: expected epochs >= 1, batch >= 1, a finite lr > 0 and limits >= 0, got epochs " +
        std::to_string(cfg.epochs) + ", batch " + std::to_string(cfg.batch) + ", lr " +
        format_double(cfg.lr, "%g") + ", limit " + std::to_string(cfg.limit) + ", test_limit " +
        std::to_string(cfg.test_limit));
  const ImageDataset train = load_split(cfg, "train", cfg.limit, model.num_classes());
  const ImageDataset test = load_split(cfg, "test", cfg.test_limit, model.num_classes());
  if (train.channels() != model.in_channels() || test.channels() != model.in_channels() ||
      test.height() != train.height() || test.width() != train.width())
    throw std::invalid_argument("train_classifier: '" + cfg.data + "' has train images " +
                                train.images.desc() + " and test images " + test.images.desc() +
                                ", expected both [N, " + std::to_string(model.in_channels()) +
                                ", H, W] of one size");
  const int64_t n = train.size(), per_epoch = n / cfg.batch;
  if (per_epoch == 0)
    throw std::invalid_argument("train_classifier: batch " + std::to_string(cfg.batch) + " exceeds the " +
                                std::to_string(n) + " training images");

  model.init_parameters(cfg.seed);
  model.to(cfg.device);
  nn::FlatParameters flat(model);
  nn::AdamConfig ac;
  ac.lr = cfg.lr;
  nn::Adam adam(flat, ac);

  const int64_t total = cfg.epochs * per_epoch, per = train.images.numel() / n;
  const int64_t c = train.channels(), h = train.height(), w = train.width();
  std::vector<float> labels(static_cast<size_t>(cfg.batch));
  double epoch_loss = 0;
  ClassifierTrainResult r;
  for (int64_t epoch = 0, step = 0; epoch < cfg.epochs; ++epoch) {
    const std::vector<int64_t> order = epoch_permutation(n, cfg.seed, epoch);
    epoch_loss = 0;
    for (int64_t k = 0; k < per_epoch; ++k, ++step) {
      Tensor x = Tensor::empty({cfg.batch, c, h, w});
      for (int64_t i = 0; i < cfg.batch; ++i) {
        const int64_t row = order[static_cast<size_t>(k * cfg.batch + i)];
        std::memcpy(x.data<float>() + i * per, train.images.data<float>() + row * per,
                    static_cast<size_t>(per) * sizeof(float));
        labels[static_cast<size_t>(i)] = static_cast<float>(train.labels[static_cast<size_t>(row)]);
      }
      if (cfg.device != Device::cpu) x = x.to(cfg.device);
      const Tensor y = Tensor::from_vector(labels, {cfg.batch}, cfg.device);
      const Tensor loss = cross_entropy(model.forward(x), y);
      flat.zero_grad();
      autograd::backward(loss);
      const double value = loss.item();
      if (!std::isfinite(value))
        throw std::runtime_error("train_classifier: the loss is " + format_double(value, "%g") + " at step " +
                                 std::to_string(step) + " (lr " + format_double(cfg.lr, "%g") +
                                 " too high?), expected a finite value");
      // Half cosine from lr at the first step to 0 after the last.
      const double lr =
          0.5 * cfg.lr *
          (1.0 + std::cos(std::numbers::pi * static_cast<double>(step) / static_cast<double>(total)));
      adam.step(lr);
      epoch_loss += value;
      if (progress) progress(step + 1, total, value);
    }
  }
  r.steps = total;
  r.final_loss = epoch_loss / static_cast<double>(per_epoch);
  r.test_accuracy = accuracy(model, test.images, test.labels);
  r.train_images = n;
  r.test_images = test.size();
  r.height = h;
  r.width = w;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

std::map<std::string, std::string> classifier_train_metadata(const ClassifierTrainConfig& cfg,
                                                             const ClassifierTrainResult& result) {
  return {{"data", cfg.data},
          {"seed", std::to_string(cfg.seed)},
          {"epochs", std::to_string(cfg.epochs)},
          {"batch", std::to_string(cfg.batch)},
          {"lr", format_double(cfg.lr, "%.17g")},
          {"limit", std::to_string(cfg.limit)},
          {"steps", std::to_string(result.steps)},
          {"test_accuracy", format_double(result.test_accuracy, "%.4f")},
          {"test_images", std::to_string(result.test_images)},
          {"train_images", std::to_string(result.train_images)},
          {"final_loss", format_double(result.final_loss, "%.6g")},
          {"train_seconds", format_double(result.seconds, "%.1f")},
          {"input_height", std::to_string(result.height)},
          {"input_width", std::to_string(result.width)}};
}

}  // namespace ddpm::eval
