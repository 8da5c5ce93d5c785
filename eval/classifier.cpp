// The classifier file (save/load/fingerprint), the default location, and
// running a classifier over images. Training: eval/classifier_train.cpp;
// the cached reference features: eval/reference_set.cpp.
#include "eval/classifier.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <stdexcept>

#include "autograd/node.h"
#include "io/safetensors.h"
#include "kernels/softmax.h"
#include "tensor/fnv1a.h"

namespace ddpm::eval {

namespace {

std::string squote(const std::string& s) { return "'" + s + "'"; }

std::string join_commas(const std::vector<std::string>& v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? "," : "") + v[i];
  return out;
}

std::string hex64(uint64_t h) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

Device model_device(const nn::Classifier& model) { return model.parameters().front().device(); }

// Outputs of a bare model over host images [N, C, H, W] f32, in batches.
ClassifierOutputs run_model(nn::Classifier& model, const Tensor& images, int64_t batch) {
  if (batch < 1) throw std::invalid_argument("classify: batch must be >= 1, got " + std::to_string(batch));
  autograd::NoGradGuard no_grad;
  const Device device = model_device(model);
  Tensor host = images.device() == Device::cpu ? images : images.to(Device::cpu);
  if (host.dtype() != DType::f32) host = host.to(DType::f32);
  const int64_t n = host.size(0), per = n > 0 ? host.numel() / n : 0, k = model.num_classes();
  const int64_t d = nn::kClassifierFeatures;
  ClassifierOutputs out{Tensor::empty({n, d}), Tensor::empty({n, k}), Tensor::empty({n, k})};
  for (int64_t first = 0; first < n; first += batch) {
    const int64_t b = std::min(batch, n - first);
    const Tensor x = Tensor::from_host(host.data<float>() + first * per,
                                       {b, host.size(1), host.size(2), host.size(3)}, DType::f32, device);
    const Tensor f = model.features(x);
    const Tensor logits = model.head(f);
    const Tensor probs = kernels::softmax_fwd(logits);
    f.copy_to_host(out.features.data<float>() + first * d);
    logits.copy_to_host(out.logits.data<float>() + first * k);
    probs.copy_to_host(out.probs.data<float>() + first * k);
  }
  return out;
}

void check_images(const Tensor& images, int64_t c, int64_t h, int64_t w, const char* who) {
  const bool ok = images.defined() && images.dim() == 4 && images.size(1) == c &&
                  (h <= 0 || images.size(2) == h) && (w <= 0 || images.size(3) == w) &&
                  (images.dtype() == DType::f32 || images.dtype() == DType::f64);
  if (!ok)
    throw std::invalid_argument(
        std::string(who) + ": images are " + (images.defined() ? images.desc() : std::string("undefined")) +
        ", expected [N, " + std::to_string(c) + ", " + (h > 0 ? std::to_string(h) : std::string("H")) + ", " +
        (w > 0 ? std::to_string(w) : std::string("W")) + "] f32 (the classifier's input)");
}

}  // namespace

double top1(const Tensor& logits, const std::vector<int64_t>& labels) {
  const int64_t n = logits.size(0), k = logits.size(1);
  if (static_cast<int64_t>(labels.size()) != n)
    throw std::invalid_argument("top1: " + std::to_string(labels.size()) + " labels for " +
                                std::to_string(n) + " images, expected one label per image");
  if (n == 0) throw std::invalid_argument("top1: no images");
  const float* p = logits.data<float>();
  int64_t right = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float* row = p + i * k;
    const int64_t best = std::max_element(row, row + k) - row;
    if (best == labels[static_cast<size_t>(i)]) ++right;
  }
  return static_cast<double>(right) / static_cast<double>(n);
}

std::string default_classifier_path() {
  const char* env = std::getenv("DDPM_CLASSIFIER");
  if (env != nullptr && env[0] != '\0') return env;
  const std::string file = "ddpm/fashion-mnist-classifier.safetensors";
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  if (xdg != nullptr && xdg[0] == '/') return (std::filesystem::path(xdg) / file).string();
  const char* home = std::getenv("HOME");
  if (home != nullptr && home[0] != '\0') return (std::filesystem::path(home) / ".cache" / file).string();
  throw std::runtime_error(
      "no default classifier location: none of DDPM_CLASSIFIER, XDG_CACHE_HOME and HOME is set "
      "(set DDPM_CLASSIFIER to the classifier's path)");
}

std::string classifier_fingerprint(const nn::Classifier& model) {
  uint64_t h = kFnv1aOffset;
  for (const Tensor& p : model.parameters()) {
    const Tensor host = p.device() == Device::cpu ? p : p.to(Device::cpu);
    const Tensor f = host.dtype() == DType::f32 ? host : host.to(DType::f32);
    h = fnv1a(f.raw_data(), f.nbytes(), h);
  }
  return hex64(h);
}

void save_classifier(const std::string& path, nn::Classifier& model,
                     const std::map<std::string, std::string>& meta) {
  std::map<std::string, std::string> md = meta;
  auto set = [&](const std::string& key, const std::string& value) {
    auto it = md.find(key);
    if (it != md.end() && it->second != value)
      throw std::invalid_argument("save_classifier: metadata " + squote(key) + " = " + squote(it->second) +
                                  " contradicts the model's " + squote(value));
    md[key] = value;
  };
  set("ddpm_eval", kClassifierFormat);
  set("arch", kClassifierArch);
  set("input_channels", std::to_string(model.in_channels()));
  set("classes", std::to_string(model.num_classes()));
  md.try_emplace("input_height", "28");
  md.try_emplace("input_width", "28");
  if (!md.count("class_names")) {
    std::vector<std::string> names;
    if (model.num_classes() == 10)
      names = fashion_mnist_class_names();
    else
      for (int64_t i = 0; i < model.num_classes(); ++i) names.push_back(std::to_string(i));
    md["class_names"] = join_commas(names);
  }
  if (static_cast<int64_t>(split_class_names(md["class_names"]).size()) != model.num_classes())
    throw std::invalid_argument("save_classifier: class_names " + squote(md["class_names"]) + " has " +
                                std::to_string(split_class_names(md["class_names"]).size()) +
                                " names, expected " + std::to_string(model.num_classes()));
  std::vector<SafetensorsBlob> blobs;
  for (const auto& [name, p] : model.named_parameters())
    blobs.push_back(safetensors_blob(name, p.to(DType::f32)));
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    if (ec)
      throw std::runtime_error("save_classifier: cannot create the folder " + squote(parent.string()) +
                               " of " + squote(path) + ": " + ec.message());
  }
  save_safetensors(path, blobs, md);
}

LoadedClassifier load_classifier(const std::string& path, Device device) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    throw std::runtime_error("there is no classifier at " + squote(path) +
                             "; make one with `ddpm-classify train` (it writes the default location, "
                             "$DDPM_CLASSIFIER or ~/.cache/ddpm/fashion-mnist-classifier.safetensors) or "
                             "`ddpm-classify train --out " +
                             path + "`");
  const SafetensorsFile f = load_safetensors(path);
  LoadedClassifier out;
  static_cast<ClassifierMetadata&>(out) = read_classifier_metadata(f.metadata(), path);
  out.model = std::make_shared<nn::Classifier>(out.channels, out.classes);
  std::vector<std::pair<std::string, Shape>> expected;
  for (const auto& [name, p] : out.model->named_parameters()) expected.emplace_back(name, p.shape());
  require_names(f, expected);  // names the file and every missing, extra or misshapen tensor
  for (auto& [name, p] : out.model->named_parameters()) {
    const SafetensorsEntry& e = f.entry(name);
    if (e.dtype != "F32")
      throw std::runtime_error("classifier " + squote(path) + ": tensor " + squote(name) + " has dtype " +
                               e.dtype + ", expected F32");
    const Tensor t = f.tensor(name);
    const float* v = t.data<float>();
    for (int64_t i = 0; i < t.numel(); ++i)
      if (!std::isfinite(v[i]))
        throw std::runtime_error("classifier " + squote(path) + ": tensor " + squote(name) + " holds " +
                                 std::to_string(v[i]) + " at flat index " + std::to_string(i) +
                                 ", expected finite values (a corrupt file or a diverged training run)");
    p.copy_(t);
  }
  out.fingerprint = classifier_fingerprint(*out.model);
  if (device != Device::cpu) out.model->to(device);
  return out;
}

ClassifierOutputs classify(const LoadedClassifier& c, const Tensor& images, int64_t batch) {
  if (!c.model) throw std::invalid_argument("classify: the LoadedClassifier holds no model");
  check_images(images, c.channels, c.height, c.width, "classify");
  return run_model(*c.model, images, batch);
}

double accuracy(const LoadedClassifier& c, const Tensor& images, const std::vector<int64_t>& labels) {
  return top1(classify(c, images).logits, labels);
}

double accuracy(nn::Classifier& model, const Tensor& images, const std::vector<int64_t>& labels,
                int64_t batch) {
  check_images(images, model.in_channels(), 0, 0, "accuracy");
  return top1(run_model(model, images, batch).logits, labels);
}

}  // namespace ddpm::eval
