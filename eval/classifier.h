// The evaluation classifier: a small CNN (nn/classifier.h) that the engine
// trains on Fashion-MNIST itself. Its penultimate features (width 128) feed
// the Fréchet distance and precision/recall, its softmax the Inception score
// (docs/evaluation.md, "The classifier").
//
// The file: safetensors with the Classifier's parameters (F32, state_dict
// names) and __metadata__
//   ddpm_eval = "classifier", arch = kClassifierArch, input_channels,
//   input_height, input_width, classes, class_names (comma-separated),
// plus whatever the trainer adds (test_accuracy, seed, epochs, data, ...).
// One default location, default_classifier_path(), is where
// `ddpm-classify train` writes it and where `ddpm-eval` and
// `ddpm-train --eval-every` look.
//
// Reference statistics: reference_set() computes the classifier's features of
// a data set's split once and caches them beside the classifier file, tagged
// with the classifier's fingerprint (FNV-1a of its weights) and the data's
// (FNV-1a of the images): a cache with another tag is recomputed and
// rewritten, never used.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "eval/classifier_metadata.h"
#include "eval/frechet.h"
#include "io/data.h"
#include "nn/classifier.h"
#include "tensor/tensor.h"

namespace ddpm::eval {

// kClassifierArch, kClassifierFormat, kReferenceFormat: eval/classifier_metadata.h.

// Fashion-MNIST's ten class names: fashion_mnist_class_names() in io/data.h.

// $DDPM_CLASSIFIER when set and not empty, else
// ${XDG_CACHE_HOME:-$HOME/.cache}/ddpm/fashion-mnist-classifier.safetensors
// (XDG_CACHE_HOME counts only when absolute, as the XDG spec says). Throws
// std::runtime_error when none of DDPM_CLASSIFIER, XDG_CACHE_HOME and HOME
// is set.
std::string default_classifier_path();

struct LoadedClassifier : ClassifierMetadata {
  std::shared_ptr<nn::Classifier> model;
  // Hex FNV-1a (tensor/fnv1a.h) of the weights' bytes: ties cached
  // statistics to these weights.
  std::string fingerprint;
};

// Hex FNV-1a of a model's parameters (f32 bytes, named_parameters() order).
std::string classifier_fingerprint(const nn::Classifier& model);

// Loads and validates a classifier file. A missing file throws
// std::runtime_error saying how to make one (`ddpm-classify train`); a file
// that is not a classifier, of another arch, with bad metadata, or with a
// tensor of the wrong name, shape or dtype or with a non-finite value throws
// naming the file, the field or tensor, what was found and what was expected.
LoadedClassifier load_classifier(const std::string& path, Device device = Device::cpu);

// Writes the model with `meta` plus the keys the format requires (ddpm_eval,
// arch, input_channels, classes; input_height/input_width default to 28 and
// class_names to Fashion-MNIST's when `meta` has none). A key of `meta` that
// contradicts the model (input_channels, classes, ...) throws
// std::invalid_argument. Creates the folder; the write is atomic
// (io/atomic_file.h), so a failure leaves an earlier file intact.
void save_classifier(const std::string& path, nn::Classifier& model,
                     const std::map<std::string, std::string>& meta);

struct ClassifierOutputs {
  Tensor features;  // [N, 128] f32 cpu
  Tensor probs;     // [N, K] f32 cpu, softmax of the logits
  Tensor logits;    // [N, K] f32 cpu
};

// Runs the classifier over images [N, C, H, W] (f32 or f64, any device, in
// [-1, 1]) in batches of `batch`, without recording a graph. C, H, W must be
// the classifier's (std::invalid_argument naming both shapes otherwise).
ClassifierOutputs classify(const LoadedClassifier& c, const Tensor& images, int64_t batch = 500);

// Fraction of the rows of logits (or probabilities) [N, K] whose arg-max is
// the row's label (labels.size() == N; std::invalid_argument otherwise).
double top1(const Tensor& logits, const std::vector<int64_t>& labels);

// Fraction of rows whose arg-max class equals the label (labels.size() == N).
double accuracy(const LoadedClassifier& c, const Tensor& images, const std::vector<int64_t>& labels);
// The same for a bare model (its parameters' device), images of any size it takes.
double accuracy(nn::Classifier& model, const Tensor& images, const std::vector<int64_t>& labels,
                int64_t batch = 500);

struct ClassifierTrainConfig {
  std::string data = "fashion-mnist";  // "fashion-mnist" or a folder of IDX files (with labels)
  int64_t epochs = 4;
  int64_t batch = 64;
  double lr = 2e-3;  // Adam's peak rate, decayed to 0 along a half cosine
  uint64_t seed = 0;
  int64_t limit = 0;       // first N train images, 0 = all
  int64_t test_limit = 0;  // first N test images, 0 = all
  Device device = Device::cpu;
};

struct ClassifierTrainResult {
  double test_accuracy = 0;  // on the test split (its first test_limit images)
  double final_loss = 0;     // mean training loss of the last epoch
  int64_t steps = 0;
  double seconds = 0;  // the whole call: loading, training, testing
  int64_t train_images = 0, test_images = 0;
  int64_t height = 0, width = 0;  // the images' size (the data set's own, no padding)
};

// Trains `model` from scratch: init_parameters(seed), Adam (lr decayed by a
// half cosine to 0 over all steps), cross-entropy, `epochs` passes over the
// train split in epoch_permutation(N, seed, epoch) order (batches of
// `batch`, an epoch's last N % batch rows skipped), data at its native size
// (pad_to = 0). The same seed gives the same weights bit for bit on the CPU
// (for a given thread count). progress(step, total, loss) after each step.
// Throws std::invalid_argument on a bad configuration or data without labels,
// std::runtime_error when the loss stops being finite.
ClassifierTrainResult train_classifier(
    nn::Classifier& model, const ClassifierTrainConfig& cfg,
    const std::function<void(int64_t step, int64_t total, double loss)>& progress = {});

// The __metadata__ a trained classifier is saved with: data, seed, epochs,
// batch, lr, limit, steps, test_accuracy, test_images, train_images,
// final_loss, train_seconds, input_height, input_width.
std::map<std::string, std::string> classifier_train_metadata(const ClassifierTrainConfig& cfg,
                                                             const ClassifierTrainResult& result);

struct ReferenceSet {
  FeatureStats stats;
  Tensor features;  // [N, 128] f32 cpu, all images of the set
  std::string tag;
  std::string cache_path;   // the cache file beside the classifier
  bool from_cache = false;  // true when the cache was read, false when computed (and written)
};

// Where reference_set caches: beside the classifier,
// "<classifier stem>.<data name>-<split>.features.safetensors", the data name
// "fashion-mnist" or the folder's name plus a hash of its absolute path.
std::string reference_cache_path(const std::string& classifier_path, const std::string& data,
                                 const std::string& split);

// The classifier's features of every image of `data`'s `split` (loaded with
// resolve_dataset, pad_to = 0) and their statistics, from the cache when its
// tag matches (same classifier fingerprint, data name, split, images), else
// computed and the cache rewritten atomically. A cache that cannot be read or
// has another tag is never used. Throws when the cache cannot be written.
ReferenceSet reference_set(const LoadedClassifier& c, const std::string& classifier_path,
                           const std::string& data = "fashion-mnist", const std::string& split = "test");

}  // namespace ddpm::eval
