// ddpm-train --arch ddpm from the command line: the flags, their refusals
// (before anything is created), the arch saved in the model's metadata so
// that ddpm-sample and --resume rebuild the same network.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "io/safetensors.h"
#include "tests/io_util.h"
#include "tests/tool_runner.h"

namespace fs = std::filesystem;
using namespace ddpm;
using ddpm::test::check_contains;
using ddpm::test::check_run;
using ddpm::test::operator+;
using ddpm::test::run_program;
using ddpm::test::set_flag;
using ddpm::test::TempDir;
using ddpm::test::tiny_train_flags;

namespace {

// The tiny ddpm layout: two levels, one ResBlock each, attention on the
// second (16x16 maps of the 32x32 padded frame), 8 channels per head.
const std::vector<std::string> kDdpmFlags = {"--arch",           "ddpm", "--channel-mult",          "1,2",
                                             "--num-res-blocks", "1",    "--attention-resolutions", "16",
                                             "--head-channels",  "8"};

}  // namespace

TEST_CASE("tools: ddpm-train --arch ddpm refuses bad layouts naming the flag or field, creating nothing") {
  TempDir tmp;
  ddpm::test::write_png_folder(tmp.path() / "png", 8, 8, 8);
  const std::string out = tmp.file("run");
  const std::vector<std::pair<std::vector<std::string>, std::vector<std::string>>> cases = {
      {{"--channel-mult", "1,2"}, {"--channel-mult applies to --arch ddpm"}},
      {{"--head-channels", "4"}, {"--head-channels applies to --arch ddpm"}},
      {kDdpmFlags + std::vector<std::string>{"--head-channels", "3"},
       {"--arch ddpm", "head_channels 3 must divide"}},
      {kDdpmFlags + std::vector<std::string>{"--attention-resolutions", "4"},
       {"--arch ddpm", "attention_resolutions entry 4"}},
      {kDdpmFlags + std::vector<std::string>{"--channel-mult", "1,x"}, {"--channel-mult '1,x'"}},
      {kDdpmFlags + std::vector<std::string>{"--time-embedding", "linear"},
       {"--time-embedding linear", "sinusoid"}},
      {{"--cross-attention-tokens", "2"}, {"--cross-attention-tokens applies to --arch ddpm"}},
      {kDdpmFlags + std::vector<std::string>{"--cross-attention-tokens", "2"},
       {"--cross-attention-tokens 2 attends to class tokens", "applies to --conditional class",
        "--conditional none"}},
  };
  for (const auto& [extra, parts] : cases) {
    CAPTURE(parts.front());
    std::vector<std::string> args = tiny_train_flags(tmp.file("png"), out, 2);
    for (size_t i = 0; i + 1 < extra.size(); i += 2) args = set_flag(args, extra[i], extra[i + 1]);
    const ddpm::test::RunResult r = run_program(ddpm::test::kTrainExe, args, tmp);
    CHECK(r.status == 1);
    for (const std::string& p : parts) check_contains(r.output, {p});
    CHECK_FALSE(fs::exists(out));
  }
}

TEST_CASE("tools: an --arch ddpm run saves its layout; ddpm-sample and --resume rebuild it") {
  TempDir tmp;
  ddpm::test::write_png_folder(tmp.path() / "png", 8, 8, 8);
  const std::string run = tmp.file("run");
  // tiny_train_flags' --time-embed-dim 16 is kept (4 x base would be 32).
  check_run(run_program(ddpm::test::kTrainExe, tiny_train_flags(tmp.file("png"), run, 2) + kDdpmFlags, tmp),
            0, {"UNet base 8 (ddpm 1,2 x1, attention 16, 8 channels per head"});
  const SafetensorsFile f = load_safetensors(run + "/model.safetensors");
  const auto meta = f.metadata();
  CHECK(meta.at("arch") == "ddpm");
  CHECK(meta.at("channel_mult") == "1,2");
  CHECK(meta.at("num_res_blocks") == "1");
  CHECK(meta.at("attention_resolutions") == "16");
  CHECK(meta.at("head_channels") == "8");
  CHECK(f.entry("conv_in.weight").shape == Shape{8, 1, 3, 3});
  CHECK(f.entry("time_embedding.linear_1.weight").shape == Shape{16, 8});
  CHECK(f.entry("down_blocks.1.attentions.0.to_q.weight").shape == Shape{16, 16});
  CHECK(f.entry("up_blocks.0.upsamplers.0.conv.weight").shape == Shape{16, 16, 3, 3});

  check_run(run_program(ddpm::test::kSampleExe,
                        {"--model", run + "/model.safetensors", "--num", "2", "--device", "cpu", "--steps",
                         "2", "--out", tmp.file("g.png")},
                        tmp),
            0, {});
  CHECK(fs::exists(tmp.file("g.png")));

  // A resume takes the layout from the checkpoint; a flag that disagrees is
  // refused, and a ddpm flag alone is compared as a ddpm one.
  check_run(run_program(ddpm::test::kTrainExe,
                        {"--out", run, "--resume", "--steps", "3", "--threads", "1", "--sample-num", "1",
                         "--sample-steps", "1"},
                        tmp),
            0, {"ddpm 1,2 x1", "steps 2..3"});
  check_run(
      run_program(ddpm::test::kTrainExe, {"--out", run, "--resume", "--steps", "4", "--arch", "simple"}, tmp),
      1, {"--arch simple differs", "arch=ddpm"});
  check_run(run_program(ddpm::test::kTrainExe,
                        {"--out", run, "--resume", "--steps", "4", "--num-res-blocks", "2"}, tmp),
            1, {"--num-res-blocks 2 differs", "num_res_blocks=1"});
}

TEST_CASE("tools: a simple run's files hold no arch keys, and its resume refuses --arch ddpm") {
  TempDir tmp;
  ddpm::test::write_png_folder(tmp.path() / "png", 8, 8, 8);
  const std::string run = tmp.file("run");
  check_run(run_program(ddpm::test::kTrainExe, tiny_train_flags(tmp.file("png"), run, 1), tmp), 0,
            {"UNet base 8 (simple,"});
  const auto meta = load_safetensors(run + "/model.safetensors").metadata();
  CHECK(meta.count("arch") == 0);
  CHECK(meta.count("channel_mult") == 0);
  check_run(
      run_program(ddpm::test::kTrainExe, {"--out", run, "--resume", "--steps", "2", "--arch", "ddpm"}, tmp),
      1, {"--arch ddpm differs", "arch=simple"});
}

TEST_CASE(
    "tools: ddpm-train --cross-attention-tokens trains a class-conditional ddpm model; guided sampling") {
  TempDir tmp;
  for (int k = 0; k < 3; ++k)
    ddpm::test::write_png_folder(tmp.path() / "classes" / std::string(1, static_cast<char>('a' + k)), 4, 8, 8,
                                 1, 4 * k);
  const std::string run = tmp.file("run");
  const std::vector<std::string> flags =
      set_flag(tiny_train_flags(tmp.file("classes"), run, 3), "--sample-num", "3") + kDdpmFlags +
      std::vector<std::string>{"--conditional", "class", "--cross-attention-tokens", "2"};
  check_run(run_program(ddpm::test::kTrainExe, flags, tmp), 0,
            {"class-conditional, 3 classes", "cross-attention to 2 class tokens"});
  const SafetensorsFile f = load_safetensors(run + "/model.safetensors");
  const auto meta = f.metadata();
  CHECK(meta.at("arch") == "ddpm");
  CHECK(meta.at("num_classes") == "3");
  CHECK(meta.at("cross_attention_tokens") == "2");
  // T x D = 2 x 16 per class and "no class"; keys and values from the
  // 16-channel tokens to the 16 channels of level 1.
  CHECK(f.entry("class_tokens.weight").shape == Shape{4, 32});
  CHECK(f.entry("class_embedding.weight").shape == Shape{4, 16});
  CHECK(f.entry("down_blocks.1.attentions.0.norm2.weight").shape == Shape{16});
  CHECK(f.entry("mid_block.attentions.0.attn2.to_k.weight").shape == Shape{16, 16});
  CHECK(f.entry("up_blocks.0.attentions.1.attn2.to_out.0.weight").shape == Shape{16, 16});

  const std::string model = run + "/model.safetensors";
  check_run(run_program(ddpm::test::kSampleExe,
                        {"--model", model, "--class", "b", "--guidance", "3", "--num", "2", "--steps", "2",
                         "--device", "cpu", "--out", tmp.file("b.png")},
                        tmp),
            0, {"class b, guidance 3"});
  CHECK(fs::exists(tmp.file("b.png")));
  check_run(run_program(ddpm::test::kSampleExe,
                        {"--model", model, "--num", "2", "--steps", "2", "--device", "cpu", "--out",
                         tmp.file("none.png")},
                        tmp),
            0, {"no --class: unconditional samples"});

  // A resume keeps the tokens without the flag and refuses another count.
  check_run(run_program(ddpm::test::kTrainExe,
                        {"--out", run, "--resume", "--steps", "4", "--threads", "1", "--sample-num", "3",
                         "--sample-steps", "1"},
                        tmp),
            0, {"cross-attention to 2 class tokens", "steps 3..4"});
  check_run(run_program(ddpm::test::kTrainExe,
                        {"--out", run, "--resume", "--steps", "5", "--cross-attention-tokens", "3"}, tmp),
            1, {"--cross-attention-tokens 3 differs", "cross_attention_tokens=2"});
}
