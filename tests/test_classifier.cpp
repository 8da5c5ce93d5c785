// The evaluation classifier (nn/classifier.h, eval/classifier.h,
// ddpm-classify): training is deterministic and learns, the file round trip
// and its errors, classify(), the cached reference features, the default
// location. `eval:` cases use a synthetic IDX data set of textures written
// here; `fashion-mnist:` cases need the real data set.
#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "autograd/functions.h"
#include "autograd/node.h"
#include "eval/classifier.h"
#include "eval/frechet.h"
#include "io/atomic_file.h"
#include "io/data.h"
#include "io/safetensors.h"
#include "tests/io_util.h"
#include "tests/preconditions.h"
#include "tests/tool_runner.h"

using namespace ddpm;
using namespace ddpm::eval;
using ddpm::test::check_contains;
using ddpm::test::error_message;
using ddpm::test::TempDir;
namespace fs = std::filesystem;

namespace {

constexpr int64_t kSide = 12;  // synthetic images: 12x12, one channel

std::string be32(uint32_t v) { return ddpm::test::be32(v); }

// Texture `label` (0 horizontal stripes, 1 vertical stripes, 2 checkerboard,
// 3 flat) at a random phase and brightness, plus noise: four classes a
// convolution and global average pooling tell apart, whatever the position.
std::string texture(int label, std::mt19937& rng) {
  std::uniform_int_distribution<int> noise(0, 50), phase(0, 1), level(170, 230);
  const int p = phase(rng), hi = level(rng);
  std::string px(static_cast<size_t>(kSide * kSide), '\0');
  for (int64_t y = 0; y < kSide; ++y)
    for (int64_t x = 0; x < kSide; ++x) {
      bool on = false;
      if (label == 0) on = (y + p) % 2 == 0;
      if (label == 1) on = (x + p) % 2 == 0;
      if (label == 2) on = (x + y + p) % 2 == 0;
      const int v = label == 3 ? hi / 2 + noise(rng) : (on ? hi : 0) + noise(rng) / 2;
      px[static_cast<size_t>(y * kSide + x)] = static_cast<char>(std::min(v, 255));
    }
  return px;
}

// An IDX data set of textures in dir: `n_train` train and `n_test` t10k images.
void write_textures(const fs::path& dir, int64_t n_train, int64_t n_test, uint32_t seed = 1) {
  fs::create_directories(dir);
  std::mt19937 rng(seed);
  for (const auto& [prefix, n] : {std::pair<std::string, int64_t>{"train", n_train}, {"t10k", n_test}}) {
    std::string img = be32(0x803) + be32(static_cast<uint32_t>(n)) + be32(kSide) + be32(kSide);
    std::string lab = be32(0x801) + be32(static_cast<uint32_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      const int label = static_cast<int>(i % 4);
      img += texture(label, rng);
      lab += static_cast<char>(label);
    }
    write_file_atomic((dir / (prefix + "-images-idx3-ubyte")).string(), img);
    write_file_atomic((dir / (prefix + "-labels-idx1-ubyte")).string(), lab);
  }
}

ClassifierTrainConfig texture_config(const fs::path& dir) {
  ClassifierTrainConfig cfg;
  cfg.data = dir.string();
  cfg.epochs = 2;
  cfg.batch = 32;
  cfg.lr = 3e-3;
  return cfg;
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.to_vector<float>() == b.to_vector<float>();
}

// A classifier trained on the textures and saved at `path`.
LoadedClassifier trained_textures(const fs::path& data, const std::string& path, uint64_t seed = 0) {
  nn::Classifier model(1, 10);
  ClassifierTrainConfig cfg = texture_config(data);
  cfg.seed = seed;
  cfg.epochs = 1;
  const ClassifierTrainResult r = train_classifier(model, cfg);
  save_classifier(path, model, classifier_train_metadata(cfg, r));
  return load_classifier(path);
}

// Sets an environment variable for a scope, restoring the old value after.
class EnvVar {
 public:
  EnvVar(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value)
      ::setenv(name, value, 1);
    else
      ::unsetenv(name);
  }
  ~EnvVar() {
    if (old_)
      ::setenv(name_, old_->c_str(), 1);
    else
      ::unsetenv(name_);
  }
  EnvVar(const EnvVar&) = delete;
  EnvVar& operator=(const EnvVar&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

}  // namespace

TEST_CASE("eval: the classifier's features are [N, 128] for any image size, its logits [N, K]") {
  nn::Classifier model(1, 10);
  for (const auto& [h, w] : {std::pair<int64_t, int64_t>{28, 28}, {12, 12}, {32, 20}}) {
    const Tensor x = Tensor::zeros({3, 1, h, w});
    CHECK(model.features(x).shape() == Shape{3, nn::kClassifierFeatures});
    CHECK(model.forward(x).shape() == Shape{3, 10});
  }
  nn::Classifier rgb(3, 5);
  CHECK(rgb.forward(Tensor::zeros({2, 3, 8, 8})).shape() == Shape{2, 5});
  check_contains(error_message<std::invalid_argument>([&] {
                   model.forward(Tensor::zeros({2, 3, 28, 28}));
                 }),
                 {"Classifier::features", "[N, 1, H, W]", "[2, 3, 28, 28]"});
  check_contains(error_message<std::invalid_argument>([&] {
                   model.forward(Tensor::zeros({2, 1, 7, 28}));
                 }),
                 {"H, W >= 8", "[2, 1, 7, 28]"});
}

TEST_CASE("eval: train_classifier is deterministic for a seed, differs across seeds, and learns") {
  TempDir tmp;
  write_textures(tmp.path() / "tex", 512, 256);
  ClassifierTrainConfig cfg = texture_config(tmp.path() / "tex");
  nn::Classifier a(1, 10), b(1, 10), c(1, 10);
  int64_t calls = 0, last_total = 0;
  const ClassifierTrainResult ra = train_classifier(a, cfg, [&](int64_t step, int64_t total, double loss) {
    ++calls;
    CHECK(step == calls);
    CHECK(std::isfinite(loss));
    last_total = total;
  });
  const ClassifierTrainResult rb = train_classifier(b, cfg);
  CHECK(ra.steps == 2 * (512 / 32));
  CHECK(calls == ra.steps);
  CHECK(last_total == ra.steps);
  CHECK(ra.train_images == 512);
  CHECK(ra.test_images == 256);
  CHECK(ra.height == kSide);
  CHECK(ra.width == kSide);
  for (size_t i = 0; i < a.parameters().size(); ++i) CHECK(same_bits(a.parameters()[i], b.parameters()[i]));
  CHECK(classifier_fingerprint(a) == classifier_fingerprint(b));
  CHECK(ra.test_accuracy == rb.test_accuracy);
  CHECK(ra.final_loss == rb.final_loss);
  // Four textures: chance is 25%; the trained model tells them apart.
  MESSAGE("textures: test accuracy " << ra.test_accuracy << ", final loss " << ra.final_loss << ", "
                                     << ra.seconds << " s");
  CHECK(ra.test_accuracy > 0.9);
  CHECK(ra.final_loss < 0.5);

  cfg.seed = 1;
  train_classifier(c, cfg);
  CHECK(classifier_fingerprint(c) != classifier_fingerprint(a));

  cfg.limit = 100;
  cfg.test_limit = 10;
  const ClassifierTrainResult rl = train_classifier(c, cfg);
  CHECK(rl.train_images == 100);
  CHECK(rl.test_images == 10);
  CHECK(rl.steps == 2 * (100 / 32));
}

TEST_CASE("eval: train_classifier refuses bad settings and data without labels") {
  TempDir tmp;
  write_textures(tmp.path() / "tex", 64, 16);
  nn::Classifier model(1, 10);
  ClassifierTrainConfig cfg = texture_config(tmp.path() / "tex");
  cfg.batch = 65;
  check_contains(error_message<std::invalid_argument>([&] { train_classifier(model, cfg); }),
                 {"batch 65", "64 training images"});
  cfg.batch = 32;
  cfg.lr = 0;
  check_contains(error_message<std::invalid_argument>([&] { train_classifier(model, cfg); }), {"lr 0"});
  nn::Classifier three(1, 3);  // the textures have label 3
  cfg.lr = 1e-3;
  check_contains(error_message<std::invalid_argument>([&] { train_classifier(three, cfg); }),
                 {"label 3", "0..2"});
  nn::Classifier rgb(3, 10);
  check_contains(error_message<std::invalid_argument>([&] { train_classifier(rgb, cfg); }), {"[N, 3, H, W]"});
}

TEST_CASE("eval: a saved classifier loads with identical outputs, metadata and fingerprint") {
  TempDir tmp;
  write_textures(tmp.path() / "tex", 256, 64);
  nn::Classifier model(1, 10);
  ClassifierTrainConfig cfg = texture_config(tmp.path() / "tex");
  cfg.epochs = 1;
  const ClassifierTrainResult r = train_classifier(model, cfg);
  const std::string path = tmp.file("deep/er/classifier.safetensors");  // folders created
  save_classifier(path, model, classifier_train_metadata(cfg, r));
  const LoadedClassifier c = load_classifier(path);
  CHECK(c.channels == 1);
  CHECK(c.height == kSide);
  CHECK(c.width == kSide);
  CHECK(c.classes == 10);
  REQUIRE(c.class_names.size() == 10);
  CHECK(c.class_names[0] == "T-shirt/top");
  CHECK(c.class_names[9] == "Ankle boot");
  CHECK(c.meta.at("ddpm_eval") == "classifier");
  CHECK(c.meta.at("arch") == kClassifierArch);
  CHECK(c.meta.at("seed") == "0");
  CHECK(c.meta.at("epochs") == "1");
  CHECK(c.meta.at("test_accuracy") == classifier_train_metadata(cfg, r).at("test_accuracy"));
  CHECK(c.fingerprint == classifier_fingerprint(model));
  CHECK(c.fingerprint.size() == 16);

  const ImageDataset test = load_idx_dataset((tmp.path() / "tex").string(), "test", 0);
  const ClassifierOutputs loaded = classify(c, test.images);  // one batch, as below
  Tensor want_logits, want_features;
  {
    autograd::NoGradGuard g;
    want_features = model.features(test.images);
    want_logits = model.forward(test.images);
  }
  CHECK(same_bits(loaded.logits, want_logits));
  CHECK(same_bits(loaded.features, want_features));
  CHECK(loaded.features.shape() == Shape{64, nn::kClassifierFeatures});
  CHECK(loaded.probs.shape() == Shape{64, 10});
  // Batches of 7 (a short last one) give the same rows, up to the GEMM's
  // blocking, which depends on the batch size.
  const std::vector<float> by7 = classify(c, test.images, 7).logits.to_vector<float>();
  const std::vector<float> whole = loaded.logits.to_vector<float>();
  REQUIRE(by7.size() == whole.size());
  for (size_t i = 0; i < whole.size(); ++i) CHECK(by7[i] == doctest::Approx(whole[i]).epsilon(1e-5));
  CHECK(accuracy(c, test.images, test.labels) == r.test_accuracy);

  // Overwriting keeps one file, no temporaries beside it.
  save_classifier(path, model, {{"note", "again"}});
  CHECK(load_classifier(path).meta.at("note") == "again");
  CHECK(fs::directory_iterator(tmp.path() / "deep/er") != fs::directory_iterator());
  int64_t files = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(tmp.path() / "deep/er")) ++files;
  CHECK(files == 1);
  check_contains(error_message<std::invalid_argument>([&] {
                   save_classifier(path, model, {{"classes", "7"}});
                 }),
                 {"classes", "'7'", "'10'"});
}

TEST_CASE("eval: load_classifier names the file, the tensor, what it found and what it expected") {
  TempDir tmp;
  const std::string missing = tmp.file("none.safetensors");
  check_contains(error_message<std::runtime_error>([&] { load_classifier(missing); }),
                 {"no classifier at", missing, "ddpm-classify train", "--out"});

  nn::Classifier model(1, 10);
  const std::string good = tmp.file("good.safetensors");
  save_classifier(good, model, {});
  const SafetensorsFile f = load_safetensors(good);
  // Rewrites the good file with changed metadata and tensors.
  auto variant = [&](const std::string& name, std::map<std::string, std::string> md,
                     const std::map<std::string, Tensor>& replace) {
    std::vector<std::pair<std::string, Tensor>> tensors;
    for (const auto& [n, p] : model.named_parameters())
      tensors.emplace_back(n, replace.count(n) ? replace.at(n) : p.detach());
    const std::string path = tmp.file(name);
    save_safetensors(path, tensors, md);
    return path;
  };
  std::map<std::string, std::string> md = f.metadata();

  const std::string stats = tmp.file("stats.safetensors");
  save_feature_stats(stats, feature_stats(Tensor::from_vector(std::vector<double>{0, 1, 2, 4}, {2, 2})), "t");
  check_contains(error_message<std::runtime_error>([&] { load_classifier(stats); }),
                 {stats, "not a classifier file", "feature_stats", "'classifier'"});

  auto other_arch = md;
  other_arch["arch"] = "fashion-cnn-v0";
  const std::string arch_path = variant("arch.safetensors", other_arch, {});
  check_contains(error_message<std::runtime_error>([&] { load_classifier(arch_path); }),
                 {arch_path, "'fashion-cnn-v0'", kClassifierArch});

  const std::string shape_path =
      variant("shape.safetensors", md, {{"block2.0.weight", Tensor::zeros({64, 32, 5, 5})}});
  check_contains(error_message<std::runtime_error>([&] { load_classifier(shape_path); }),
                 {shape_path, "block2.0.weight", "[64, 32, 5, 5]", "[64, 32, 3, 3]"});

  const std::string f64_path =
      variant("f64.safetensors", md, {{"head.bias", Tensor::zeros({10}, DType::f64)}});
  check_contains(error_message<std::runtime_error>([&] { load_classifier(f64_path); }),
                 {f64_path, "head.bias", "F64", "expected F32"});

  Tensor nan_bias = Tensor::zeros({10});
  nan_bias.data<float>()[3] = std::nanf("");
  const std::string nan_path = variant("nan.safetensors", md, {{"head.bias", nan_bias}});
  check_contains(error_message<std::runtime_error>([&] { load_classifier(nan_path); }),
                 {nan_path, "head.bias", "flat index 3", "finite"});

  auto few_names = md;
  few_names["class_names"] = "a,b,c";
  const std::string names_path = variant("names.safetensors", few_names, {});
  check_contains(error_message<std::runtime_error>([&] { load_classifier(names_path); }),
                 {names_path, "3 names", "expected 10"});

  auto bad_height = md;
  bad_height["input_height"] = "2x";
  const std::string height_path = variant("height.safetensors", bad_height, {});
  check_contains(error_message<std::runtime_error>([&] { load_classifier(height_path); }),
                 {height_path, "input_height", "'2x'"});
}

TEST_CASE("eval: classify runs without a graph and refuses images of another size") {
  TempDir tmp;
  const std::string path = tmp.file("c.safetensors");
  nn::Classifier model(1, 10);
  save_classifier(path, model, {});
  const LoadedClassifier c = load_classifier(path);
  CHECK(c.height == 28);
  Tensor x = Tensor::full({5, 1, 28, 28}, 0.25);
  const ClassifierOutputs out = classify(c, x);
  CHECK_FALSE(out.features.requires_grad());
  CHECK_FALSE(out.logits.requires_grad());
  CHECK(out.features.device() == Device::cpu);
  const std::vector<float> p = out.probs.to_vector<float>();
  for (int64_t i = 0; i < 5; ++i) {
    double s = 0;
    for (int64_t k = 0; k < 10; ++k) s += p[static_cast<size_t>(i * 10 + k)];
    CHECK(s == doctest::Approx(1.0).epsilon(1e-5));
  }
  // f64 images give the same result as f32.
  CHECK(same_bits(classify(c, x.to(DType::f64)).logits, out.logits));
  check_contains(error_message<std::invalid_argument>([&] {
                   classify(c, Tensor::zeros({2, 1, 32, 32}));
                 }),
                 {"classify", "[2, 1, 32, 32]", "[N, 1, 28, 28]"});
  check_contains(error_message<std::invalid_argument>([&] {
                   classify(c, Tensor::zeros({2, 3, 28, 28}));
                 }),
                 {"[2, 3, 28, 28]", "[N, 1, 28, 28]"});
  check_contains(error_message<std::invalid_argument>([&] {
                   classify(c, Tensor::zeros({28, 28}));
                 }),
                 {"[28, 28]"});
}

TEST_CASE("eval: reference_set caches the features beside the classifier and recomputes for new weights") {
  TempDir tmp;
  const fs::path data = tmp.path() / "tex";
  write_textures(data, 128, 96);
  const std::string path = tmp.file("models/clf.safetensors");
  const LoadedClassifier c = trained_textures(data, path, 0);

  const ReferenceSet first = reference_set(c, path, data.string(), "test");
  CHECK_FALSE(first.from_cache);
  CHECK(fs::path(first.cache_path).parent_path() == tmp.path() / "models");
  CHECK(fs::path(first.cache_path).filename().string().rfind("clf.tex-", 0) == 0);
  CHECK(first.cache_path.ends_with("-test.features.safetensors"));
  REQUIRE(fs::exists(first.cache_path));
  CHECK(first.features.shape() == Shape{96, nn::kClassifierFeatures});
  CHECK(first.stats.n == 96);
  const FeatureStats direct =
      feature_stats(classify(c, load_idx_dataset(data.string(), "test", 0).images).features);
  CHECK(first.stats.mean == direct.mean);
  CHECK(first.stats.cov == direct.cov);
  check_contains(first.tag, {c.fingerprint, "test", kClassifierArch});

  const ReferenceSet again = reference_set(c, path, data.string(), "test");
  CHECK(again.from_cache);
  CHECK(again.tag == first.tag);
  CHECK(same_bits(again.features, first.features));
  CHECK(again.stats.mean == first.stats.mean);
  CHECK(again.stats.cov == first.stats.cov);

  // Another split is another file.
  const ReferenceSet train = reference_set(c, path, data.string(), "train");
  CHECK_FALSE(train.from_cache);
  CHECK(train.cache_path != first.cache_path);
  CHECK(train.stats.n == 128);

  // New weights at the same path: the cache is stale, recomputed and rewritten.
  const LoadedClassifier c2 = trained_textures(data, path, 5);
  REQUIRE(c2.fingerprint != c.fingerprint);
  const ReferenceSet renewed = reference_set(c2, path, data.string(), "test");
  CHECK_FALSE(renewed.from_cache);
  CHECK(renewed.cache_path == first.cache_path);
  CHECK(renewed.tag != first.tag);
  CHECK_FALSE(same_bits(renewed.features, first.features));
  CHECK(load_safetensors(renewed.cache_path).metadata().at("classifier_fingerprint") == c2.fingerprint);
  CHECK(reference_set(c2, path, data.string(), "test").from_cache);

  // A corrupt cache is recomputed, never used.
  write_file_atomic(renewed.cache_path, std::string("garbage"));
  const ReferenceSet repaired = reference_set(c2, path, data.string(), "test");
  CHECK_FALSE(repaired.from_cache);
  CHECK(same_bits(repaired.features, renewed.features));
  CHECK(reference_set(c2, path, data.string(), "test").from_cache);

  // Changed images under the same folder name: recomputed too.
  write_textures(data, 128, 96, 2);
  const ReferenceSet new_data = reference_set(c2, path, data.string(), "test");
  CHECK_FALSE(new_data.from_cache);
  CHECK(new_data.tag != renewed.tag);
}

TEST_CASE("eval: default_classifier_path follows DDPM_CLASSIFIER, then XDG_CACHE_HOME, then HOME") {
  const std::string file = "ddpm/fashion-mnist-classifier.safetensors";
  {
    EnvVar a("DDPM_CLASSIFIER", "/x/my.safetensors"), b("XDG_CACHE_HOME", "/xdg"), h("HOME", "/home/u");
    CHECK(default_classifier_path() == "/x/my.safetensors");
  }
  {
    EnvVar a("DDPM_CLASSIFIER", ""), b("XDG_CACHE_HOME", "/xdg"), h("HOME", "/home/u");
    CHECK(default_classifier_path() == "/xdg/" + file);
  }
  {
    EnvVar a("DDPM_CLASSIFIER", nullptr), b("XDG_CACHE_HOME", "relative"), h("HOME", "/home/u");
    CHECK(default_classifier_path() == "/home/u/.cache/" + file);
  }
  {
    EnvVar a("DDPM_CLASSIFIER", nullptr), b("XDG_CACHE_HOME", nullptr), h("HOME", nullptr);
    check_contains(error_message<std::runtime_error>([] { default_classifier_path(); }),
                   {"DDPM_CLASSIFIER", "HOME"});
  }
}

TEST_CASE("tools: ddpm-classify refuses bad flags (exit 2) and a missing classifier (exit 1)") {
  TempDir tmp;
  using ddpm::test::check_run;
  using ddpm::test::run_program;
  const std::string exe = DDPM_CLASSIFY_EXE;
  check_run(run_program(exe, {}, tmp), 2, {"train", "test"});
  check_run(run_program(exe, {"fly"}, tmp), 2, {"fly"});
  check_run(run_program(exe, {"train", "--epochs", "0"}, tmp), 2, {"--epochs"});
  check_run(run_program(exe, {"train", "--lr", "nan"}, tmp), 2, {"--lr"});
  check_run(run_program(exe, {"train", "--seed", "-1"}, tmp), 2, {"--seed"});
  const std::string missing = tmp.file("none.safetensors");
  check_run(run_program(exe, {"test", "--classifier", missing}, tmp), 1,
            {"ddpm-classify: error:", "no classifier at", missing, "ddpm-classify train"});
  // An output that cannot be written is refused before any training.
  write_file_atomic(tmp.file("file"), std::string("x"));
  check_run(
      run_program(exe, {"train", "--data", tmp.file("nodata"), "--out", tmp.file("file/c.safetensors")}, tmp),
      1, {"ddpm-classify: error:", "--out"});
  // A data set without labels (a PNG folder) is refused naming it.
  ddpm::test::write_png_folder(tmp.path() / "png", 4, 8, 8);
  check_run(run_program(exe, {"train", "--data", tmp.file("png"), "--out", tmp.file("c.safetensors")}, tmp),
            1, {"ddpm-classify: error:", "no labels"});
  CHECK_FALSE(fs::exists(tmp.file("c.safetensors")));
}

TEST_CASE("fashion-mnist: a classifier trained on 2000 images for one epoch beats chance clearly" *
          ddpm::test::unless_missing("fashion-mnist")) {
  DDPM_REQUIRE_PRECONDITION("fashion-mnist");
  nn::Classifier model(1, 10);
  ClassifierTrainConfig cfg;
  cfg.epochs = 1;
  cfg.batch = 32;
  cfg.limit = 2000;
  cfg.test_limit = 2000;
  const ClassifierTrainResult r = train_classifier(model, cfg);
  MESSAGE("2000 Fashion-MNIST images, 1 epoch: test accuracy " << r.test_accuracy << " on 2000, " << r.seconds
                                                               << " s");
  CHECK(r.height == 28);
  CHECK(r.width == 28);
  CHECK(r.steps == 2000 / 32);
  CHECK(r.test_accuracy > 0.6);  // chance is 0.1
}

TEST_CASE("fashion-mnist: ddpm-classify train writes a classifier that ddpm-classify test reads" *
          ddpm::test::unless_missing("fashion-mnist")) {
  DDPM_REQUIRE_PRECONDITION("fashion-mnist");
  TempDir tmp;
  const std::string exe = DDPM_CLASSIFY_EXE, out = tmp.file("c/clf.safetensors");
  const ddpm::test::RunResult r = ddpm::test::run_program(
      exe, {"train", "--limit", "640", "--epochs", "1", "--batch", "64", "--device", "cpu", "--out", out},
      tmp);
  ddpm::test::check_run(r, 0, {"training", "loss", "img/s", "test accuracy", "wrote " + out});
  const LoadedClassifier c = load_classifier(out);
  CHECK(c.meta.at("limit") == "640");
  CHECK(c.meta.at("steps") == "10");
  CHECK(c.meta.at("data") == "fashion-mnist");
  ddpm::test::check_run(ddpm::test::run_program(exe, {"test", "--classifier", out, "--limit", "500"}, tmp), 0,
                        {"test accuracy", "on 500 images", c.fingerprint});
}

TEST_CASE("fashion-mnist: reference_set of the test split caches 10000 features beside the classifier" *
          ddpm::test::unless_missing("fashion-mnist")) {
  DDPM_REQUIRE_PRECONDITION("fashion-mnist");
  TempDir tmp;
  const std::string path = tmp.file("clf.safetensors");
  nn::Classifier model(1, 10);  // untrained: the cache does not care
  save_classifier(path, model, {});
  const LoadedClassifier c = load_classifier(path);
  const auto t0 = std::chrono::steady_clock::now();
  const ReferenceSet ref = reference_set(c, path);
  const double computed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const auto t1 = std::chrono::steady_clock::now();
  const ReferenceSet cached = reference_set(c, path);
  const double read = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  MESSAGE("reference_set fashion-mnist/test: computed in " << computed << " s, read from the cache in "
                                                           << read << " s");
  CHECK_FALSE(ref.from_cache);
  CHECK(cached.from_cache);
  CHECK(ref.cache_path == tmp.file("clf.fashion-mnist-test.features.safetensors"));
  CHECK(ref.features.shape() == Shape{10000, nn::kClassifierFeatures});
  CHECK(cached.stats.n == 10000);
  CHECK(cached.stats.mean == ref.stats.mean);
  CHECK(frechet_distance(ref.stats, cached.stats) == doctest::Approx(0.0).epsilon(1e-9));
}
