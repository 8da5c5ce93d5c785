// The programs refuse bad flags and bad data with a message naming the flag
// or the file and a non-zero exit, before they create anything.
#include <doctest/doctest.h>
#include <zlib.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "io/safetensors.h"
#include "tensor/device_query.h"
#include "tests/preconditions.h"
#include "tests/tool_runner.h"

using namespace ddpm;
using namespace ddpm::test;
namespace fs = std::filesystem;

namespace {

std::string idx(uint32_t magic, const std::vector<uint32_t>& dims, size_t payload, uint8_t value = 7) {
  std::string s = be32(magic);
  for (uint32_t d : dims) s += be32(d);
  for (size_t i = 0; i < payload; ++i) s += static_cast<char>((i * 31 + value) % 256);
  return s;
}

// An IDX folder of 8 images of 8x8 with labels 0..7, gzip-compressed.
void write_idx_folder(const fs::path& dir, const std::string& images, const std::string& labels) {
  fs::create_directories(dir);
  write_file_atomic((dir / "train-images-idx3-ubyte.gz").string(), gzip(images));
  write_file_atomic((dir / "train-labels-idx1-ubyte.gz").string(), gzip(labels));
}
std::string good_images() { return idx(0x803, {8, 8, 8}, 8 * 64); }
std::string good_labels() {
  std::string s = be32(0x801) + be32(8);
  for (char c = 0; c < 8; ++c) s += c;
  return s;
}

}  // namespace

TEST_CASE("tools: ddpm-train refuses unknown flags, malformed and out-of-range numbers (exit 2)") {
  TempDir tmp;
  write_png_folder(tmp.path() / "png", 8, 8, 8);
  const std::string out = tmp.file("run");
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--bogus"}, "--bogus"},
      {{"stray"}, "stray"},
      {{"--steps", "abc"}, "--steps"},
      {{"--steps", "0"}, "--steps"},
      {{"--steps", "1.5"}, "--steps"},
      {{"--batch-size", "-4"}, "--batch-size"},
      {{"--lr", "nan"}, "--lr"},
      {{"--lr", "inf"}, "--lr"},
      {{"--lr", "2"}, "--lr"},
      {{"--grad-clip", "-nan"}, "--grad-clip"},
      {{"--ema-decay", "1"}, "--ema-decay"},
      {{"--sample-eta", "1.5"}, "--sample-eta"},
      {{"--weight-decay", "0x1p-3junk"}, "--weight-decay"},
      {{"--seed", "-1"}, "--seed"},
      {{"--seed", "18446744073709551616"}, "--seed"},
      {{"--timesteps", "1"}, "--timesteps"},
      {{"--schedule", "exponential"}, "--schedule"},
      {{"--device", "tpu"}, "--device"},
      {{"--threads", "0"}, "--threads"},
      {{"--debug-nan-at-step", "-2"}, "--debug-nan-at-step"},
  };
  for (const auto& [extra, flag] : cases) {
    CAPTURE(flag);
    const RunResult r = run_program(kTrainExe, tiny_train_flags(tmp.file("png"), out, 2) + extra, tmp);
    check_run(r, 2, {flag});
    CHECK_FALSE(fs::exists(out));
  }
  const RunResult help = run_program(kTrainExe, {"--help"}, tmp);
  check_run(help, 0, {"--checkpoint-every", "--skip-nonfinite", "Testing aids", "--debug-nan-at-step"});
}

TEST_CASE("tools: ddpm-train refuses impossible settings naming the flag, creating nothing") {
  TempDir tmp;
  write_png_folder(tmp.path() / "png", 8, 8, 8);
  const std::string out = tmp.file("run");
  const std::vector<std::pair<std::vector<std::string>, std::vector<std::string>>> cases = {
      {{"--base-channels", "12"}, {"--base-channels 12", "multiple of 8"}},
      {{"--time-embed-dim", "17"}, {"--time-embed-dim 17", "even"}},
      {{"--batch-size", "9"}, {"--batch-size 9", "8 images", "png"}},
      {{"--lr-schedule", "cosine"}, {"--lr-schedule cosine", "--steps 2", "--warmup 100"}},
  };
  for (const auto& [extra, parts] : cases) {
    CAPTURE(parts.front());
    std::vector<std::string> args = tiny_train_flags(tmp.file("png"), out, 2);
    for (size_t i = 0; i + 1 < extra.size(); i += 2) args = set_flag(args, extra[i], extra[i + 1]);
    const RunResult r = run_program(kTrainExe, args, tmp);
    CHECK(r.status == 1);
    for (const std::string& p : parts) check_contains(r.output, {p});
    CHECK_FALSE(fs::exists(out));
  }
}

TEST_CASE("tools: ddpm-train --device cuda without a usable GPU says why") {
  if (cuda_device_info().device_count > 0) return;  // the flag is fine there
  TempDir tmp;
  write_png_folder(tmp.path() / "png", 8, 8, 8);
  const RunResult r = run_program(
      kTrainExe, set_flag(tiny_train_flags(tmp.file("png"), tmp.file("run"), 2), "--device", "cuda"), tmp);
  check_run(r, 1, {"--device cuda", "no usable GPU"});
  CHECK_FALSE(fs::exists(tmp.file("run")));
}

TEST_CASE("tools: ddpm-train --out that cannot be a folder is refused and nothing is left behind") {
  TempDir tmp;
  write_png_folder(tmp.path() / "png", 8, 8, 8);
  write_file_atomic(tmp.file("afile"), std::string("precious"));
  const Snapshot before = snapshot(tmp.path() / "png");

  RunResult r = run_program(kTrainExe, tiny_train_flags(tmp.file("png"), tmp.file("afile"), 2), tmp);
  check_run(r, 1, {"--out", "afile", "not a directory"});
  CHECK(read_file(tmp.file("afile")) == "precious");

  r = run_program(kTrainExe, tiny_train_flags(tmp.file("png"), tmp.file("afile/sub/run"), 2), tmp);
  const std::string in_the_way = tmp.file("afile");
  check_run(r, 1, {"--out", in_the_way, "' is not a directory"});
  CHECK(read_file(tmp.file("afile")) == "precious");

  // A folder that cannot be written (a file size limit of 0 stands in for
  // permissions, which do not stop root): refused, and the folders made for
  // it are removed again.
  r = run_program(kTrainExe, tiny_train_flags(tmp.file("png"), tmp.file("new/run"), 2), tmp, 0);
  check_run(r, 1, {"--out: cannot write the run folder", "File too large"});
  CHECK_FALSE(fs::exists(tmp.file("new")));

  // A folder that already holds a run is refused without --resume.
  const std::string run = tmp.file("run");
  r = run_program(kTrainExe, tiny_train_flags(tmp.file("png"), run, 2), tmp);
  REQUIRE(r.status == 0);
  const Snapshot run_before = snapshot(run);
  r = run_program(kTrainExe, tiny_train_flags(tmp.file("png"), run, 4), tmp);
  check_run(r, 1, {"already holds a run", "--resume"});
  check_unchanged(run_before, run);
  check_unchanged(before, tmp.path() / "png");
  // A finished run leaves no temporary behind.
  for (const std::string& name : names(run_before)) CHECK(name.find(".tmp.") == std::string::npos);
}

TEST_CASE("tools: ddpm-train rejects bad PNG folders naming the folder or the file") {
  TempDir tmp;
  const std::string out = tmp.file("run");
  auto train = [&](const std::string& data) {
    return run_program(kTrainExe, tiny_train_flags(data, out, 2), tmp);
  };

  fs::create_directories(tmp.path() / "empty");
  check_run(train(tmp.file("empty")), 1, {"empty", "no *.png files"});

  write_png_folder(tmp.path() / "garbage", 8, 8, 8);
  write_file_atomic(tmp.file("garbage/004.png"), std::string("\x89PNG\r\n\x1a\n not really", 20));
  check_run(train(tmp.file("garbage")), 1, {"garbage/004.png", "cannot decode"});

  write_png_folder(tmp.path() / "sizes", 4, 8, 8);
  write_png_folder(tmp.path() / "sizes", 4, 16, 8, 1, 4);
  check_run(train(tmp.file("sizes")), 1, {"sizes/004.png", "8x16", "expected 8x8"});

  write_png_folder(tmp.path() / "channels", 4, 8, 8, 1);
  write_png_folder(tmp.path() / "channels", 4, 8, 8, 3, 4);
  check_run(train(tmp.file("channels")), 1, {"channels/004.png", "3 channel(s)", "expected 8x8 with 1"});

  // Unreadable: a dangling link (permissions do not stop root, who runs CI;
  // a file without read permission is the `nonroot` case below).
  write_png_folder(tmp.path() / "dangling", 8, 8, 8);
  fs::remove(tmp.path() / "dangling/003.png");
  fs::create_symlink(tmp.path() / "dangling/missing-target.png", tmp.path() / "dangling/003.png");
  check_run(train(tmp.file("dangling")), 1, {"dangling/003.png", "cannot read"});

  write_png_folder(tmp.path() / "odd", 8, 36, 36);  // larger than the 32 it would be padded to
  check_run(train(tmp.file("odd")), 1, {"--data", "odd", "36x36 is not divisible by 8"});

  check_run(train(tmp.file("does-not-exist")), 1, {"does-not-exist", "not a directory"});
  CHECK_FALSE(fs::exists(out));
}

// CTest entry `nonroot`, skipped as root (root reads the file anyway).
TEST_CASE("nonroot: tools: ddpm-train names a PNG it has no permission to read" *
          test::unless_missing("nonroot")) {
  DDPM_REQUIRE_PRECONDITION("nonroot");
  TempDir tmp;
  const std::string out = tmp.file("run");
  write_png_folder(tmp.path() / "noread", 8, 8, 8);
  fs::permissions(tmp.path() / "noread/002.png", fs::perms::none);
  check_run(run_program(kTrainExe, tiny_train_flags(tmp.file("noread"), out, 2), tmp), 1,
            {"noread/002.png", "Permission denied"});
  CHECK_FALSE(fs::exists(out));
}

TEST_CASE("tools: ddpm-train rejects bad IDX files naming the file and the problem") {
  TempDir tmp;
  const std::string out = tmp.file("run");
  int k = 0;
  auto train_idx = [&](const std::string& images, const std::string& labels) {
    const fs::path dir = tmp.path() / ("idx" + std::to_string(k++));
    write_idx_folder(dir, images, labels);
    return run_program(kTrainExe, tiny_train_flags(dir.string(), out, 2), tmp);
  };
  check_run(train_idx(good_images(), good_labels()), 0, {"8 images 1x8x8"});
  fs::remove_all(out);

  check_run(train_idx(idx(0x804, {8, 8, 8}, 512), good_labels()), 1,
            {"train-images-idx3-ubyte.gz", "magic number 0x00000804, expected 0x00000803"});
  check_run(train_idx(idx(0x803, {8, 8, 8}, 500), good_labels()), 1,
            {"train-images-idx3-ubyte.gz", "data ends after 500 bytes, expected 512"});
  check_run(train_idx(idx(0x803, {8, 8, 8}, 520), good_labels()), 1,
            {"train-images-idx3-ubyte.gz", "bytes beyond the 512"});
  check_run(train_idx(idx(0x803, {0, 8, 8}, 0), good_labels()), 1,
            {"train-images-idx3-ubyte.gz", "dimension 0 is 0"});
  check_run(train_idx(idx(0x803, {1000000, 1000, 1000}, 16), good_labels()), 1,
            {"train-images-idx3-ubyte.gz", "exceed the limit"});
  std::string bad_label = good_labels();
  bad_label[8 + 5] = 12;
  check_run(train_idx(good_images(), bad_label), 1, {"train-labels-idx1-ubyte.gz", "label 12 at index 5"});
  check_run(train_idx(idx(0x803, {9, 8, 8}, 9 * 64), good_labels()), 1, {"9 images but 8 labels"});

  // Compression faults: a truncated stream, and a flipped byte (CRC).
  {
    const fs::path dir = tmp.path() / "trunc";
    fs::create_directories(dir);
    const std::string gz = gzip(good_images());
    write_file_atomic((dir / "train-images-idx3-ubyte.gz").string(), gz.substr(0, gz.size() / 2));
    write_file_atomic((dir / "train-labels-idx1-ubyte.gz").string(), gzip(good_labels()));
    check_run(run_program(kTrainExe, tiny_train_flags(dir.string(), out, 2), tmp), 1,
              {"train-images-idx3-ubyte.gz"});
  }
  {
    const fs::path dir = tmp.path() / "crc";
    fs::create_directories(dir);
    std::string gz = gzip(good_images());
    gz[gz.size() - 6] = static_cast<char>(gz[gz.size() - 6] ^ 0x55);  // inside the CRC-32 trailer
    write_file_atomic((dir / "train-images-idx3-ubyte.gz").string(), gz);
    write_file_atomic((dir / "train-labels-idx1-ubyte.gz").string(), gzip(good_labels()));
    check_run(run_program(kTrainExe, tiny_train_flags(dir.string(), out, 2), tmp), 1,
              {"train-images-idx3-ubyte.gz", "corrupt"});
  }
  {
    const fs::path dir = tmp.path() / "nolabels";
    fs::create_directories(dir);
    write_file_atomic((dir / "train-images-idx3-ubyte.gz").string(), gzip(good_images()));
    check_run(run_program(kTrainExe, tiny_train_flags(dir.string(), out, 2), tmp), 1,
              {"missing train-labels-idx1-ubyte"});
  }
  CHECK_FALSE(fs::exists(out));
}

TEST_CASE("tools: ddpm-sample refuses bad flags and bad output paths before sampling") {
  TempDir tmp;
  write_png_folder(tmp.path() / "png", 8, 8, 8);
  const std::string run = tmp.file("run");
  REQUIRE(run_program(kTrainExe, tiny_train_flags(tmp.file("png"), run, 2), tmp).status == 0);
  const std::string model = run + "/model.safetensors";
  const std::vector<std::string> base = {"--model", model, "--num", "2", "--device", "cpu"};
  const std::vector<std::string> two_steps = {"--steps", "2"};

  const std::vector<std::pair<std::vector<std::string>, std::string>> usage = {
      {{"--bogus"}, "--bogus"},
      {{"--num", "0"}, "--num"},
      {{"--num", "two"}, "--num"},
      {{"--eta", "nan"}, "--eta"},
      {{"--eta", "1.5"}, "--eta"},
      {{"--sampler", "euler"}, "--sampler"},
      {{"--seed", "-3"}, "--seed"},
      {{"--variance", "learned"}, "--variance"},
      {{"--spacing", "linear"}, "--spacing"},
      {{"--batch-size", "0"}, "--batch-size"},
  };
  for (const auto& [extra, flag] : usage) {
    CAPTURE(flag);
    check_run(
        run_program(kSampleExe, base + extra + std::vector<std::string>{"--out", tmp.file("g.png")}, tmp), 2,
        {flag});
  }
  check_run(run_program(kSampleExe, {"--out", tmp.file("g.png")}, tmp), 2, {"--model"});
  check_run(run_program(kSampleExe, {"--model", tmp.file("nope.safetensors")}, tmp), 2, {"--model", "nope"});
  check_run(run_program(kSampleExe, {"--model", run}, tmp), 2, {"--model", "directory"});

  const std::vector<std::pair<std::vector<std::string>, std::vector<std::string>>> contradictions = {
      {{"--steps", "2", "--sampler", "ddpm", "--eta", "0.5", "--out", tmp.file("g.png")},
       {"--eta", "ddim only"}},
      {{"--steps", "2", "--sampler", "ddim", "--variance", "fixed_small", "--out", tmp.file("g.png")},
       {"--variance", "ddpm only"}},
      {{"--steps", "2", "--nrow", "2", "--out-dir", tmp.file("each")}, {"--nrow", "no --out"}},
      {{"--steps", "5000", "--out", tmp.file("g.png")}, {"--steps 5000", "1000 training timesteps"}},
      {{"--steps", "2", "--sampler", "ddpm", "--spacing", "trailing", "--out", tmp.file("g.png")},
       {"--spacing trailing", "leading spacing only"}},
      {{"--steps", "2", "--sampler", "dpm++2m", "--eta", "0.5", "--out", tmp.file("g.png")},
       {"--eta", "ddim only"}},
  };
  for (const auto& [extra, parts] : contradictions) {
    CAPTURE(parts.front());
    const RunResult r = run_program(kSampleExe, base + extra, tmp);
    CHECK(r.status == 1);
    for (const std::string& p : parts) check_contains(r.output, {p});
  }
  CHECK_FALSE(fs::exists(tmp.file("g.png")));
  CHECK_FALSE(fs::exists(tmp.file("each")));

  // Outputs that cannot be written are refused before sampling.
  write_file_atomic(tmp.file("afile"), std::string("x"));
  const std::vector<std::string> quick = base + two_steps;
  check_run(run_program(kSampleExe, quick + std::vector<std::string>{"--out", tmp.file("afile/g.png")}, tmp),
            1, {"--out", "afile' is not a directory"});
  check_run(run_program(kSampleExe, quick + std::vector<std::string>{"--out", run}, tmp), 1,
            {"--out", "is a directory"});
  check_run(run_program(kSampleExe, quick + std::vector<std::string>{"--out-dir", tmp.file("afile")}, tmp), 1,
            {"--out-dir", "exists and is not a directory"});
  check_run(run_program(kSampleExe,
                        quick + std::vector<std::string>{"--out", tmp.file("new/g.png"), "--progression",
                                                         tmp.file("afile/p.png")},
                        tmp),
            1, {"--progression"});
  CHECK_FALSE(fs::exists(tmp.file("new")));  // the folder made for --out is removed again
  CHECK(read_file(tmp.file("afile")) == "x");
  // An output folder that cannot be written (file size limit 0): refused before sampling.
  check_run(run_program(kSampleExe, quick + std::vector<std::string>{"--out", tmp.file("new/g.png")}, tmp, 0),
            1, {"--out", "new/g.png", "cannot write there", "File too large"});
  CHECK_FALSE(fs::exists(tmp.file("new")));

  // Into folders that do not exist yet: they are created.
  const RunResult ok =
      run_program(kSampleExe,
                  quick + std::vector<std::string>{"--out", tmp.file("a/b/grid.png"), "--out-dir",
                                                   tmp.file("c/each"), "--progression", tmp.file("d/p.png")},
                  tmp);
  check_run(ok, 0, {"wrote"});
  CHECK(fs::is_regular_file(tmp.file("a/b/grid.png")));
  CHECK(fs::is_regular_file(tmp.file("c/each/000001.png")));
  CHECK(fs::is_regular_file(tmp.file("d/p.png")));

  // The fast samplers and the spacings run end to end.
  for (const std::vector<std::string>& s : std::vector<std::vector<std::string>>{
           {"--sampler", "dpm++2m", "--steps", "3"},
           {"--sampler", "dpm++2m", "--steps", "3", "--spacing", "quadratic"},
           {"--sampler", "euler-a", "--steps", "2", "--spacing", "leading"},
           {"--sampler", "ddim", "--steps", "2", "--spacing", "trailing"}}) {
    CAPTURE(s[1]);
    const RunResult r =
        run_program(kSampleExe, base + s + std::vector<std::string>{"--out", tmp.file("f.png")}, tmp);
    check_run(r, 0, {s[1], "spacing", "wrote"});
    CHECK(fs::is_regular_file(tmp.file("f.png")));
  }
}

TEST_CASE("tools: ddpm-train --lr-schedule cosine decays to the run's --steps and keeps it on --resume") {
  TempDir tmp;
  write_png_folder(tmp.path() / "png", 8, 8, 8);
  const std::string run = tmp.file("run");
  std::vector<std::string> args = tiny_train_flags(tmp.file("png"), run, 6);
  args = set_flag(args, "--lr-schedule", "cosine");
  args = set_flag(args, "--warmup", "2");
  args = set_flag(args, "--lr", "0.002");
  check_run(run_program(kTrainExe, args, tmp), 0, {"steps 0..6"});
  const std::string config = read_file(run + "/config.json");
  check_contains(config, {"\"lr_schedule\": \"cosine\"", "\"lr_decay_steps\": \"6\""});
  // loss.csv's lr column: warm-up to 2e-3 at step 1, then the cosine from step 2 to 0 at step 6.
  std::istringstream csv(read_file(run + "/loss.csv"));
  std::string line;
  std::getline(csv, line);
  std::vector<double> lr;
  while (std::getline(csv, line)) {
    std::vector<std::string> f;
    std::istringstream ls(line);
    for (std::string x; std::getline(ls, x, ',');) f.push_back(x);
    REQUIRE(f.size() == 5);
    lr.push_back(std::stod(f[3]));
  }
  REQUIRE(lr.size() == 6);
  CHECK(lr[0] == doctest::Approx(1e-3));
  CHECK(lr[1] == doctest::Approx(2e-3));
  CHECK(lr[2] == doctest::Approx(2e-3));
  CHECK(lr[4] == doctest::Approx(1e-3));
  CHECK(lr[5] == doctest::Approx(2e-3 * 0.5 * (1 + std::cos(3.14159265358979 * 0.75))));
  // Resuming past the decay step keeps the first run's schedule and says what it means.
  check_run(run_program(kTrainExe,
                        {"--out", run, "--resume", "--steps", "7", "--threads", "1", "--sample-num", "1",
                         "--sample-steps", "1"},
                        tmp),
            0, {"reaches 0 at step 6", "steps 6..7"});
  check_contains(read_file(run + "/config.json"), {"\"lr_decay_steps\": \"6\""});
  // A flag that disagrees with the run's schedule is refused.
  check_run(
      run_program(kTrainExe, {"--out", run, "--resume", "--steps", "8", "--lr-schedule", "constant"}, tmp), 1,
      {"--lr-schedule constant differs", "lr_schedule=cosine"});
}

TEST_CASE("tools: model.safetensors and config.json name the data set, state.safetensors keeps its path") {
  TempDir tmp;
  write_png_folder(tmp.path() / "garments", 8, 8, 8);
  const std::string data = fs::absolute(tmp.path() / "garments").lexically_normal().string();
  const std::string run = tmp.file("run");
  check_run(run_program(kTrainExe, tiny_train_flags(data, run, 2), tmp), 0, {"steps 0..2"});
  const auto model = load_safetensors(run + "/model.safetensors").metadata();
  const auto state = load_safetensors(run + "/state.safetensors").metadata();
  CHECK(model.at("data.spec") == "garments");
  CHECK(model.at("data.source") == "garments");
  CHECK(state.at("data.spec") == data);
  // No file a user would share holds the folder's path.
  const std::string dir = tmp.path().string();
  for (const auto& [k, v] : model) CHECK_MESSAGE(v.find(dir) == std::string::npos, k << " = " << v);
  CHECK(read_file(run + "/config.json").find(dir) == std::string::npos);
  // --resume without --data finds the data through the state file.
  check_run(run_program(kTrainExe,
                        {"--out", run, "--resume", "--steps", "3", "--threads", "1", "--sample-num", "1",
                         "--sample-steps", "1"},
                        tmp),
            0, {"steps 2..3"});
  CHECK(load_safetensors(run + "/model.safetensors").metadata().at("data.spec") == "garments");
  // --record-data-path asks for the path in the shared files too.
  const std::string run2 = tmp.file("run2");
  std::vector<std::string> args = tiny_train_flags(data, run2, 1);
  args.push_back("--record-data-path");
  check_run(run_program(kTrainExe, args, tmp), 0, {"steps 0..1"});
  CHECK(load_safetensors(run2 + "/model.safetensors").metadata().at("data.spec") == data);
  CHECK(read_file(run2 + "/config.json").find(data) != std::string::npos);
}

TEST_CASE("tools: ddpm-sample --batch-size changes how images are batched, not the images") {
  TempDir tmp;
  write_png_folder(tmp.path() / "png", 8, 8, 8);
  const std::string run = tmp.file("run");
  REQUIRE(run_program(kTrainExe, tiny_train_flags(tmp.file("png"), run, 2), tmp).status == 0);
  const std::vector<std::string> base = {"--model",   run + "/model.safetensors",
                                         "--num",     "5",
                                         "--device",  "cpu",
                                         "--sampler", "ddpm",
                                         "--steps",   "3",
                                         "--seed",    "7"};
  const RunResult whole =
      run_program(kSampleExe, base + std::vector<std::string>{"--out-dir", tmp.file("a")}, tmp);
  REQUIRE(whole.status == 0);
  const RunResult split = run_program(
      kSampleExe, base + std::vector<std::string>{"--batch-size", "2", "--out-dir", tmp.file("b")}, tmp);
  REQUIRE(split.status == 0);
  check_contains(split.output, {"3 batches of up to 2 images"});
  for (int i = 0; i < 5; ++i) {
    const std::string name = "00000" + std::to_string(i) + ".png";
    CAPTURE(name);
    const std::string a = read_file((tmp.path() / "a" / name).string());
    CHECK(!a.empty());
    CHECK(a == read_file((tmp.path() / "b" / name).string()));
  }
}
