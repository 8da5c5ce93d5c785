// Image-conditional models from the command line: ddpm-train --conditional
// image --task superres|inpaint on a PNG folder, ddpm-sample --cond (the
// originals, low-resolution images, a folder), the pictures' layout, and
// the refusals, each before anything is written.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "io/images.h"
#include "io/safetensors.h"
#include "tests/io_util.h"
#include "tests/tool_runner.h"

namespace fs = std::filesystem;
using namespace ddpm;
using ddpm::test::check_run;
using ddpm::test::operator+;
using ddpm::test::run_program;
using ddpm::test::TempDir;

namespace {

// Width and height from a PNG's IHDR chunk (big-endian at bytes 16 and 20).
std::pair<int64_t, int64_t> png_size(const std::string& path) {
  const std::string b = ddpm::read_file(path);
  REQUIRE(b.size() > 24);
  auto be = [&](size_t at) {
    int64_t v = 0;
    for (size_t i = 0; i < 4; ++i) v = v * 256 + static_cast<unsigned char>(b[at + i]);
    return v;
  };
  return {be(16), be(20)};
}

// A grid of `cols` x `rows` cells of 16x16 with 2-pixel borders.
std::pair<int64_t, int64_t> grid(int64_t cols, int64_t rows) { return {2 + cols * 18, 2 + rows * 18}; }

std::vector<std::string> image_flags(const TempDir& tmp, const std::string& run, const std::string& task,
                                     int64_t steps = 2) {
  return ddpm::test::set_flag(ddpm::test::tiny_train_flags(tmp.file("data"), run, steps), "--sample-num",
                              "6") +
         std::vector<std::string>{"--conditional", "image", "--task", task};
}

}  // namespace

TEST_CASE(
    "tools: a superres model completes originals, low-resolution images and a folder; refusals write "
    "nothing") {
  TempDir tmp;
  ddpm::test::write_png_folder(tmp.path() / "data", 8, 16, 16);  // padded to 32x32: factor 4 from 8x8
  ddpm::test::write_png_folder(tmp.path() / "low", 2, 8, 8);
  ddpm::test::write_png_folder(tmp.path() / "odd", 1, 12, 12);
  const std::string run = tmp.file("run");
  check_run(
      run_program(ddpm::test::kTrainExe,
                  image_flags(tmp, run, "superres") + std::vector<std::string>{"--superres-from", "8"}, tmp),
      0, {"image-conditional: super-resolution from 8x8"});
  const SafetensorsFile f = load_safetensors(run + "/model.safetensors");
  const auto meta = f.metadata();
  CHECK(meta.at("conditional") == "image");
  CHECK(meta.at("task") == "superres");
  CHECK(meta.at("superres_from") == "8");
  CHECK(meta.at("cond_channels") == "1");
  CHECK(f.entry("enc1.0.weight").shape == Shape{8, 2, 3, 3});
  CHECK(f.entry("final.weight").shape == Shape{1, 8, 1, 1});
  // The training grid: two (condition, sample, original) triplets in a row.
  CHECK(png_size(run + "/samples/step_000002.png") == grid(6, 1));

  const std::string model = run + "/model.safetensors";
  auto sample = [&](std::vector<std::string> extra) {
    return run_program(ddpm::test::kSampleExe,
                       std::vector<std::string>{"--model", model, "--steps", "2", "--device", "cpu"} + extra,
                       tmp);
  };
  const std::string d = tmp.file("data");
  check_run(sample({"--cond", d + "/000.png", d + "/001.png", d + "/002.png", "--out", tmp.file("o.png"),
                    "--out-dir", tmp.file("each")}),
            0,
            {"super-resolution of 3 condition image(s)", "completion RMS error", "vs the originals",
             "condition, sample, original"});
  CHECK(png_size(tmp.file("o.png")) == grid(3, 3));  // one triplet per row
  CHECK(png_size(tmp.file("each/000002.png")) == std::pair<int64_t, int64_t>{16, 16});
  check_run(sample({"--cond", tmp.file("low"), "--out", tmp.file("low.png")}), 0,
            {"super-resolution of 2 condition image(s)", "(condition, sample, side by side)"});
  CHECK(png_size(tmp.file("low.png")) == grid(2, 2));
  check_run(sample({"--cond", d, "--num", "5", "--nrow", "2", "--out", tmp.file("five.png")}), 0,
            {"5 condition image(s)"});
  CHECK(png_size(tmp.file("five.png")) == grid(6, 3));

  // Refusals, with nothing written.
  check_run(sample({"--cond", tmp.file("odd"), "--out", tmp.file("bad1.png")}), 1,
            {"1-channel 12x12 images", "1-channel 16x16 images", "8x8 low-resolution"});
  check_run(sample({"--out", tmp.file("bad2.png")}), 1, {"image-conditional", "--cond"});
  check_run(sample({"--cond", d, "--class", "a", "--out", tmp.file("bad3.png")}), 1,
            {"--class", "image-conditional"});
  check_run(sample({"--cond", d, "--mask", "random", "--out", tmp.file("bad4.png")}), 1,
            {"--mask applies to --cond with an inpainting model"});
  check_run(sample({"--cond", d, "--num", "20", "--out", tmp.file("bad5.png")}), 1, {"--num 20", "only 8"});
  check_run(sample({"--cond", tmp.file("missing.png"), "--out", tmp.file("bad6.png")}), 1,
            {"--cond", "missing.png", "no such file"});
  for (const std::string name : {"bad1.png", "bad2.png", "bad3.png", "bad4.png", "bad5.png", "bad6.png"})
    CHECK_MESSAGE(!fs::exists(tmp.file(name)), name);

  // A resume keeps the task and refuses another.
  const ddpm::test::Snapshot before = ddpm::test::snapshot(run);
  check_run(run_program(ddpm::test::kTrainExe,
                        ddpm::test::tiny_train_flags(d, run, 3) +
                            std::vector<std::string>{"--resume", "--task", "inpaint"},
                        tmp),
            1, {"--task inpaint", "task=superres"});
  ddpm::test::check_unchanged(before, run);

  // An unconditional model refuses a condition.
  const std::string plain = tmp.file("plain");
  check_run(run_program(ddpm::test::kTrainExe, ddpm::test::tiny_train_flags(d, plain, 1), tmp), 0, {});
  check_run(run_program(ddpm::test::kSampleExe,
                        {"--model", plain + "/model.safetensors", "--steps", "1", "--cond", d, "--out",
                         tmp.file("bad7.png")},
                        tmp),
            1, {"takes no condition image"});
  CHECK(!fs::exists(tmp.file("bad7.png")));
}

TEST_CASE("tools: ddpm-train refuses wrong image-conditioning flags before creating anything") {
  TempDir tmp;
  ddpm::test::write_png_folder(tmp.path() / "data", 8, 16, 16);
  const std::string run = tmp.file("run");
  auto train = [&](std::vector<std::string> extra) {
    return run_program(ddpm::test::kTrainExe, ddpm::test::tiny_train_flags(tmp.file("data"), run, 1) + extra,
                       tmp);
  };
  check_run(train({"--conditional", "image"}), 1,
            {"--conditional image needs --task superres or --task inpaint"});
  check_run(train({"--task", "inpaint"}), 1, {"--task applies to --conditional image"});
  check_run(train({"--conditional", "image", "--task", "superres", "--superres-from", "7"}), 1,
            {"--superres-from", "7", "divides it", "32x32"});
  check_run(train({"--conditional", "image", "--task", "inpaint", "--superres-from", "8"}), 1,
            {"--superres-from applies to --conditional image --task superres"});
  check_run(train({"--conditional", "image", "--task", "superres", "--eval-every", "1"}), 1,
            {"--eval-every", "image-conditional"});
  check_run(train({"--conditional", "image", "--task", "superres", "--cond-drop", "0.2"}), 1,
            {"--cond-drop applies to --conditional class"});
  CHECK(!fs::exists(run));
}

TEST_CASE("tools: an inpainting model fills centre or random boxes") {
  TempDir tmp;
  ddpm::test::write_png_folder(tmp.path() / "data", 8, 16, 16);
  const std::string run = tmp.file("run");
  check_run(run_program(ddpm::test::kTrainExe, image_flags(tmp, run, "inpaint"), tmp), 0,
            {"image-conditional: inpainting of random boxes"});
  const SafetensorsFile f = load_safetensors(run + "/model.safetensors");
  CHECK(f.metadata().at("task") == "inpaint");
  CHECK(f.metadata().count("superres_from") == 0);
  CHECK(f.metadata().at("cond_channels") == "2");
  CHECK(f.entry("enc1.0.weight").shape == Shape{8, 3, 3, 3});
  CHECK(png_size(run + "/samples/step_000002.png") == grid(6, 1));
  for (const char* mask : {"center", "random"}) {
    const std::string out = tmp.file(std::string(mask) + ".png");
    check_run(run_program(ddpm::test::kSampleExe,
                          {"--model", run + "/model.safetensors", "--steps", "2", "--cond", tmp.file("data"),
                           "--num", "4", "--mask", mask, "--out", out},
                          tmp),
              0, {"inpainting of 4 condition image(s), " + std::string(mask) + " boxes", "inside the boxes"});
    CHECK(png_size(out) == grid(6, 2));
  }
}
