// Nothing is lost: ddpm-train stopped by SIGINT/SIGTERM, killed by SIGKILL at
// random moments, hitting a full disk (RLIMIT_FSIZE) or a non-finite loss
// always leaves a loadable last checkpoint that --resume continues from.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <random>
#include <thread>

#include "diffusion/model_file.h"
#include "io/safetensors.h"
#include "tests/tool_runner.h"

using namespace ddpm;
using namespace ddpm::test;
namespace fs = std::filesystem;

namespace {

int64_t state_step(const std::string& run) {
  return load_safetensors(run + "/state.safetensors").int64s("step").at(0);
}

std::vector<std::string> temporaries(const std::string& run) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(run))
    if (e.path().filename().string().find(".tmp.") != std::string::npos) out.push_back(e.path().string());
  return out;
}

// Waits (up to 60 s) until path exists.
void wait_for(const std::string& path) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!fs::exists(path)) {
    REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline, "timed out waiting for " << path);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

// Flags of a run that would go on for a long time, checkpointing every `every` steps.
std::vector<std::string> long_run(const TempDir& tmp, const std::string& run, int64_t every) {
  return set_flag(
      set_flag(tiny_train_flags(tmp.file("png"), run, 1000000), "--checkpoint-every", std::to_string(every)),
      "--sample-every", "1000000");
}

}  // namespace

TEST_CASE("tools: a non-finite loss stops ddpm-train with exit 3, keeping the last good checkpoint") {
  TempDir tmp;
  write_png_folder(tmp.path() / "png", 8, 8, 8);
  // The reference: an uninterrupted run of 2 steps.
  const std::string ref = tmp.file("ref"), run = tmp.file("run");
  REQUIRE(run_program(kTrainExe, tiny_train_flags(tmp.file("png"), ref, 2), tmp).status == 0);
  // Step 2 (0-based) gets a NaN pixel; checkpoints after every step.
  const RunResult r =
      run_program(kTrainExe,
                  tiny_train_flags(tmp.file("png"), run, 4) +
                      std::vector<std::string>{"--checkpoint-every", "1", "--debug-nan-at-step", "2"},
                  tmp);
  check_run(r, 3,
            {"non-finite value at step 2", "loss nan", "last good checkpoint", "step 2) is kept",
             "--skip-nonfinite"});
  // The checkpoint after step 2 is exactly the uninterrupted run's.
  CHECK(read_file(run + "/state.safetensors") == read_file(ref + "/state.safetensors"));
  CHECK(read_file(run + "/model.safetensors") == read_file(ref + "/model.safetensors"));
  CHECK(temporaries(run).empty());
  // And it resumes (now without the fault) to the end.
  check_run(run_program(kTrainExe,
                        {"--out", run, "--resume", "--steps", "4", "--threads", "1", "--sample-num", "1",
                         "--sample-steps", "1"},
                        tmp),
            0, {"steps 2..4"});
  CHECK(state_step(run) == 4);
}

TEST_CASE("tools: --skip-nonfinite skips the poisoned step and training goes on") {
  TempDir tmp;
  write_png_folder(tmp.path() / "png", 8, 8, 8);
  const std::string run = tmp.file("run");
  const RunResult r =
      run_program(kTrainExe,
                  tiny_train_flags(tmp.file("png"), run, 4) +
                      std::vector<std::string>{"--debug-nan-at-step", "1", "--skip-nonfinite"},
                  tmp);
  check_run(r, 0, {"step 1 skipped", "non-finite loss nan"});
  const SafetensorsFile state = load_safetensors(run + "/state.safetensors");
  CHECK(state.int64s("step").at(0) == 4);
  CHECK(state.int64s("optim.step").at(0) == 3);  // the skipped step did not reach Adam
  const std::string csv = read_file(run + "/loss.csv");
  check_contains(csv, {"\n1,nan,nan,"});
  CHECK(std::count(csv.begin(), csv.end(), '\n') == 5);  // header + 4 steps
  // The weights written are finite (load_model checks every value).
  CHECK_NOTHROW(load_model(run + "/model.safetensors"));
}

TEST_CASE("tools: SIGTERM and SIGINT make ddpm-train write a checkpoint and exit 0; --resume continues") {
  TempDir tmp;
  write_png_folder(tmp.path() / "png", 8, 8, 8);
  for (const int sig : {SIGTERM, SIGINT}) {
    CAPTURE(sig);
    const std::string run = tmp.file("run" + std::to_string(sig));
    Child c(kTrainExe, long_run(tmp, run, 1000000));
    wait_for(run + "/forward_process.png");  // training has started
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    c.signal(sig);
    const RunResult r = c.wait(60);
    check_run(r, 0, {sig == SIGINT ? "interrupted at step" : "terminated at step", "continue with --resume"});
    const size_t at = r.output.find("at step ");
    REQUIRE(at != std::string::npos);
    const int64_t stopped = std::stoll(r.output.substr(at + 8));
    CHECK(stopped >= 1);
    CHECK(state_step(run) == stopped);
    CHECK(load_model(run + "/model.safetensors").meta.at("step") == std::to_string(stopped));
    CHECK(temporaries(run).empty());
    // loss.csv: one row per step taken.
    const std::string csv = read_file(run + "/loss.csv");
    CHECK(std::count(csv.begin(), csv.end(), '\n') == stopped + 1);
    check_run(run_program(kTrainExe,
                          {"--out", run, "--resume", "--steps", std::to_string(stopped + 2), "--threads", "1",
                           "--sample-num", "1", "--sample-steps", "1"},
                          tmp),
              0, {"steps " + std::to_string(stopped) + ".."});
    CHECK(state_step(run) == stopped + 2);
  }
}

TEST_CASE("tools: ddpm-train killed with SIGKILL at random moments leaves a loadable checkpoint") {
  TempDir tmp;
  write_png_folder(tmp.path() / "png", 8, 8, 8);
  const std::string run = tmp.file("run");
  std::mt19937 rng(20240611);
  std::uniform_int_distribution<int> pause_us(20000, 400000);
  int64_t last = 0;
  int stale_seen = 0;
  for (int round = 0; round < 4; ++round) {
    CAPTURE(round);
    std::vector<std::string> args = long_run(tmp, run, 1);  // a checkpoint after every step
    if (round > 0) args.push_back("--resume");
    {
      Child c(kTrainExe, args);
      if (round == 0) wait_for(run + "/state.safetensors");
      std::this_thread::sleep_for(std::chrono::microseconds(pause_us(rng)));
      c.signal(SIGKILL);
      const RunResult r = c.wait(60);
      REQUIRE(r.status == 128 + SIGKILL);
    }
    stale_seen += static_cast<int>(temporaries(run).size());
    // Both files load; the model is at most one checkpoint ahead of the state
    // (it is written first).
    const int64_t step = state_step(run);
    const LoadedModel m = load_model(run + "/model.safetensors");
    const int64_t model_step = std::stoll(m.meta.at("step"));
    CHECK(step >= last);
    CHECK((model_step == step || model_step == step + 1));
    last = step;
  }
  MESSAGE("SIGKILL rounds left " << stale_seen << " temporary file(s) behind in total; state at step "
                                 << last);
  // --resume continues from the last checkpoint and clears the temporaries.
  const RunResult r = run_program(kTrainExe,
                                  {"--out", run, "--resume", "--steps", std::to_string(last + 1), "--threads",
                                   "1", "--sample-num", "1", "--sample-steps", "1"},
                                  tmp);
  check_run(r, 0, {"steps " + std::to_string(last) + ".." + std::to_string(last + 1)});
  CHECK(state_step(run) == last + 1);
  CHECK(temporaries(run).empty());
}

TEST_CASE("tools: a full disk during a checkpoint keeps the previous one and says so") {
  TempDir tmp;
  write_png_folder(tmp.path() / "png", 8, 8, 8);
  const std::string run = tmp.file("run");
  REQUIRE(run_program(kTrainExe, tiny_train_flags(tmp.file("png"), run, 2), tmp).status == 0);
  const std::string state = read_file(run + "/state.safetensors"),
                    model = read_file(run + "/model.safetensors");
  REQUIRE(model.size() > 200000);  // so the limit below stops the checkpoint, not the small files
  const std::vector<std::string> resume = {
      "--out",        run, "--resume",       "--steps", "4", "--checkpoint-every", "1", "--threads", "1",
      "--sample-num", "1", "--sample-steps", "1"};
  // Files may grow to 200 kB: config.json, loss.csv and the PNGs fit, the
  // checkpoint does not (a write past the limit fails with EFBIG, as on a full disk).
  const RunResult r = run_program(kTrainExe, resume, tmp, 200000);
  check_run(
      r, 1,
      {"cannot write", "model.safetensors", "File too large", "previous checkpoint (step 2)", "is kept"});
  CHECK(read_file(run + "/state.safetensors") == state);
  CHECK(read_file(run + "/model.safetensors") == model);
  CHECK(temporaries(run).empty());
  CHECK(state_step(run) == 2);
  // With room again, the run continues from step 2.
  check_run(run_program(kTrainExe, resume, tmp), 0, {"steps 2..4"});
  CHECK(state_step(run) == 4);

  // ddpm-sample: the picture does not fit; nothing half-written is left.
  const RunResult s = run_program(
      kSampleExe,
      {"--model", run + "/model.safetensors", "--num", "4", "--steps", "1", "--out", tmp.file("g.png")}, tmp,
      100);
  check_run(s, 1, {"g.png", "File too large"});
  CHECK_FALSE(fs::exists(tmp.file("g.png")));
  for (const auto& e : fs::directory_iterator(tmp.path()))
    CHECK(e.path().filename().string().find(".tmp.") == std::string::npos);
}
