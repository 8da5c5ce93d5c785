// The DDPM UNet (UNetConfig::arch ddpm, nn/unet_ddpm.h) apart from its
// PyTorch parity (tests/test_unet_ddpm_parity.cpp): the configuration's
// checks and metadata form, the layers' names and shapes, the input checks,
// a few training steps that lower the loss, and a checkpoint that rebuilds
// the model from its metadata.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <numeric>
#include <string>
#include <vector>

#include "autograd/functions.h"
#include "diffusion/checkpointer.h"
#include "diffusion/guidance.h"
#include "diffusion/model_file.h"
#include "diffusion/trainer.h"
#include "io/data.h"
#include "nn/attention_block.h"
#include "nn/unet.h"
#include "tensor/rng.h"
#include "tests/io_util.h"

using namespace ddpm;
using namespace ddpm::nn;
namespace fs = std::filesystem;

namespace {

// base 8, GroupNorm(4), channel_mult 1,2, one ResBlock per level, attention
// on the second level (8x8 maps at a 16x16 input), 4 channels per head.
UNetConfig tiny_ddpm() {
  UNetConfig c{1, 8, 32, TimeEmbedding::sinusoidal, 4};
  c.arch = UNetArch::ddpm;
  c.channel_mult = {1, 2};
  c.num_res_blocks = 1;
  c.attention_resolutions = {16};
  c.head_channels = 4;
  return c;
}

std::vector<std::string> names_of(const Module& m) {
  std::vector<std::string> out;
  for (const auto& [name, p] : m.named_parameters()) out.push_back(name);
  return out;
}

bool has(const std::vector<std::string>& names, const std::string& n) {
  return std::find(names.begin(), names.end(), n) != names.end();
}

}  // namespace

TEST_CASE("nn: UNetConfig arch ddpm round-trips; simple maps hold no ddpm keys and old maps read as simple") {
  const UNetConfig simple{3, 32, 128, TimeEmbedding::sinusoidal, 4};
  const auto sm = simple.to_map();
  for (const char* k :
       {"arch", "channel_mult", "num_res_blocks", "attention_resolutions", "head_channels", "dropout"})
    CHECK(sm.count(k) == 0);
  CHECK(UNetConfig::from_map(sm).arch == UNetArch::simple);

  UNetConfig d = tiny_ddpm();
  d.attention_resolutions = {16, 8};
  d.channel_mult = {1, 2, 2};
  d.num_res_blocks = 2;
  const auto m = d.to_map();
  CHECK(m.at("arch") == "ddpm");
  CHECK(m.at("channel_mult") == "1,2,2");
  CHECK(m.at("num_res_blocks") == "2");
  CHECK(m.at("attention_resolutions") == "16,8");
  CHECK(m.at("head_channels") == "4");
  CHECK(m.at("dropout") == "0");
  CHECK(m.count("cross_attention_tokens") == 0);  // off: the files of before it existed
  CHECK(UNetConfig::from_map(m) == d);
  CHECK(d.levels() == 3);
  CHECK(d.size_multiple() == 4);
  CHECK(!d.attention_at(0));
  CHECK(d.attention_at(1));
  CHECK(d.attention_at(2));

  auto with = [&m](const std::string& key, std::string value) {
    auto copy = m;
    copy.insert_or_assign(key, std::move(value));
    return copy;
  };
  auto refused = [](const std::map<std::string, std::string>& bad, const std::string& part) {
    CHECK_THROWS_WITH_AS(UNetConfig::from_map(bad), doctest::Contains(part.c_str()), std::invalid_argument);
  };
  auto missing = m;
  missing.erase("head_channels");
  refused(missing, "'head_channels'");
  refused(with("arch", "unet3d"), "unet3d");
  refused(with("channel_mult", "1,,2"), "channel_mult");
  refused(with("channel_mult", "1, 2"), "channel_mult");
  refused(with("channel_mult", ""), "channel_mult must have 1 to 6 entries");
  refused(with("channel_mult", "1,2,2,2,2,2,2"), "channel_mult must have 1 to 6 entries");
  refused(with("channel_mult", "1,0"), "channel_mult entries");
  refused(with("num_res_blocks", "0"), "num_res_blocks");
  refused(with("attention_resolutions", "4"), "attention_resolutions entry 4");
  refused(with("attention_resolutions", "12"), "32, 16, 8");
  refused(with("head_channels", "3"), "head_channels 3 must divide the 16 channels of level 1");
  refused(with("dropout", "1"), "dropout must be in [0, 1)");
  refused(with("dropout", "-0.1"), "dropout must be in [0, 1)");
  CHECK(UNetConfig::from_map(with("dropout", "0.1")).dropout == 0.1);
  refused(with("dropout", "x"), "'dropout'");
  refused(with("time_embedding", "linear"), "time_embedding must be sinusoidal");
  // No attention outside the middle block is allowed.
  CHECK(UNetConfig::from_map(with("attention_resolutions", "")).attention_resolutions.empty());
  // A simple map's ddpm-looking keys are ignored.
  auto simple_extra = sm;
  simple_extra["channel_mult"] = "garbage";
  CHECK(UNetConfig::from_map(simple_extra) == simple);
}

TEST_CASE("nn: UNetConfig cross_attention_tokens: written only when on, needs classes and arch ddpm") {
  UNetConfig d = tiny_ddpm();
  d.num_classes = 3;
  d.cross_attention_tokens = 2;
  const auto m = d.to_map();
  CHECK(m.at("cross_attention_tokens") == "2");
  CHECK(UNetConfig::from_map(m) == d);
  d.cross_attention_tokens = 0;
  CHECK(d.to_map().count("cross_attention_tokens") == 0);
  auto missing = m;
  missing.erase("cross_attention_tokens");
  CHECK(UNetConfig::from_map(missing) == d);  // a missing key is 0

  auto with = [&m](const std::string& key, std::string value) {
    auto copy = m;
    copy.insert_or_assign(key, std::move(value));
    return copy;
  };
  auto refused = [](const std::map<std::string, std::string>& bad, const std::string& part) {
    CHECK_THROWS_WITH_AS(UNetConfig::from_map(bad), doctest::Contains(part.c_str()), std::invalid_argument);
  };
  auto unconditional = m;
  unconditional.erase("num_classes");
  refused(unconditional,
          "cross_attention_tokens 2 attends to class tokens: it needs a class-conditional model");
  refused(with("cross_attention_tokens", "65"), "cross_attention_tokens must be in 0..64");
  refused(with("cross_attention_tokens", "-1"), "cross_attention_tokens must be in 0..64");
  refused(with("cross_attention_tokens", "two"), "'cross_attention_tokens'");
  // The simple arch has no attention: refused in a config, ignored in a map.
  UNetConfig simple{1, 8, 32, TimeEmbedding::sinusoidal, 4};
  simple.num_classes = 3;
  simple.cross_attention_tokens = 2;
  CHECK_THROWS_WITH_AS(simple.validate(), doctest::Contains("cross_attention_tokens applies to arch ddpm"),
                       std::invalid_argument);
  simple.cross_attention_tokens = 0;
  auto simple_map = simple.to_map();
  simple_map.emplace("cross_attention_tokens", "2");
  CHECK(UNetConfig::from_map(simple_map) == simple);
}

TEST_CASE("nn: ddpm cross-attention to class tokens: names, shapes, per-image effect, guidance") {
  UNetConfig cfg = tiny_ddpm();
  cfg.num_classes = 3;
  cfg.cross_attention_tokens = 2;
  UNet u(cfg, 5);
  const auto names = names_of(u);
  // class_tokens: 4 rows (3 classes and "no class") of T x D = 2 x 32.
  CHECK(u.parameter("class_tokens.weight").shape() == Shape{4, 64});
  CHECK(u.parameter("class_embedding.weight").shape() == Shape{4, 32});
  for (const std::string block : {"down_blocks.1.attentions.0", "mid_block.attentions.0",
                                  "up_blocks.0.attentions.0", "up_blocks.0.attentions.1"}) {
    CAPTURE(block);
    CHECK(u.parameter(block + ".norm2.weight").shape() == Shape{16});
    CHECK(u.parameter(block + ".attn2.to_q.weight").shape() == Shape{16, 16});
    CHECK(u.parameter(block + ".attn2.to_k.weight").shape() == Shape{16, 32});
    CHECK(u.parameter(block + ".attn2.to_v.weight").shape() == Shape{16, 32});
    CHECK(u.parameter(block + ".attn2.to_v.bias").shape() == Shape{16});
    CHECK(u.parameter(block + ".attn2.to_out.0.weight").shape() == Shape{16, 16});
  }
  const auto pos = [&](const std::string& n) {
    return std::find(names.begin(), names.end(), n) - names.begin();
  };
  CHECK(pos("class_embedding.weight") < pos("class_tokens.weight"));
  CHECK(pos("class_tokens.weight") < pos("down_blocks.0.resnets.0.norm1.weight"));
  CHECK(pos("mid_block.attentions.0.to_out.0.bias") < pos("mid_block.attentions.0.norm2.weight"));
  CHECK(pos("mid_block.attentions.0.norm2.bias") < pos("mid_block.attentions.0.attn2.to_q.weight"));
  // 45097 parameters without cross-attention (the class reference), plus
  // class_tokens 4 x 64 and 4 blocks of norm2 (32), to_q and to_out.0
  // (272 each), to_k and to_v (528 each): the twin's 51881.
  CHECK(u.num_parameters() == 45097 + 256 + 4 * 1632);

  const Tensor x = randn({2, 1, 8, 8}, 1, 2);
  const Tensor t = Tensor::from_vector(std::vector<float>{3, 700}, {2});
  const auto a = u.forward(x, t, {0, 3}).to_vector<float>(), b = u.forward(x, t, {1, 3}).to_vector<float>();
  const auto half = static_cast<std::ptrdiff_t>(a.size() / 2);
  CHECK(!std::equal(a.begin(), a.begin() + half, b.begin()));  // image 0's class changed
  CHECK(std::equal(a.begin() + half, a.end(), b.begin() + half));
  // No labels: "no class" for every image.
  CHECK(u.forward(x, t).to_vector<float>() == u.forward(x, t, {3, 3}).to_vector<float>());

  // The tokens alone condition: with the class embedding's rows equal, the
  // class still changes the output.
  {
    Tensor w = u.parameter("class_embedding.weight");
    w.copy_(Tensor::zeros(w.shape()));
  }
  CHECK(u.forward(x, t, {0, 3}).to_vector<float>() != u.forward(x, t, {1, 3}).to_vector<float>());

  // Classifier-free guidance runs the model on [x; x] with [labels; no
  // class] and combines the halves.
  const std::vector<int64_t> labels{2, 0};
  const Tensor guided = guided_model(u, labels, 3.0)(x, t);
  const Tensor cond = u.forward(x, t, labels), uncond = u.forward(x, t);
  const auto g = guided.to_vector<float>(), c = cond.to_vector<float>(), un = uncond.to_vector<float>();
  double worst = 0;
  for (size_t i = 0; i < g.size(); ++i)
    worst = std::max(worst, std::abs(g[i] - (un[i] + 3.0 * (c[i] - un[i]))));
  CHECK(worst < 1e-4);

  // The backward reaches the tokens (the rows of the classes used) and attn2.
  Tensor loss = mean(mul(u.forward(x, t, {1, 3}), u.forward(x, t, {1, 3})));
  autograd::backward(loss);
  const auto gt = u.parameter("class_tokens.weight").grad().to_vector<float>();
  auto row_norm = [&gt](int64_t r) {
    double s = 0;
    for (int64_t j = 0; j < 64; ++j) s += std::abs(gt[static_cast<size_t>(r * 64 + j)]);
    return s;
  };
  CHECK(row_norm(1) > 0);
  CHECK(row_norm(3) > 0);
  CHECK(row_norm(0) == 0);
  CHECK(row_norm(2) == 0);
  for (const auto& [name, prm] : u.named_parameters())
    if (name.find("attn2") != std::string::npos) {
      CAPTURE(name);
      REQUIRE(prm.grad().defined());
    }

  // An attention block with cross-attention needs its context, one without
  // refuses it.
  AttentionBlock with_ctx(16, 4, 4, 32), without(16, 4, 4);
  const Tensor h = randn({2, 16, 4, 4}, 3, 2);
  CHECK_THROWS_WITH_AS(with_ctx.forward(h), doctest::Contains("needs context [2, 32, T]"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(with_ctx.forward(h, randn({2, 16, 3}, 1, 1)), doctest::Contains("needs context"),
                       std::invalid_argument);
  CHECK(with_ctx.forward(h, randn({2, 32, 3}, 1, 1)).shape() == h.shape());
  CHECK_THROWS_WITH_AS(without.forward(h, randn({2, 32, 3}, 1, 1)),
                       doctest::Contains("without cross-attention"), std::invalid_argument);
}

TEST_CASE("nn: the ddpm UNet has diffusers' flat names, its shapes, and checks its inputs") {
  UNetConfig cfg = tiny_ddpm();
  cfg.num_res_blocks = 2;
  UNet u(cfg, 3);
  const auto names = names_of(u);
  CHECK(names.front() == "conv_in.weight");
  CHECK(names.back() == "conv_out.bias");
  CHECK(u.parameter("conv_in.weight").shape() == Shape{8, 1, 3, 3});
  CHECK(u.parameter("time_embedding.linear_1.weight").shape() == Shape{32, 8});
  CHECK(u.parameter("time_embedding.linear_2.weight").shape() == Shape{32, 32});
  CHECK(u.parameter("down_blocks.0.resnets.0.norm1.weight").shape() == Shape{8});
  CHECK(u.parameter("down_blocks.0.resnets.1.time_emb_proj.weight").shape() == Shape{8, 32});
  CHECK(!has(names, "down_blocks.0.resnets.0.conv_shortcut.weight"));  // 8 -> 8
  CHECK(u.parameter("down_blocks.1.resnets.0.conv_shortcut.weight").shape() == Shape{16, 8, 1, 1});
  CHECK(!has(names, "down_blocks.0.attentions.0.to_q.weight"));  // no attention at level 0
  CHECK(u.parameter("down_blocks.1.attentions.1.to_q.weight").shape() == Shape{16, 16});
  CHECK(u.parameter("down_blocks.1.attentions.1.to_out.0.bias").shape() == Shape{16});
  CHECK(u.parameter("down_blocks.0.downsamplers.0.conv.weight").shape() == Shape{8, 8, 3, 3});
  CHECK(!has(names, "down_blocks.1.downsamplers.0.conv.weight"));  // the last level keeps its size
  CHECK(u.parameter("mid_block.attentions.0.group_norm.weight").shape() == Shape{16});
  CHECK(u.parameter("mid_block.resnets.1.conv2.weight").shape() == Shape{16, 16, 3, 3});
  // Up block 0 (level 1): skips of 16, 16 and then the downsampler's 8.
  CHECK(u.parameter("up_blocks.0.resnets.0.conv1.weight").shape() == Shape{16, 32, 3, 3});
  CHECK(u.parameter("up_blocks.0.resnets.2.conv1.weight").shape() == Shape{16, 24, 3, 3});
  CHECK(u.parameter("up_blocks.0.upsamplers.0.conv.weight").shape() == Shape{16, 16, 3, 3});
  CHECK(u.parameter("up_blocks.1.resnets.0.conv1.weight").shape() == Shape{8, 24, 3, 3});
  CHECK(!has(names, "up_blocks.1.upsamplers.0.conv.weight"));
  CHECK(u.parameter("conv_norm_out.weight").shape() == Shape{8});
  CHECK(u.parameter("conv_out.weight").shape() == Shape{1, 8, 3, 3});
  CHECK(u.num_parameters() == 64193);  // the twin's count for this configuration (reference script)
  // Within a block, attentions come before resnets (diffusers' order).
  const auto pos = [&](const std::string& n) {
    return std::find(names.begin(), names.end(), n) - names.begin();
  };
  CHECK(pos("down_blocks.1.attentions.0.group_norm.weight") < pos("down_blocks.1.resnets.0.norm1.weight"));
  CHECK(pos("down_blocks.0.resnets.1.conv2.bias") < pos("down_blocks.0.downsamplers.0.conv.weight"));
  CHECK(pos("down_blocks.1.resnets.0.norm1.weight") < pos("mid_block.attentions.0.group_norm.weight"));
  CHECK(pos("mid_block.resnets.1.conv2.bias") < pos("up_blocks.0.attentions.0.group_norm.weight"));

  const Tensor x = randn({2, 1, 8, 12}, 1, 2);
  const Tensor t = Tensor::from_vector(std::vector<float>{3, 700}, {2});
  CHECK(u(x, t).shape() == x.shape());
  CHECK(u.embed_time(t).shape() == Shape{2, 32});
  CHECK_THROWS_WITH_AS(u(randn({2, 1, 8, 7}, 1, 2), t), doctest::Contains("multiples of 2"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(u(randn({2, 3, 8, 8}, 1, 2), t), doctest::Contains("[N, 1, H, W]"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(u.forward(x, t, {1, 0}), doctest::Contains("unconditional"), std::invalid_argument);

  // Class- and image-conditional variants: the class embedding is D wide,
  // the condition joins x before conv_in.
  UNetConfig cc = tiny_ddpm();
  cc.num_classes = 3;
  cc.cond_channels = 2;
  UNet uc(cc, 4);
  CHECK(uc.parameter("class_embedding.weight").shape() == Shape{4, 32});
  CHECK(uc.parameter("conv_in.weight").shape() == Shape{8, 3, 3, 3});
  const Tensor cond = randn({2, 2, 8, 12}, 1, 3);
  const Tensor y0 = uc.forward(x, t, {0, 0}, cond), y1 = uc.forward(x, t, {1, 0}, cond);
  CHECK(y0.shape() == x.shape());
  const auto a = y0.to_vector<float>(), b = y1.to_vector<float>();
  const size_t half = a.size() / 2;
  // Image 0's class changed, image 1's did not (GroupNorm is per image).
  CHECK(!std::equal(a.begin(), a.begin() + static_cast<std::ptrdiff_t>(half), b.begin()));
  CHECK(std::equal(a.begin() + static_cast<std::ptrdiff_t>(half), a.end(),
                   b.begin() + static_cast<std::ptrdiff_t>(half)));
  CHECK_THROWS_WITH_AS(uc.forward(x, t, {0, 0}), doctest::Contains("needs a condition"),
                       std::invalid_argument);
}

TEST_CASE("learning: a few ddpm-arch training steps on the CPU lower the loss") {
  // Flat 8x8 images (black or white): an easy target whose epsilon loss falls
  // well below its start within a few dozen steps.
  const int64_t n = 32;
  Tensor images = Tensor::empty({n, 1, 8, 8});
  float* p = images.data<float>();
  for (int64_t i = 0; i < n * 64; ++i) p[i] = (i / 64) % 2 == 0 ? -1.0f : 1.0f;
  TrainConfig cfg;
  cfg.model = tiny_ddpm();
  cfg.timesteps = 100;
  cfg.batch_size = 16;
  cfg.lr = 3e-3;
  cfg.warmup_steps = 5;
  cfg.ema_decay = 0;
  cfg.seed = 2;
  Trainer tr(cfg, images);
  std::vector<double> losses;
  for (int i = 0; i < 60; ++i) losses.push_back(tr.step().loss);
  const double first = std::accumulate(losses.begin(), losses.begin() + 10, 0.0) / 10;
  const double last = std::accumulate(losses.end() - 10, losses.end(), 0.0) / 10;
  MESSAGE("ddpm arch: mean loss of steps 1-10 " << first << ", of steps 51-60 " << last);
  CHECK(last < 0.6 * first);
}

TEST_CASE("diffusion: a ddpm-arch checkpoint rebuilds the same model from its metadata") {
  test::TempDir tmp;
  const fs::path dir = tmp.path() / "run";
  fs::create_directories(dir / "samples");
  TrainConfig cfg;
  cfg.model = tiny_ddpm();
  cfg.model.num_classes = 2;
  cfg.conditioning = Conditioning::class_label;
  cfg.timesteps = 20;
  cfg.batch_size = 4;
  cfg.warmup_steps = 1;
  cfg.ema_decay = 0;
  cfg.seed = 5;
  const Tensor images = rand_uniform({8, 1, 8, 8}, -1.0, 1.0, 11, 3);
  Trainer tr(cfg, images, std::vector<int64_t>{0, 1, 0, 1, 0, 1, 0, 1});
  Checkpointer::Options o;
  o.dir = dir.string();
  o.cadence = CheckpointCadence::for_run(2, 2, 2);
  o.samples = {2, 1, 1.0, CropBox{}, 8, 8};
  o.meta = {{"data.spec", "test"},
            {"data.source", "test (train)"},
            {"data.height", "8"},
            {"data.width", "8"},
            {"data.class_names", "[\"a\",\"b\"]"}};
  o.shared_meta = o.meta;
  Checkpointer ck(tr, o, true, false);
  for (int64_t done = 1; done <= 2; ++done) {
    const Trainer::StepResult r = tr.step();
    ck.record({done - 1, r.loss, r.grad_norm, r.lr, 1.0});
    ck.after_step(done);
  }
  const LoadedModel lm = load_model(ck.model_path());
  CHECK(lm.config.model == cfg.model);
  CHECK(lm.config.model.arch == UNetArch::ddpm);
  REQUIRE(names_of(*lm.model) == names_of(tr.model()));
  for (const auto& [name, w] : lm.model->named_parameters()) {
    CAPTURE(name);
    CHECK(w.to_vector<float>() == tr.model().parameter(name).to_vector<float>());
  }
  const Tensor x = randn({2, 1, 8, 8}, 7, 1);
  const Tensor t = Tensor::from_vector(std::vector<float>{1, 15}, {2});
  CHECK(lm.model->forward(x, t, {1, 2}).to_vector<float>() ==
        tr.model().forward(x, t, {1, 2}).to_vector<float>());
}

TEST_CASE("nn: ddpm dropout acts only while training, with masks fixed by (seed, stream, draw)") {
  UNetConfig with_dropout = tiny_ddpm();
  with_dropout.dropout = 0.3;
  UNet plain(tiny_ddpm(), 7), dropped(with_dropout, 7);
  const Tensor x = randn({2, 1, 16, 16}, 4, 1);
  const Tensor t = Tensor::from_vector(std::vector<float>{10, 600}, {2});
  const auto run = [&](UNet& m) { return m.forward(x, t).detach().to_vector<float>(); };
  // Dropout changes no parameter: off, the two models agree bit for bit.
  const std::vector<float> eval = run(plain);
  CHECK(run(dropped) == eval);
  dropped.set_dropout(true, 11, 8, 5);
  const std::vector<float> a = run(dropped), again = run(dropped);
  CHECK(a != eval);
  CHECK(a == again);  // the same draw: the same masks
  dropped.set_dropout(true, 11, 8, 6);
  CHECK(run(dropped) != a);  // the next draw: other masks
  dropped.set_dropout(true, 12, 8, 5);
  CHECK(run(dropped) != a);  // another seed
  // The simple layout has no dropout: set_dropout changes nothing.
  plain.set_dropout(true, 11, 8, 5);
  CHECK(run(plain) == eval);
  dropped.set_dropout(false);
  CHECK(run(dropped) == eval);
  // The backward of a dropout forward reaches every parameter.
  dropped.set_dropout(true, 11, 8, 5);
  Tensor loss = mean(mul(dropped.forward(x, t), dropped.forward(x, t)));
  autograd::backward(loss);
  for (const auto& [name, prm] : dropped.named_parameters()) {
    REQUIRE(prm.grad().defined());
    for (float g : prm.grad().to_vector<float>()) REQUIRE(std::isfinite(g));
  }
}

TEST_CASE("learning: ddpm training with dropout is reproducible from its seed, and the masks act") {
  const int64_t n = 16;
  Tensor images = randn({n, 1, 8, 8}, 3, 1);
  TrainConfig cfg;
  cfg.model = tiny_ddpm();
  cfg.model.dropout = 0.2;
  cfg.timesteps = 100;
  cfg.batch_size = 8;
  cfg.ema_decay = 0;
  cfg.seed = 4;
  Trainer a(cfg, images), b(cfg, images);
  std::vector<double> la, lb;
  for (int i = 0; i < 3; ++i) la.push_back(a.step().loss);
  for (int i = 0; i < 3; ++i) lb.push_back(b.step().loss);
  CHECK(la == lb);
  // Without dropout the same run gives other losses (the masks act).
  cfg.model.dropout = 0;
  Trainer c(cfg, images);
  CHECK(c.step().loss != la[0]);
}
