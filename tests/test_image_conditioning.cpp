// Image conditioning by concatenation (diffusion/image_condition.h): the
// superres and inpainting conditions, the boxes, the UNet's extra input
// channels, the configuration keys, the trainer's resumable boxes, and two
// tiny models that learn to use their condition.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "diffusion/image_condition.h"
#include "diffusion/sampler.h"
#include "diffusion/streams.h"
#include "diffusion/trainer.h"
#include "nn/unet.h"
#include "tensor/philox.h"
#include "tensor/rng.h"
#include "tests/io_util.h"

using namespace ddpm;

namespace {

TrainConfig image_config(ImageTask task, int64_t superres_from = 2) {
  TrainConfig c;
  // 2 groups: with the tests' 8 channels, 8 groups would normalise every
  // channel on its own, hiding a flat image's level from the network.
  c.model = nn::UNetConfig{1, 8, 16, nn::TimeEmbedding::sinusoidal, 2};
  c.conditioning = Conditioning::image;
  c.task = task;
  c.superres_from = superres_from;
  c.model.cond_channels = condition_channels(task, 1);
  return c;
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  const auto x = a.to_vector<double>(), y = b.to_vector<double>();
  REQUIRE(x.size() == y.size());
  double m = 0;
  for (size_t i = 0; i < x.size(); ++i) m = std::max(m, std::fabs(x[i] - y[i]));
  return m;
}

// n 8x8 images, black (-1) on the 1-pixel border like padded data, whose
// 2x2 blocks of 4x4 pixels each hold a level in [-0.8, 0.8] drawn from
// `seed` inside it (blocks = 1: one level per image).
Tensor block_images(int64_t n, uint64_t seed, int64_t blocks = 2) {
  Tensor x = Tensor::empty({n, 1, 8, 8});
  float* p = x.data<float>();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t y = 0; y < 8; ++y)
      for (int64_t c = 0; c < 8; ++c) {
        const int64_t side = 8 / blocks;
        const uint64_t block = static_cast<uint64_t>(i * 4 + (y / side) * 2 + c / side);
        const bool border = y == 0 || y == 7 || c == 0 || c == 7;
        p[(i * 8 + y) * 8 + c] =
            border ? -1.0f : static_cast<float>(-0.8 + 1.6 * philox::uniform(seed, 9, block));
      }
  return x;
}

}  // namespace

TEST_CASE("diffusion: the superres condition is each block's mean, repeated over the block") {
  const TrainConfig cfg = image_config(ImageTask::superres, 4);  // 16x8 images: factor 4, low res 4x2
  const Tensor x = randn({2, 1, 16, 8}, 3, 4);
  const Tensor cond = make_condition(cfg, x);
  REQUIRE(cond.shape() == x.shape());
  const auto v = x.to_vector<double>(), c = cond.to_vector<double>();
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t by = 0; by < 4; ++by)
      for (int64_t bx = 0; bx < 2; ++bx) {
        double mean = 0;
        for (int64_t y = 0; y < 4; ++y)
          for (int64_t z = 0; z < 4; ++z)
            mean += v[static_cast<size_t>((i * 16 + by * 4 + y) * 8 + bx * 4 + z)];
        mean /= 16;
        for (int64_t y = 0; y < 4; ++y)
          for (int64_t z = 0; z < 4; ++z)
            CHECK(c[static_cast<size_t>((i * 16 + by * 4 + y) * 8 + bx * 4 + z)] ==
                  doctest::Approx(mean).epsilon(1e-6));
      }
  // Its low resolution is the image's, and it keeps nothing finer.
  CHECK(max_abs_diff(downsample_mean(cond, 4), downsample_mean(x, 4)) < 1e-6);
  CHECK(max_abs_diff(cond, x) > 0.5);
  CHECK(upsample_nearest(downsample_mean(x, 4), 4).shape() == x.shape());

  // The errors against originals count the crop only when given one.
  Tensor outside = x.clone();
  outside.data<float>()[0] += 1.0f;  // pixel (0, 0) of image 0: outside the crop below
  const CropBox crop{2, 2, 12, 4};
  CHECK(completion_error(cfg, x, cond, outside, crop).original == 0.0);
  CHECK(completion_error(cfg, x, cond, outside).original > 0.0);
  CHECK(completion_error(cfg, cond, cond).kept < 1e-6);
  CHECK_THROWS_WITH_AS(check_condition_geometry(cfg, 16, 6),
                       doctest::Contains("not a multiple of the factor 4"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(check_condition_geometry(image_config(ImageTask::superres, 5), 16, 16),
                       doctest::Contains("divides it"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(check_condition_geometry(image_config(ImageTask::superres, 16), 16, 16),
                       doctest::Contains("below 16"), std::invalid_argument);
  CHECK_NOTHROW(check_condition_geometry(image_config(ImageTask::inpaint), 16, 6));
}

TEST_CASE("diffusion: the inpainting condition blanks the box and adds the mask as a channel") {
  const TrainConfig cfg = image_config(ImageTask::inpaint);
  const Tensor x = randn({2, 1, 8, 8}, 5, 6);
  const MaskBox a{1, 2, 3, 4}, b = center_mask_box(8, 8);
  CHECK(b.top == 2);
  CHECK(b.left == 2);
  CHECK(b.height == 4);
  CHECK(b.width == 4);
  const Tensor masks = box_masks({a, b}, 8, 8);
  const Tensor cond = make_condition(cfg, x, masks);
  REQUIRE(cond.shape() == Shape{2, 2, 8, 8});
  const auto v = x.to_vector<float>(), c = cond.to_vector<float>();
  int64_t inside = 0;
  for (int64_t i = 0; i < 2; ++i) {
    const MaskBox& box = i == 0 ? a : b;
    for (int64_t y = 0; y < 8; ++y)
      for (int64_t z = 0; z < 8; ++z) {
        const bool in = y >= box.top && y < box.top + box.height && z >= box.left && z < box.left + box.width;
        inside += in;
        const float pixel = c[static_cast<size_t>(((i * 2) * 8 + y) * 8 + z)];
        const float mask = c[static_cast<size_t>(((i * 2 + 1) * 8 + y) * 8 + z)];
        CHECK(mask == (in ? 1.0f : 0.0f));
        CHECK(pixel == (in ? 0.0f : v[static_cast<size_t>((i * 8 + y) * 8 + z)]));
      }
  }
  CHECK(inside == 12 + 16);
  CHECK(condition_picture(cfg, cond).shape() == x.shape());
  CHECK_THROWS_WITH_AS(make_condition(cfg, x), doctest::Contains("needs f32 cpu masks"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(box_masks({MaskBox{6, 0, 3, 3}}, 8, 8), doctest::Contains("not inside 8x8"),
                       std::invalid_argument);
}

TEST_CASE(
    "diffusion: training's inpainting boxes are a function of seed and index, a quarter to half a side") {
  std::vector<int64_t> heights;
  bool differ = false;
  const MaskBox first = random_mask_box(32, 24, 7, streams::kInpaintMask, 0);
  for (uint64_t i = 0; i < 200; ++i) {
    const MaskBox b = random_mask_box(32, 24, 7, streams::kInpaintMask, i);
    const MaskBox again = random_mask_box(32, 24, 7, streams::kInpaintMask, i);
    CHECK(b.top == again.top);
    CHECK(b.left == again.left);
    CHECK(b.height == again.height);
    CHECK(b.width == again.width);
    CHECK(b.height >= 8);
    CHECK(b.height <= 16);
    CHECK(b.width >= 6);
    CHECK(b.width <= 12);
    CHECK(b.top >= 0);
    CHECK(b.left >= 0);
    CHECK(b.top + b.height <= 32);
    CHECK(b.left + b.width <= 24);
    heights.push_back(b.height);
    differ = differ || b.top != first.top || b.left != first.left;
  }
  CHECK(differ);
  // Every size in the range occurs.
  for (int64_t h = 8; h <= 16; ++h) CHECK(std::count(heights.begin(), heights.end(), h) > 0);
  const MaskBox other_seed = random_mask_box(32, 24, 8, streams::kInpaintMask, 0);
  CHECK((other_seed.top != first.top || other_seed.left != first.left || other_seed.height != first.height));
}

TEST_CASE("nn: an image-conditional UNet joins its condition to x_t as input channels") {
  nn::UNetConfig c{1, 8, 16, nn::TimeEmbedding::sinusoidal, 2};
  c.cond_channels = 2;
  nn::UNet u(c, 3);
  CHECK(u.parameter("enc1.0.weight").shape() == Shape{8, 3, 3, 3});
  CHECK(u.parameter("final.weight").shape() == Shape{1, 8, 1, 1});
  CHECK(c.to_map().at("cond_channels") == "2");
  CHECK(nn::UNetConfig::from_map(c.to_map()) == c);
  CHECK(nn::UNetConfig{}.to_map().count("cond_channels") == 0);

  const Tensor x = randn({2, 1, 8, 8}, 1, 2), cond = randn({2, 2, 8, 8}, 3, 4);
  const Tensor t = Tensor::from_vector(std::vector<float>{10, 700}, {2});
  const Tensor a = u.forward(x, t, {}, cond);
  CHECK(a.shape() == x.shape());
  // Image 0's condition changed, image 1's not (GroupNorm is per image).
  Tensor cond2 = cond.clone();
  cond2.data<float>()[5] += 1.0f;
  const Tensor b = u.forward(x, t, {}, cond2);
  CHECK(max_abs_diff(a.rows(0, 1), b.rows(0, 1)) > 1e-5);
  CHECK(max_abs_diff(a.rows(1, 2), b.rows(1, 2)) == 0.0);

  CHECK_THROWS_WITH_AS(u.forward(x, t), doctest::Contains("needs a condition [N, 2, H, W]"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(u.forward(x, t, {}, randn({2, 1, 8, 8}, 3, 4)),
                       doctest::Contains("the condition must be"), std::invalid_argument);
  nn::UNet plain(nn::UNetConfig{1, 8, 16, nn::TimeEmbedding::sinusoidal, 8}, 3);
  CHECK_THROWS_WITH_AS(plain.forward(x, t, {}, cond), doctest::Contains("without image conditioning"),
                       std::invalid_argument);
}

TEST_CASE("diffusion: image conditioning round-trips through the configuration and is checked") {
  const TrainConfig sr = image_config(ImageTask::superres, 4);
  auto m = sr.to_map();
  CHECK(m.at("conditional") == "image");
  CHECK(m.at("task") == "superres");
  CHECK(m.at("superres_from") == "4");
  CHECK(m.at("cond_channels") == "1");
  const TrainConfig back = TrainConfig::from_map(m);
  CHECK(back.conditioning == Conditioning::image);
  CHECK(back.task == ImageTask::superres);
  CHECK(back.superres_from == 4);
  CHECK(back.model.cond_channels == 1);
  const auto ip = image_config(ImageTask::inpaint).to_map();
  CHECK(ip.at("task") == "inpaint");
  CHECK(ip.count("superres_from") == 0);
  CHECK(ip.at("cond_channels") == "2");
  CHECK(TrainConfig::from_map(ip).task == ImageTask::inpaint);
  // Other models' maps have none of the keys.
  for (const char* key : {"task", "superres_from", "cond_channels"})
    CHECK(TrainConfig().to_map().count(key) == 0);

  auto with = [&m](const std::string& k, const std::string& v) {
    auto copy = m;
    copy[k] = v;
    return copy;
  };
  auto without = [&m](const std::string& k) {
    auto copy = m;
    copy.erase(k);
    return copy;
  };
  CHECK_THROWS_WITH_AS(TrainConfig::from_map(without("task")), doctest::Contains("missing key 'task'"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(TrainConfig::from_map(with("task", "colorize")),
                       doctest::Contains("superres or inpaint"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(TrainConfig::from_map(with("cond_channels", "2")),
                       doctest::Contains("cond_channels is 2, expected 1 for task=superres"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(TrainConfig::from_map(with("superres_from", "0")), doctest::Contains("superres_from"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(TrainConfig::from_map(with("conditional", "none")),
                       doctest::Contains("needs conditional=image"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(TrainConfig::from_map(with("num_classes", "3")),
                       doctest::Contains("conditional=image"), std::invalid_argument);
}

TEST_CASE("diffusion: an inpainting run resumed from its state repeats the uninterrupted run") {
  TrainConfig cfg = image_config(ImageTask::inpaint);
  cfg.timesteps = 50;
  cfg.batch_size = 4;
  cfg.warmup_steps = 2;
  cfg.seed = 5;
  const Tensor images = block_images(12, 1);
  Trainer whole(cfg, images);
  std::vector<double> losses;
  for (int i = 0; i < 5; ++i) losses.push_back(whole.step().loss);
  test::TempDir tmp;
  Trainer first(cfg, images);
  for (int i = 0; i < 3; ++i) CHECK(first.step().loss == losses[static_cast<size_t>(i)]);
  first.save_state(tmp.file("state.safetensors"));
  Trainer resumed(cfg, images);
  resumed.load_state(tmp.file("state.safetensors"));
  for (int i = 3; i < 5; ++i) CHECK(resumed.step().loss == losses[static_cast<size_t>(i)]);
  // The boxes matter: another seed's run differs from the first step on.
  cfg.seed = 6;
  Trainer other(cfg, images);
  CHECK(other.step().loss != losses[0]);
}

// Group `learning:` (two short trainings): minutes under the sanitizers, so
// scripts/sanitize.sh leaves it out; the code it runs is sanitized through
// the other image-conditioning cases (resume, tools).
TEST_CASE("learning: tiny image-conditional models learn to keep their condition") {
  TrainConfig cfg = image_config(ImageTask::superres, 2);  // 8x8 from 2x2
  cfg.timesteps = 1000;  // the linear schedule's x_T is pure noise only for T near 1000
  cfg.batch_size = 16;
  cfg.lr = 3e-3;
  cfg.warmup_steps = 10;
  cfg.ema_decay = 0;
  cfg.prediction = Prediction::v;
  cfg.seed = 1;
  SamplerConfig sc;
  sc.kind = SamplerKind::ddim;
  sc.steps = 20;
  sc.prediction = Prediction::v;
  sc.seed = 4;
  const Tensor held_out = block_images(16, 2);

  SUBCASE("superres: the samples' 2x2 low resolution is the condition's") {
    Trainer tr(cfg, block_images(64, 1));
    for (int i = 0; i < 300; ++i) tr.step();
    const Tensor cond = make_condition(cfg, held_out);
    const Tensor x = sample(tr.scheduler(), conditioned_model(tr.model(), cond), {16, 1, 8, 8}, sc);
    const CompletionError e = completion_error(cfg, x, cond, held_out);
    // What ignoring the condition gives: another image's low resolution.
    const Tensor shifted = make_condition(cfg, block_images(16, 3));
    const CompletionError ignore = completion_error(cfg, shifted, cond);
    MESSAGE("superres kept " << e.kept << " (ignoring the condition: " << ignore.kept << "), vs originals "
                             << e.original << " (condition alone " << e.baseline << ")");
    CHECK(ignore.kept > 0.3);
    CHECK(e.kept < 0.25 * ignore.kept);
    CHECK(e.original < 0.5 * e.baseline);  // and sharper than the blocks it was given
  }
  SUBCASE("inpaint: the centre box is filled with the image's levels") {
    cfg = image_config(ImageTask::inpaint);
    cfg.timesteps = 1000;
    cfg.batch_size = 16;
    cfg.lr = 3e-3;
    cfg.warmup_steps = 10;
    cfg.ema_decay = 0;
    cfg.prediction = Prediction::v;
    cfg.seed = 1;
    Trainer tr(cfg, block_images(64, 1, 1));
    for (int i = 0; i < 300; ++i) tr.step();
    // Flat images: the pixels around the box show its level.
    const Tensor flat = block_images(16, 2, 1);
    const Tensor masks = box_masks(std::vector<MaskBox>(16, center_mask_box(8, 8)), 8, 8);
    const Tensor cond = make_condition(cfg, flat, masks);
    const Tensor x = sample(tr.scheduler(), conditioned_model(tr.model(), cond), {16, 1, 8, 8}, sc);
    const CompletionError e = completion_error(cfg, x, cond, flat);
    MESSAGE("inpaint kept " << e.kept << ", in the box vs originals " << e.original << " (grey fill "
                            << e.baseline << ")");
    CHECK(e.baseline > 0.3);
    CHECK(e.original < 0.85 * e.baseline);
    CHECK(e.kept < 0.2);
  }
}
