// The evaluation from the command line: ddpm-eval (a model's samples or a
// PNG folder against a reference set) and ddpm-train --eval-every (eval.csv
// during training, kept across a resume). Tiny: 8x8 images, an untrained
// classifier saved for 8x8 inputs, a handful of samples.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "eval/classifier.h"
#include "io/atomic_file.h"
#include "io/eval_csv.h"
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

// An untrained classifier (fixed seed) for 1x8x8 images.
std::string tiny_classifier(const TempDir& tmp, const std::string& name = "clf.safetensors") {
  nn::Classifier model(1, 10);
  model.init_parameters(7);
  const std::string path = tmp.file(name);
  eval::save_classifier(path, model, {{"input_height", "8"}, {"input_width", "8"}});
  return path;
}

}  // namespace

TEST_CASE("tools: ddpm-eval refuses bad flags and input, naming the flag, file or shape") {
  TempDir tmp;
  const std::string clf = tiny_classifier(tmp);
  ddpm::test::write_png_folder(tmp.path() / "ref", 6, 8, 8);
  ddpm::test::write_png_folder(tmp.path() / "big", 3, 12, 12);
  ddpm::test::write_png_folder(tmp.path() / "one", 1, 8, 8);
  fs::create_directories(tmp.path() / "empty");
  const std::vector<std::string> common{"--classifier", clf, "--reference", tmp.file("ref")};

  check_run(run_program(kEvalExe, common, tmp), 1, {"ddpm-eval: error:", "--model", "--images"});
  check_run(run_program(kEvalExe, {"--model", tmp.file("m.safetensors"), "--images", tmp.file("ref")}, tmp),
            2, {"--model"});
  check_run(run_program(kEvalExe, {"--num", "1"}, tmp), 2, {"--num"});
  check_run(run_program(kEvalExe, {"--sampler", "euler"}, tmp), 2, {"--sampler"});
  check_run(run_program(kEvalExe, {"--seed", "-3"}, tmp), 2, {"--seed"});
  // Sampling flags mean nothing for a folder.
  check_run(run_program(kEvalExe,
                        common + std::vector<std::string>{"--images", tmp.file("ref"), "--steps", "5"}, tmp),
            1, {"--steps", "applies to --model"});
  // No classifier: says how to make one.
  const std::string none = tmp.file("none.safetensors");
  check_run(run_program(kEvalExe, {"--images", tmp.file("ref"), "--classifier", none}, tmp), 1,
            {"no classifier at", none, "ddpm-classify train"});
  // Images of another size than the classifier's.
  check_run(run_program(kEvalExe, common + std::vector<std::string>{"--images", tmp.file("big")}, tmp), 1,
            {"--images", "12x12", "8x8"});
  check_run(run_program(kEvalExe, common + std::vector<std::string>{"--images", tmp.file("one")}, tmp), 1,
            {"1 image(s)", "at least 2"});
  check_run(run_program(kEvalExe, common + std::vector<std::string>{"--images", tmp.file("empty")}, tmp), 1,
            {"ddpm-eval: error:", "no *.png files"});
  // An output that cannot be written is refused before the scoring, and a
  // failed run leaves an earlier file as it was.
  write_file_atomic(tmp.file("file"), std::string("x"));
  check_run(run_program(kEvalExe,
                        common + std::vector<std::string>{"--images", tmp.file("ref"), "--json",
                                                          tmp.file("file/s.json")},
                        tmp),
            1, {"--json"});
  write_file_atomic(tmp.file("old.json"), std::string("earlier"));
  check_run(run_program(kEvalExe,
                        common + std::vector<std::string>{"--images", tmp.file("big"), "--json",
                                                          tmp.file("old.json")},
                        tmp),
            1, {"12x12"});
  CHECK(read_text(tmp.file("old.json")) == "earlier");
  // ... and removes the folders it made for its outputs.
  check_run(run_program(kEvalExe,
                        common + std::vector<std::string>{"--images", tmp.file("big"), "--grid",
                                                          tmp.file("new/deeper/g.png")},
                        tmp),
            1, {"12x12"});
  CHECK_FALSE(fs::exists(tmp.file("new")));
}

TEST_CASE("tools: ddpm-eval of a folder against itself: FD 0, precision and recall 1, and a JSON record") {
  TempDir tmp;
  const std::string clf = tiny_classifier(tmp);
  ddpm::test::write_png_folder(tmp.path() / "ref", 12, 8, 8);
  ddpm::test::write_png_folder(tmp.path() / "other", 12, 8, 8, 1, 40);
  const std::string json = tmp.file("out/s.json"), grid = tmp.file("out/g.png");
  const auto r = run_program(kEvalExe,
                             {"--images", tmp.file("ref"), "--reference", tmp.file("ref"), "--classifier",
                              clf, "--json", json, "--grid", grid},
                             tmp);
  check_run(r, 0, {"FD", "IS", "precision", "recall", "12 images of"});
  const auto j = nlohmann::json::parse(read_text(json));
  CHECK(std::fabs(j.at("fd").get<double>()) < 1e-6);
  CHECK(j.at("precision").get<double>() == 1.0);
  CHECK(j.at("recall").get<double>() == 1.0);
  CHECK(j.at("n").get<int64_t>() == 12);
  CHECK(j.at("n_ref").get<int64_t>() == 12);
  CHECK(j.at("source").at("images") == tmp.file("ref"));
  CHECK(j.at("classifier").at("fingerprint") == eval::load_classifier(clf).fingerprint);
  CHECK(j.at("reference").at("images").get<int64_t>() == 12);
  CHECK(fs::file_size(grid) > 0);
  // The reference features were cached beside the classifier.
  bool cached = false;
  for (const auto& e : fs::directory_iterator(tmp.path()))
    cached = cached || e.path().string().find(".features.safetensors") != std::string::npos;
  CHECK(cached);

  // Other images: a positive distance, the same --num/--seed twice gives the same numbers.
  const std::vector<std::string> other{
      "--images", tmp.file("other"), "--reference", tmp.file("ref"), "--classifier", clf, "--num", "10"};
  const auto a = run_program(kEvalExe, other + std::vector<std::string>{"--json", tmp.file("a.json")}, tmp);
  const auto b = run_program(kEvalExe, other + std::vector<std::string>{"--json", tmp.file("b.json")}, tmp);
  check_run(a, 0, {"10 images of"});
  check_run(b, 0, {});
  const auto ja = nlohmann::json::parse(read_text(tmp.file("a.json")));
  const auto jb = nlohmann::json::parse(read_text(tmp.file("b.json")));
  CHECK(ja.at("fd").get<double>() > 0);
  CHECK(ja.at("n").get<int64_t>() == 10);
  for (const char* k : {"fd", "is", "precision", "recall"}) CHECK(ja.at(k) == jb.at(k));
}

TEST_CASE(
    "tools: ddpm-train --eval-every writes eval.csv and an FD panel; a resume keeps the rows; ddpm-eval "
    "samples the model") {
  TempDir tmp;
  const std::string clf = tiny_classifier(tmp);
  ddpm::test::write_png_folder(tmp.path() / "data", 16, 8, 8);
  const std::string out = tmp.file("run");
  const std::vector<std::string> eval_flags{"--eval-every", "2", "--eval-num",         "6",
                                            "--eval-steps", "2", "--classifier",       clf,
                                            "--seed",       "3", "--checkpoint-every", "2"};
  // --eval-num without --eval-every is refused.
  check_run(run_program(ddpm::test::kTrainExe,
                        ddpm::test::tiny_train_flags(tmp.file("data"), tmp.file("x"), 2) +
                            std::vector<std::string>{"--eval-num", "6"},
                        tmp),
            1, {"--eval-num", "--eval-every"});
  // A classifier of another input size is refused before anything is written.
  {
    nn::Classifier model(1, 10);
    eval::save_classifier(tmp.file("c16.safetensors"), model,
                          {{"input_height", "16"}, {"input_width", "16"}});
    check_run(run_program(ddpm::test::kTrainExe,
                          ddpm::test::tiny_train_flags(tmp.file("data"), tmp.file("y"), 2) +
                              std::vector<std::string>{"--eval-every", "1", "--classifier",
                                                       tmp.file("c16.safetensors")},
                          tmp),
              1, {"--eval-every", "1x8x8", "1x16x16"});
    CHECK_FALSE(fs::exists(tmp.file("y")));
  }

  check_run(run_program(ddpm::test::kTrainExe,
                        ddpm::test::tiny_train_flags(tmp.file("data"), out, 4) + eval_flags, tmp),
            0, {"step 2: FD", "step 4: FD", "eval.csv"});
  const std::vector<EvalRow> rows = read_eval_csv(out + "/eval.csv", 1000);
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].step == 2);
  CHECK(rows[1].step == 4);
  for (const EvalRow& r : rows) {
    CHECK(r.n == 6);
    CHECK(std::isfinite(r.fd));
    CHECK(r.fd >= 0);
    CHECK(r.is >= 1.0);
    CHECK(r.precision >= 0);
    CHECK(r.precision <= 1);
  }
  CHECK(fs::file_size(out + "/loss.png") > 0);
  // The evaluations leave training as it was: the same losses as a run without them.
  {
    const std::string plain = tmp.file("plain");
    std::vector<std::string> flags = ddpm::test::tiny_train_flags(tmp.file("data"), plain, 4);
    flags = flags + std::vector<std::string>{"--seed", "3", "--checkpoint-every", "2"};
    check_run(run_program(ddpm::test::kTrainExe, flags, tmp), 0, {});
    auto losses = [](const std::string& csv) {
      std::vector<std::string> col;
      std::istringstream in(read_text(csv));
      std::string line;
      while (std::getline(in, line)) col.push_back(line.substr(0, line.find(',', line.find(',') + 1)));
      return col;
    };
    const std::vector<std::string> a = losses(out + "/loss.csv"), b = losses(plain + "/loss.csv");
    CHECK(a.size() == 5);  // header and 4 steps
    CHECK(a == b);         // step,loss columns as text
    CHECK_FALSE(fs::exists(plain + "/eval.csv"));
  }

  // Resume to step 6: the two rows come back unchanged, one is added.
  check_run(run_program(ddpm::test::kTrainExe,
                        ddpm::test::tiny_train_flags(tmp.file("data"), out, 6) + eval_flags +
                            std::vector<std::string>{"--resume"},
                        tmp),
            0, {"step 6: FD"});
  const std::vector<EvalRow> after = read_eval_csv(out + "/eval.csv", 1000);
  REQUIRE(after.size() == 3);
  for (size_t i = 0; i < 2; ++i) {
    CHECK(after[i].step == rows[i].step);
    CHECK(after[i].fd == rows[i].fd);
    CHECK(after[i].is == rows[i].is);
  }
  CHECK(after[2].step == 6);

  // ddpm-eval samples the trained model: deterministic for a seed.
  const std::vector<std::string> flags{"--model",      out + "/model.safetensors",
                                       "--classifier", clf,
                                       "--reference",  tmp.file("data"),
                                       "--num",        "5",
                                       "--steps",      "2",
                                       "--batch",      "3",
                                       "--device",     "cpu"};
  check_run(run_program(kEvalExe, flags + std::vector<std::string>{"--json", tmp.file("e1.json")}, tmp), 0,
            {"5 ddim-2 samples", "FD"});
  check_run(run_program(kEvalExe, flags + std::vector<std::string>{"--json", tmp.file("e2.json")}, tmp), 0,
            {});
  const auto j1 = nlohmann::json::parse(read_text(tmp.file("e1.json")));
  const auto j2 = nlohmann::json::parse(read_text(tmp.file("e2.json")));
  CHECK(j1.at("fd") == j2.at("fd"));
  CHECK(j1.at("source").at("steps").get<int64_t>() == 2);
  CHECK(j1.at("source").at("model_step") == "6");
  // More steps than the model was trained with are refused.
  check_run(run_program(kEvalExe, ddpm::test::set_flag(flags, "--steps", "5000"), tmp), 1,
            {"--steps 5000", "training timesteps"});
}

namespace {

std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

// An IDX data set of 8x8 shapes in dir (a bright square at a varying place on
// a dark ground): `n_train` train and `n_test` t10k images.
void write_squares(const fs::path& dir, int64_t n_train, int64_t n_test) {
  fs::create_directories(dir);
  for (const auto& [prefix, n] : {std::pair<std::string, int64_t>{"train", n_train}, {"t10k", n_test}}) {
    std::string img = be32(0x803) + be32(static_cast<uint32_t>(n)) + be32(8) + be32(8);
    std::string lab = be32(0x801) + be32(static_cast<uint32_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      const int64_t y0 = i % 5, x0 = (i / 5) % 5;
      for (int64_t y = 0; y < 8; ++y)
        for (int64_t x = 0; x < 8; ++x)
          img +=
              static_cast<char>(y >= y0 && y < y0 + 3 && x >= x0 && x < x0 + 3 ? 220 : 10 + (x + y + i) % 7);
      lab += static_cast<char>(i % 10);
    }
    write_file_atomic((dir / (prefix + "-images-idx3-ubyte")).string(), img);
    write_file_atomic((dir / (prefix + "-labels-idx1-ubyte")).string(), lab);
  }
}

}  // namespace

TEST_CASE("tools: ddpm-eval --calibrate scores real, blurred and noise images; noise scores far worse") {
  TempDir tmp;
  const std::string clf = tiny_classifier(tmp);
  write_squares(tmp.path() / "sq", 60, 40);
  const auto r = run_program(kEvalExe,
                             {"--calibrate", "--classifier", clf, "--reference", tmp.file("sq"), "--num",
                              "30", "--json", tmp.file("cal.json")},
                             tmp);
  check_run(r, 0, {"train images", "blur sigma 0.5", "blur sigma 1", "blur sigma 2", "uniform noise"});
  const auto j = nlohmann::json::parse(read_text(tmp.file("cal.json")));
  const auto& rows = j.at("calibration");
  REQUIRE(rows.size() == 5);
  CHECK(rows[0].at("images") == "train images");
  CHECK(rows[4].at("images") == "uniform noise");
  for (const auto& row : rows) CHECK(row.at("n").get<int64_t>() == 30);
  const double real = rows[0].at("fd").get<double>(), noise = rows[4].at("fd").get<double>();
  CHECK(real >= 0);
  CHECK(noise > 10 * real);
  CHECK(rows[3].at("fd").get<double>() > real);  // sigma 2 blurs the squares away

  // A PNG folder has no train split; --calibrate does not take --model or --images.
  ddpm::test::write_png_folder(tmp.path() / "png", 4, 8, 8);
  check_run(run_program(kEvalExe, {"--calibrate", "--classifier", clf, "--reference", tmp.file("png")}, tmp),
            1, {"calibration", "train split", tmp.file("png")});
  check_run(run_program(kEvalExe, {"--calibrate", "--images", tmp.file("png")}, tmp), 2, {"--calibrate"});
  check_run(
      run_program(kEvalExe,
                  {"--calibrate", "--classifier", clf, "--reference", tmp.file("sq"), "--steps", "3"}, tmp),
      1, {"--steps", "--calibrate"});
}
