// Class-conditional models from the command line: ddpm-train --conditional
// class on a PNG folder of class sub-folders, ddpm-sample --class/--guidance
// (one class, a class grid, unconditional), ddpm-eval --guidance (class
// agreement), and the refusals, each before anything is written.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "eval/classifier.h"
#include "io/images.h"
#include "io/safetensors.h"
#include "tests/io_util.h"
#include "tests/tool_runner.h"

namespace fs = std::filesystem;
using namespace ddpm;
using ddpm::test::check_run;
using ddpm::test::operator+;
using ddpm::test::kEvalExe;
using ddpm::test::read_text;
using ddpm::test::run_program;
using ddpm::test::TempDir;

namespace {

const std::vector<std::string> kNames = {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"};

// Ten class sub-folders a..j of two 8x8 PNGs each.
void write_class_folder(const fs::path& dir) {
  for (size_t k = 0; k < kNames.size(); ++k)
    ddpm::test::write_png_folder(dir / kNames[k], 2, 8, 8, 1, static_cast<int>(2 * k));
}

// Width and height from a PNG's IHDR chunk (big-endian at bytes 16 and 20).
struct Size {
  int64_t width = 0, height = 0;
};
Size png_size(const std::string& path) {
  const std::string b = ddpm::read_file(path);
  REQUIRE(b.size() > 24);
  auto be = [&](size_t at) {
    int64_t v = 0;
    for (size_t i = 0; i < 4; ++i) v = v * 256 + static_cast<unsigned char>(b[at + i]);
    return v;
  };
  return {be(16), be(20)};
}

}  // namespace

TEST_CASE("tools: a class-conditional run records its classes; ddpm-sample draws a class, a grid or none") {
  TempDir tmp;
  write_class_folder(tmp.path() / "classes");
  const std::string run = tmp.file("run");
  std::vector<std::string> flags =
      ddpm::test::set_flag(ddpm::test::tiny_train_flags(tmp.file("classes"), run, 2), "--sample-num", "20") +
      std::vector<std::string>{"--conditional", "class", "--cond-drop", "0.2"};
  check_run(run_program(ddpm::test::kTrainExe, flags, tmp), 0,
            {"class-conditional, 10 classes, labels dropped at rate 0.2"});
  const SafetensorsFile f = load_safetensors(run + "/model.safetensors");
  const auto meta = f.metadata();
  CHECK(meta.at("conditional") == "class");
  CHECK(meta.at("cond_drop") == "0.20000000000000001");
  CHECK(meta.at("num_classes") == "10");
  CHECK(meta.at("data.class_names") == nlohmann::json(kNames).dump());
  CHECK(f.entry("class_embedding.weight").shape == Shape{11, 16});
  // The training grid is a class grid: 10 rows of 2 (8x8 images, padded to
  // 32x32 and cropped back, 2-pixel borders).
  const Size grid = png_size(run + "/samples/step_000002.png");
  CHECK(grid.width == 2 + 2 * (8 + 2));
  CHECK(grid.height == 2 + 10 * (8 + 2));

  // A resume keeps the conditioning without the flags, and refuses a change.
  check_run(run_program(ddpm::test::kTrainExe,
                        ddpm::test::set_flag(ddpm::test::tiny_train_flags(tmp.file("classes"), run, 3),
                                             "--sample-num", "20") +
                            std::vector<std::string>{"--resume"},
                        tmp),
            0, {"class-conditional"});
  check_run(run_program(ddpm::test::kTrainExe,
                        ddpm::test::tiny_train_flags(tmp.file("classes"), run, 4) +
                            std::vector<std::string>{"--resume", "--cond-drop", "0.5"},
                        tmp),
            1, {"--cond-drop 0.5", "cond_drop=0.20000000000000001"});

  const std::string model = run + "/model.safetensors";
  auto sample = [&](std::vector<std::string> extra) {
    return run_program(ddpm::test::kSampleExe,
                       std::vector<std::string>{"--model", model, "--steps", "2", "--device", "cpu"} + extra,
                       tmp);
  };
  check_run(sample({"--class", "C", "--num", "3", "--out", tmp.file("c.png")}), 0, {"class c, guidance 3"});
  CHECK(png_size(tmp.file("c.png")).width == 2 + 2 * (8 + 2));  // 3 images: 2 per row
  check_run(sample({"--class", "all", "--num", "30", "--out", tmp.file("all.png")}), 0,
            {"grid (one row per class)"});
  const Size all = png_size(tmp.file("all.png"));
  CHECK(all.height == 2 + 10 * (8 + 2));
  CHECK(all.width == 2 + 3 * (8 + 2));
  check_run(sample({"--class", "4", "--guidance", "1", "--num", "2", "--out", tmp.file("four.png")}), 0,
            {"class e, guidance 1"});
  // Without --class (or with --class none): unconditional samples, guidance off.
  check_run(sample({"--num", "2", "--out", tmp.file("none.png")}), 0, {"no --class: unconditional samples"});
  check_run(sample({"--class", "none", "--num", "2", "--out", tmp.file("none2.png")}), 0,
            {"no --class: unconditional samples"});

  // Refusals, with nothing written.
  check_run(sample({"--class", "k", "--out", tmp.file("bad1.png")}), 1,
            {"class 'k' is not one of the model's 10 classes", "0 a, 1 b"});
  check_run(sample({"--class", "10", "--out", tmp.file("bad2.png")}), 1, {"class '10'"});
  check_run(sample({"--guidance", "2", "--out", tmp.file("bad3.png")}), 1, {"--guidance applies to --class"});
  check_run(sample({"--class", "all", "--nrow", "4", "--out", tmp.file("bad4.png")}), 1,
            {"--nrow", "one row per class"});
  check_run(sample({"--class", "a", "--guidance", "-1", "--out", tmp.file("bad5.png")}), 2, {"--guidance"});
  check_run(sample({"--class", "none", "--guidance", "2", "--out", tmp.file("bad6.png")}), 1,
            {"--guidance applies to --class"});
  for (const std::string name : {"bad1.png", "bad2.png", "bad3.png", "bad4.png", "bad5.png", "bad6.png"})
    CHECK_MESSAGE(!fs::exists(tmp.file(name)), name);
}

TEST_CASE("tools: the conditioning flags are refused where they cannot apply, before anything is written") {
  TempDir tmp;
  ddpm::test::write_png_folder(tmp.path() / "flat", 8, 8, 8);
  write_class_folder(tmp.path() / "classes");
  // Unlabelled data.
  check_run(run_program(ddpm::test::kTrainExe,
                        ddpm::test::tiny_train_flags(tmp.file("flat"), tmp.file("r1"), 2) +
                            std::vector<std::string>{"--conditional", "class"},
                        tmp),
            1, {"--conditional class", "has no labels", "one sub-folder per class"});
  CHECK_FALSE(fs::exists(tmp.file("r1")));
  // --cond-drop without --conditional class; out-of-range values.
  check_run(run_program(ddpm::test::kTrainExe,
                        ddpm::test::tiny_train_flags(tmp.file("classes"), tmp.file("r2"), 2) +
                            std::vector<std::string>{"--cond-drop", "0.3"},
                        tmp),
            1, {"--cond-drop applies to --conditional class"});
  CHECK_FALSE(fs::exists(tmp.file("r2")));
  check_run(run_program(ddpm::test::kTrainExe,
                        ddpm::test::tiny_train_flags(tmp.file("classes"), tmp.file("r3"), 2) +
                            std::vector<std::string>{"--conditional", "class", "--cond-drop", "1"},
                        tmp),
            2, {"--cond-drop"});
  check_run(run_program(ddpm::test::kTrainExe,
                        ddpm::test::tiny_train_flags(tmp.file("classes"), tmp.file("r3"), 2) +
                            std::vector<std::string>{"--conditional", "text"},
                        tmp),
            2, {"--conditional"});
  CHECK_FALSE(fs::exists(tmp.file("r3")));

  // An unconditional model takes no --class, and ddpm-eval no --guidance.
  const std::string run = tmp.file("plain");
  check_run(
      run_program(ddpm::test::kTrainExe, ddpm::test::tiny_train_flags(tmp.file("classes"), run, 1), tmp), 0,
      {});
  CHECK(load_safetensors(run + "/model.safetensors").metadata().count("data.class_names") == 0);
  check_run(
      run_program(ddpm::test::kSampleExe,
                  {"--model", run + "/model.safetensors", "--class", "a", "--out", tmp.file("x.png")}, tmp),
      1, {"--class", "unconditional model"});
  check_run(run_program(
                ddpm::test::kSampleExe,
                {"--model", run + "/model.safetensors", "--guidance", "2", "--out", tmp.file("x.png")}, tmp),
            1, {"--guidance applies to --class"});
  CHECK_FALSE(fs::exists(tmp.file("x.png")));
  nn::Classifier clf(1, 10);
  clf.init_parameters(7);
  eval::save_classifier(tmp.file("clf.safetensors"), clf, {{"input_height", "8"}, {"input_width", "8"}});
  check_run(run_program(kEvalExe,
                        {"--model", run + "/model.safetensors", "--guidance", "2", "--classifier",
                         tmp.file("clf.safetensors"), "--reference", tmp.file("flat"), "--num", "4",
                         "--steps", "1", "--json", tmp.file("e/x.json")},
                        tmp),
            1, {"--guidance", "unconditional model"});
  CHECK_FALSE(fs::exists(tmp.file("e")));
}

TEST_CASE("tools: ddpm-eval --guidance samples every class and scores the classifier's agreement") {
  TempDir tmp;
  write_class_folder(tmp.path() / "classes");
  ddpm::test::write_png_folder(tmp.path() / "reference", 8, 8, 8);
  const std::string run = tmp.file("run");
  check_run(run_program(ddpm::test::kTrainExe,
                        ddpm::test::tiny_train_flags(tmp.file("classes"), run, 2) +
                            std::vector<std::string>{"--conditional", "class"},
                        tmp),
            0, {});
  // A classifier whose classes are the model's (a..j), and one whose are not.
  nn::Classifier clf(1, 10);
  clf.init_parameters(7);
  eval::save_classifier(
      tmp.file("same.safetensors"), clf,
      {{"input_height", "8"}, {"input_width", "8"}, {"class_names", "a,b,c,d,e,f,g,h,i,j"}});
  eval::save_classifier(tmp.file("fashion.safetensors"), clf, {{"input_height", "8"}, {"input_width", "8"}});
  auto eval_with = [&](const std::string& classifier, const std::string& json) {
    return run_program(kEvalExe,
                       {"--model", run + "/model.safetensors", "--guidance", "2", "--classifier", classifier,
                        "--reference", tmp.file("reference"), "--num", "20", "--steps", "2", "--json", json},
                       tmp);
  };
  check_run(eval_with(tmp.file("same.safetensors"), tmp.file("same.json")), 0,
            {"every class equally, guidance 2", "class      0."});
  const nlohmann::json j = nlohmann::json::parse(read_text(tmp.file("same.json")));
  CHECK(j.at("source").at("guidance") == 2.0);
  const double agree = j.at("class_agreement").get<double>();
  CHECK(agree >= 0.0);
  CHECK(agree <= 1.0);
  // 20 images over 10 classes: the agreement is a multiple of 1/20.
  CHECK(std::fabs(agree * 20 - std::round(agree * 20)) < 1e-9);
  check_run(eval_with(tmp.file("fashion.safetensors"), tmp.file("other.json")), 0,
            {"not scored: the model's class names differ"});
  CHECK(nlohmann::json::parse(read_text(tmp.file("other.json"))).count("class_agreement") == 0);
}
