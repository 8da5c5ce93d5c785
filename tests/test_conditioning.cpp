// Class conditioning: the class embedding (nn), Tensor::rows (tensor), the
// configuration keys, the labelled PNG folder and class names (data), the
// trainer's labels and label dropout, and classifier-free guidance
// (diffusion).
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>

#include "autograd/functions.h"
#include "autograd/node.h"
#include "diffusion/evaluate.h"
#include "diffusion/guidance.h"
#include "diffusion/sampler.h"
#include "diffusion/trainer.h"
#include "io/data.h"
#include "io/images.h"
#include "nn/embedding.h"
#include "nn/unet.h"
#include "tensor/rng.h"
#include "tests/gradcheck.h"
#include "tests/io_util.h"

using namespace ddpm;
using namespace ddpm::nn;
namespace fs = std::filesystem;

namespace {

// A small class-conditional UNet config (3 classes) in the tests' sizes.
UNetConfig cond_config(int64_t classes = 3) {
  UNetConfig c{1, 8, 16, TimeEmbedding::sinusoidal, 8};
  c.num_classes = classes;
  return c;
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  const auto x = a.to_vector<double>(), y = b.to_vector<double>();
  REQUIRE(x.size() == y.size());
  double m = 0;
  for (size_t i = 0; i < x.size(); ++i) m = std::max(m, std::fabs(x[i] - y[i]));
  return m;
}

// A PNG of h x w, every pixel `value`.
void write_flat_png(const fs::path& path, int64_t h, int64_t w, uint8_t value) {
  fs::create_directories(path.parent_path());
  write_png(path.string(), Raster{w, h, 1, std::vector<uint8_t>(static_cast<size_t>(h * w), value)});
}

}  // namespace

TEST_CASE("tensor: rows() views a range of the first dimension without copying") {
  const Tensor x = Tensor::from_vector(std::vector<float>{0, 1, 2, 3, 4, 5, 6, 7}, {4, 2});
  const Tensor r = x.rows(1, 3);
  CHECK(r.shape() == Shape{2, 2});
  CHECK(r.to_vector<float>() == std::vector<float>{2, 3, 4, 5});
  CHECK(r.impl()->storage == x.impl()->storage);
  CHECK(x.rows(4, 4).shape() == Shape{0, 2});
  // A view of a view keeps counting from its own first row.
  CHECK(r.rows(1, 2).to_vector<float>() == std::vector<float>{4, 5});
  CHECK_THROWS_WITH_AS(x.rows(3, 5), doctest::Contains("[3, 5)"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(x.rows(2, 1), doctest::Contains("begin <= end"), std::invalid_argument);
}

TEST_CASE("nn: Embedding looks rows up, and its gradient sums the rows' output gradients") {
  Embedding e(3, 2, 7);
  e.to(DType::f64);
  CHECK(e.weight().shape() == Shape{3, 2});
  const std::vector<int64_t> ids = {1, 0, 1, 1};
  const Tensor y = e.forward(ids);
  const auto w = e.weight().to_vector<double>(), out = y.to_vector<double>();
  for (size_t i = 0; i < ids.size(); ++i)
    for (size_t j = 0; j < 2; ++j) CHECK(out[i * 2 + j] == w[static_cast<size_t>(ids[i]) * 2 + j]);
  // L = sum(y * G): dL/dW[k] = sum of G's rows whose id is k; row 2 unused.
  const std::vector<double> g = {1, 2, 3, 4, 5, 6, 7, 8};
  autograd::backward(sum(mul(y, Tensor::from_vector(g, {4, 2}))));
  CHECK(e.weight().grad().to_vector<double>() == std::vector<double>{3, 4, 1 + 5 + 7, 2 + 6 + 8, 0, 0});
  CHECK_THROWS_WITH_AS(e.forward({0, 3}), doctest::Contains("id 3 at position 1"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(e.forward({-1}), doctest::Contains("0..2"), std::invalid_argument);
}

TEST_CASE("nn: UNetConfig's num_classes is written only when set and read as 0 when absent") {
  UNetConfig plain{1, 8, 16, TimeEmbedding::sinusoidal, 8};
  CHECK(plain.to_map().count("num_classes") == 0);  // the keys of files written before it existed
  const UNetConfig c = cond_config(10);
  CHECK(c.to_map().at("num_classes") == "10");
  CHECK(UNetConfig::from_map(c.to_map()) == c);
  CHECK(UNetConfig::from_map(plain.to_map()).num_classes == 0);
  auto bad = c.to_map();
  bad["num_classes"] = "-1";
  CHECK_THROWS_WITH_AS(UNetConfig::from_map(bad), doctest::Contains("num_classes"), std::invalid_argument);
  bad["num_classes"] = "10001";
  CHECK_THROWS_WITH_AS(UNetConfig::from_map(bad), doctest::Contains("0..10000"), std::invalid_argument);
}

TEST_CASE("nn: a class-conditional UNet adds its class embedding to the time embedding") {
  UNet cond(cond_config(3), 4);
  UNet plain(UNetConfig{1, 8, 16, TimeEmbedding::sinusoidal, 8}, 4);
  cond.to(DType::f64);
  plain.to(DType::f64);
  CHECK(cond.parameter("class_embedding.weight").shape() == Shape{4, 16});  // 3 classes + "no class"
  CHECK(cond.null_label() == 3);
  CHECK(cond.num_parameters() == plain.num_parameters() + 4 * 16);
  // Every other parameter is drawn by name, so it equals the plain model's.
  for (const auto& [name, p] : plain.named_parameters())
    CHECK_MESSAGE(max_abs_diff(p, cond.parameter(name)) == 0.0, name);

  const Tensor x = randn({2, 1, 8, 8}, 1, 2, DType::f64);
  const Tensor t = Tensor::from_vector(std::vector<double>{10, 700}, {2});
  const Tensor a = cond(x, t);  // no labels: "no class" for every image
  CHECK(max_abs_diff(a, cond.forward(x, t, {3, 3})) == 0.0);
  const Tensor b = cond.forward(x, t, {0, 3});
  // Image 0's class changed, image 1's did not (GroupNorm is per image).
  CHECK(max_abs_diff(a.rows(0, 1), b.rows(0, 1)) > 1e-4);
  CHECK(max_abs_diff(a.rows(1, 2), b.rows(1, 2)) == 0.0);
  // With the class embedding zeroed the model is the unconditional one.
  Tensor w = cond.parameter("class_embedding.weight");
  w.fill_(0.0);
  CHECK(max_abs_diff(cond.forward(x, t, {0, 2}), plain(x, t)) == 0.0);

  CHECK_THROWS_WITH_AS(cond.forward(x, t, {0}), doctest::Contains("1 class labels for 2 images"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(cond.forward(x, t, {0, 4}), doctest::Contains("class label 4 of image 1"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(plain.forward(x, t, {0, 1}), doctest::Contains("unconditional"),
                       std::invalid_argument);
}

TEST_CASE("nn: the class embedding's gradient through the UNet matches central differences") {
  UNet u(cond_config(2), 9);
  u.to(DType::f64);
  const Tensor x = randn({3, 1, 8, 8}, 5, 6, DType::f64);
  const Tensor t = Tensor::from_vector(std::vector<double>{5, 300, 900}, {3});
  const Tensor r = randn({3, 1, 8, 8}, 7, 8, DType::f64);
  const std::vector<int64_t> y = {1, 2, 1};  // class 0 unused
  auto loss = [&] { return sum(mul(u.forward(x, t, y), r)); };
  u.zero_grad();
  autograd::backward(loss());
  Tensor w = u.parameter("class_embedding.weight");
  const auto g = w.grad().to_vector<double>();
  const int64_t d = 16;
  for (int64_t j = 0; j < d; ++j) CHECK(g[static_cast<size_t>(j)] == 0.0);  // row 0: no image chose it
  autograd::NoGradGuard no_grad;
  std::vector<double> num, ana;
  for (int64_t idx : {int64_t{16}, int64_t{21}, int64_t{35}, int64_t{47}}) {
    auto v = w.to_vector<double>();
    const double h = 1e-6, keep = v[static_cast<size_t>(idx)];
    v[static_cast<size_t>(idx)] = keep + h;
    w.copy_(Tensor::from_vector(v, w.shape()));
    const double up = loss().item();
    v[static_cast<size_t>(idx)] = keep - h;
    w.copy_(Tensor::from_vector(v, w.shape()));
    const double down = loss().item();
    v[static_cast<size_t>(idx)] = keep;
    w.copy_(Tensor::from_vector(v, w.shape()));
    num.push_back((up - down) / (2 * h));
    ana.push_back(g[static_cast<size_t>(idx)]);
  }
  const Tensor n = Tensor::from_vector(num, {4}), a = Tensor::from_vector(ana, {4});
  CHECK(test::normalised_error(a, n) < 1e-6);
  CHECK(std::fabs(num[0]) > 1e-6);  // the rows used do get a gradient
}

TEST_CASE("diffusion: conditional and cond_drop round-trip through the configuration and are checked") {
  TrainConfig c;
  c.model = cond_config(10);
  c.conditioning = Conditioning::class_label;
  c.cond_drop = 0.25;
  const auto m = c.to_map();
  CHECK(m.at("conditional") == "class");
  CHECK(m.at("cond_drop") == "0.25");
  const TrainConfig back = TrainConfig::from_map(m);
  CHECK(back.conditioning == Conditioning::class_label);
  CHECK(back.cond_drop == 0.25);
  CHECK(back.model.num_classes == 10);
  // Files written before the keys existed: unconditional, 0.1.
  TrainConfig plain;
  auto old = plain.to_map();
  old.erase("conditional");
  old.erase("cond_drop");
  CHECK(TrainConfig::from_map(old).conditioning == Conditioning::none);
  CHECK(TrainConfig::from_map(old).cond_drop == 0.1);

  auto with = [&m](const std::string& k, const std::string& v) {
    auto copy = m;
    copy[k] = v;
    return copy;
  };
  CHECK_THROWS_WITH_AS(TrainConfig::from_map(with("conditional", "text")),
                       doctest::Contains("none, class or image"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(TrainConfig::from_map(with("cond_drop", "1")), doctest::Contains("cond_drop"),
                       std::invalid_argument);
  auto no_classes = m;
  no_classes.erase("num_classes");
  CHECK_THROWS_WITH_AS(TrainConfig::from_map(no_classes), doctest::Contains("num_classes >= 1"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(TrainConfig::from_map(with("conditional", "none")),
                       doctest::Contains("needs conditional=class"), std::invalid_argument);
}

TEST_CASE("data: a PNG folder of class sub-folders is labelled, one class per sub-folder") {
  test::TempDir tmp;
  const fs::path d = tmp.path() / "classes";
  write_flat_png(d / "boots" / "a.png", 8, 8, 10);
  write_flat_png(d / "boots" / "b.png", 8, 8, 20);
  write_flat_png(d / "Bags" / "x.png", 8, 8, 30);
  write_flat_png(d / ".hidden" / "y.png", 8, 8, 40);  // skipped
  const ImageDataset ds = load_png_folder(d.string());
  CHECK(ds.size() == 3);
  CHECK(ds.class_names == std::vector<std::string>{"Bags", "boots"});  // sorted by name
  CHECK(ds.labels == std::vector<int64_t>{0, 1, 1});
  // The images in the same order: Bags/x (30), boots/a (10), boots/b (20).
  const auto px = ds.images.to_vector<float>();
  CHECK(px[0] == doctest::Approx(30 / 127.5 - 1));
  CHECK(px[64] == doctest::Approx(10 / 127.5 - 1));
  CHECK(px[128] == doctest::Approx(20 / 127.5 - 1));

  // The names go into the metadata only when asked for, and come back.
  CHECK(dataset_metadata(ds).count("data.class_names") == 0);
  const auto meta = dataset_metadata(ds, true);
  CHECK(meta.at("data.class_names") == R"(["Bags","boots"])");
  CHECK(class_names_from_metadata(meta) == ds.class_names);
  CHECK(class_names_from_metadata({}).empty());

  // A folder with images of its own stays unlabelled (its sub-folders ignored).
  write_flat_png(d / "top.png", 8, 8, 50);
  const ImageDataset flat = load_png_folder(d.string());
  CHECK(flat.size() == 1);
  CHECK(flat.labels.empty());
  CHECK(flat.class_names.empty());

  // A class sub-folder without images is an error naming it.
  fs::create_directories(tmp.path() / "holes" / "full");
  fs::create_directories(tmp.path() / "holes" / "empty");
  write_flat_png(tmp.path() / "holes" / "full" / "a.png", 8, 8, 1);
  CHECK_THROWS_WITH_AS(load_png_folder((tmp.path() / "holes").string()),
                       doctest::Contains("class sub-folder 'empty' holds no *.png"), std::runtime_error);
  // Images of different sizes across classes are refused like within a folder.
  write_flat_png(tmp.path() / "sizes" / "a" / "1.png", 8, 8, 1);
  write_flat_png(tmp.path() / "sizes" / "b" / "1.png", 16, 8, 1);
  CHECK_THROWS_WITH_AS(load_png_folder((tmp.path() / "sizes").string()), doctest::Contains("expected 8x8"),
                       std::runtime_error);
}

TEST_CASE("data: class names resolve by name or index, and bad metadata names are refused") {
  const std::vector<std::string> names = {"T-shirt/top", "Trouser", "Sneaker"};
  CHECK(resolve_class(names, "sneaker") == 2);
  CHECK(resolve_class(names, "Trouser") == 1);
  CHECK(resolve_class(names, "0") == 0);
  CHECK_THROWS_WITH_AS(resolve_class(names, "3"), doctest::Contains("0 T-shirt/top, 1 Trouser, 2 Sneaker"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(resolve_class(names, "boot"), doctest::Contains("class 'boot'"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(resolve_class(names, "-1"), doctest::Contains("not one of"), std::invalid_argument);
  CHECK(fashion_mnist_class_names().size() == 10);
  CHECK(fashion_mnist_class_names()[7] == "Sneaker");
  for (const std::string bad : {"[]", "{}", R"(["a", 3])", R"(["a", "a"])", R"(["a", ""])", "not json"}) {
    CAPTURE(bad);
    CHECK_THROWS_AS(class_names_from_metadata({{"data.class_names", bad}}), std::invalid_argument);
  }
}

TEST_CASE("diffusion: the trainer drops labels to no class at cond_drop, from the seed alone") {
  // 16 images; labels 0..3.
  Tensor images = Tensor::zeros({16, 1, 8, 8});
  std::vector<int64_t> labels(16);
  for (int64_t i = 0; i < 16; ++i) labels[static_cast<size_t>(i)] = i % 4;
  TrainConfig cfg;
  cfg.model = UNetConfig{1, 8, 16, TimeEmbedding::sinusoidal, 8};
  cfg.model.num_classes = 4;
  cfg.conditioning = Conditioning::class_label;
  cfg.batch_size = 8;
  cfg.cond_drop = 0.3;
  cfg.seed = 3;
  Trainer tr(cfg, images, labels);
  int64_t dropped = 0, total = 0;
  std::vector<int64_t> seen(4, 0);
  for (int64_t s = 0; s < 500; ++s) {
    const std::vector<int64_t> y = tr.labels_for_step(s);
    REQUIRE(y.size() == 8);
    for (int64_t v : y) {
      REQUIRE((v >= 0 && v <= 4));
      if (v == 4)
        ++dropped;
      else
        ++seen[static_cast<size_t>(v)];
      ++total;
    }
  }
  // 4000 draws at 0.3: the standard deviation of the fraction is 0.007.
  CHECK(static_cast<double>(dropped) / static_cast<double>(total) == doctest::Approx(0.3).epsilon(0.1));
  // Every epoch visits each image once: the kept labels are balanced.
  for (int64_t k = 0; k < 4; ++k) CHECK(seen[static_cast<size_t>(k)] > 600);
  // A function of the seed and step: another trainer repeats them.
  Trainer again(cfg, images, labels);
  CHECK(again.labels_for_step(123) == tr.labels_for_step(123));
  cfg.cond_drop = 0;
  Trainer keep(cfg, images, labels);
  for (int64_t s = 0; s < 20; ++s)
    for (int64_t v : keep.labels_for_step(s)) CHECK(v < 4);

  // Labels must match the images and the class count.
  CHECK_THROWS_WITH_AS(Trainer(cfg, images, std::vector<int64_t>(15, 0)),
                       doctest::Contains("15 labels for 16 images"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(Trainer(cfg, images, std::vector<int64_t>(16, 4)),
                       doctest::Contains("label 4 of image 0"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(Trainer(cfg, images), doctest::Contains("one label per image"), std::invalid_argument);
}

TEST_CASE("diffusion: guidance combines one 2N forward pass as uncond + w (cond - uncond)") {
  UNet u(cond_config(3), 2);
  u.to(DType::f64);
  autograd::NoGradGuard no_grad;
  const Tensor x = randn({2, 1, 8, 8}, 3, 1, DType::f64);
  const Tensor t = Tensor::from_vector(std::vector<double>{50, 600}, {2});
  const std::vector<int64_t> y = {2, 0};
  const Tensor cond = u.forward(x, t, y), uncond = u.forward(x, t);
  // Scale 1: the conditional model, one pass, exactly.
  CHECK(max_abs_diff(guided_model(u, y, 1.0)(x, t), cond) == 0.0);
  // Unlabelled: the unconditional model.
  CHECK(max_abs_diff(guided_model(u, {}, 3.0)(x, t), uncond) == 0.0);
  for (double w : {0.0, 3.0, 7.5}) {
    CAPTURE(w);
    const Tensor expect = add(uncond, mul_scalar(sub(cond, uncond), w));
    // The batch of 2N images computes each image as the batch of N does, up
    // to the rounding of the combination.
    CHECK(test::normalised_error(guided_model(u, y, w)(x, t), expect) < 1e-12);
  }
  CHECK_THROWS_WITH_AS(guided_model(u, {0, 3}, 2.0), doctest::Contains("class 3 of image 1"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(guided_model(u, y, -1.0), doctest::Contains("guidance scale"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(guided_model(u, {0, 1, 2}, 2.0)(x, t), doctest::Contains("2 images"),
                       std::invalid_argument);
  UNet plain(UNetConfig{1, 8, 16, TimeEmbedding::sinusoidal, 8}, 2);
  CHECK_THROWS_WITH_AS(guided_model(plain, y, 2.0), doctest::Contains("unconditional"),
                       std::invalid_argument);
}

TEST_CASE("diffusion: class grids and balanced evaluation labels") {
  CHECK(class_grid_labels(3, 2) == std::vector<int64_t>{0, 0, 1, 1, 2, 2});
  CHECK(balanced_labels(7, 3) == std::vector<int64_t>{0, 1, 2, 0, 1, 2, 0});
  CHECK_THROWS_AS(class_grid_labels(0, 2), std::invalid_argument);
  CHECK_THROWS_AS(balanced_labels(4, 0), std::invalid_argument);
}

TEST_CASE("diffusion: a tiny class-conditional model learns to draw the class it is asked for") {
  // Two classes of flat 8x8 images: class 0 black (-1), class 1 white (+1).
  // After a short training the guided samples of each class must come out on
  // the right side of grey, and an unconditional model cannot do that.
  const int64_t n = 64;
  Tensor images = Tensor::empty({n, 1, 8, 8});
  std::vector<int64_t> labels(static_cast<size_t>(n));
  float* p = images.data<float>();
  for (int64_t i = 0; i < n; ++i) {
    labels[static_cast<size_t>(i)] = i % 2;
    for (int64_t j = 0; j < 64; ++j) p[i * 64 + j] = i % 2 == 0 ? -1.0f : 1.0f;
  }
  TrainConfig cfg;
  cfg.model = UNetConfig{1, 8, 16, TimeEmbedding::sinusoidal, 8};
  cfg.model.num_classes = 2;
  cfg.conditioning = Conditioning::class_label;
  cfg.timesteps = 100;
  cfg.batch_size = 16;
  cfg.lr = 3e-3;
  cfg.warmup_steps = 10;
  cfg.ema_decay = 0;
  cfg.prediction = Prediction::v;
  cfg.seed = 1;
  Trainer tr(cfg, images, labels);
  for (int i = 0; i < 150; ++i) tr.step();

  SamplerConfig sc;
  sc.kind = SamplerKind::ddim;
  sc.steps = 20;
  sc.prediction = Prediction::v;
  sc.seed = 4;
  const std::vector<int64_t> asked = class_grid_labels(2, 8);  // 8 of class 0, then 8 of class 1
  const Tensor x = sample(tr.scheduler(), guided_model(tr.model(), asked, 3.0), {16, 1, 8, 8}, sc);
  const auto v = x.to_vector<float>();
  int64_t right = 0;
  for (int64_t i = 0; i < 16; ++i) {
    double mean = 0;
    for (int64_t j = 0; j < 64; ++j) mean += v[static_cast<size_t>(i * 64 + j)];
    mean /= 64;
    if ((asked[static_cast<size_t>(i)] == 1) == (mean > 0)) ++right;
  }
  CHECK(right == 16);
}
