// Nothing is lost: ddpm-train stopped by SIGINT/SIGTERM, killed by SIGKILL at
// random moments, hitting a full disk (RLIMIT_FSIZE) or a non-finite loss
// always leaves a loadable last checkpoint that --resume continues from.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "diffusion/model_file.h"
#include "io/data.h"
#include "io/loss_csv.h"
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

// Waits up to timeout_s for pred(); false when it did not come true.
template <class Pred>
bool wait_until(Pred pred, double timeout_s) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
  return true;
}

// The step of run/state.safetensors; -1 while there is none (or, should it
// ever happen, while it does not parse: the caller's checks then fail).
int64_t state_step_or(const std::string& run) {
  try {
    return state_step(run);
  } catch (const std::exception&) {
    return -1;
  }
}

// Every file of the run folder that is not a temporary is whole: the
// safetensors files parse (the model fully validated), every PNG decodes,
// config.json parses, loss.csv is whole lines of five numbers with as many
// rows as the state's steps (or one more: it is written first). Returns the
// temporaries found, which a kill may leave and --resume removes.
std::vector<std::string> check_run_folder_whole(const std::string& run) {
  std::vector<std::string> temps;
  if (!fs::exists(run)) return temps;  // killed before it was created
  int64_t step = -1;
  for (const auto& e : fs::recursive_directory_iterator(run)) {
    if (!e.is_regular_file()) continue;
    const std::string path = e.path().string(), name = e.path().filename().string();
    CAPTURE(path);
    if (name.find(".tmp.") != std::string::npos) {
      temps.push_back(name);
      continue;
    }
    const std::string bytes = read_file(path);
    if (name == "state.safetensors") {
      REQUIRE_NOTHROW(step = load_safetensors(path).int64s("step").at(0));
    } else if (name == "model.safetensors") {
      CHECK_NOTHROW(load_model(path));
    } else if (e.path().extension() == ".png") {
      CHECK_NOTHROW(decode_png(bytes, path));
    } else if (name == "config.json") {
      CHECK(nlohmann::json::accept(bytes));
    }
  }
  if (fs::exists(run + "/loss.csv")) {
    const std::string csv = read_file(run + "/loss.csv");
    CHECK((csv.empty() || csv.back() == '\n'));
    const auto rows = static_cast<int64_t>(parse_loss_csv(csv, INT64_MAX).size());
    CHECK(rows == std::count(csv.begin(), csv.end(), '\n') - 1);  // every line but the header parses
    if (step >= 0) CHECK((rows == step || rows == step + 1));
  }
  return temps;
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

TEST_CASE(
    "tools: ddpm-train killed 24 times anywhere resumes to the uninterrupted run's weights, bit for bit") {
  // A run with a checkpoint after every step and a sample grid every 3
  // steps, killed (SIGKILL) 24 times and resumed each time: at random
  // moments from the start (start-up, resume, steps), a random moment after
  // a step finished, the moment a checkpoint's temporary file appears
  // (mid-write) and the moment a sample grid's does. After every kill every
  // file in the run folder is whole; at the end the state, the model and
  // every sample grid are byte for byte the uninterrupted run's, and the
  // loss log's numbers equal its numbers.
  TempDir tmp;
  write_png_folder(tmp.path() / "png", 8, 8, 8);
  constexpr int64_t kSteps = 80;
  constexpr int kKills = 24;
  auto flags = [&](const std::string& out) {
    return set_flag(set_flag(tiny_train_flags(tmp.file("png"), out, kSteps), "--checkpoint-every", "1"),
                    "--sample-every", "3");
  };
  const std::string ref = tmp.file("ref"), run = tmp.file("run");
  REQUIRE(run_program(kTrainExe, flags(ref), tmp).status == 0);

  std::mt19937 rng(20261206);
  auto has_temp = [&](const std::string& dir, const std::string& part) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) return false;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      const std::string name = e.path().filename().string();
      if (name.find(".tmp.") != std::string::npos && name.find(part) != std::string::npos) return true;
    }
    return false;
  };
  int kills = 0, left_checkpoint_temp = 0, left_sample_temp = 0, finished_early = 0;
  for (int life = 0; kills < kKills; ++life) {
    CAPTURE(life);
    REQUIRE_MESSAGE(life < 3 * kKills, "the run finished " << finished_early << " times before a kill");
    std::vector<std::string> args = flags(run);
    if (fs::exists(run + "/state.safetensors")) args.push_back("--resume");
    const int64_t before = state_step_or(run);
    Child c(kTrainExe, args);
    const int mode = kills % 4;
    if (mode == 0) {  // anywhere from the start
      std::this_thread::sleep_for(
          std::chrono::microseconds(std::uniform_int_distribution<int>(0, 150000)(rng)));
    } else if (mode == 1) {  // a random moment after a step finished
      wait_until([&] { return state_step_or(run) > before; }, 60);
      std::this_thread::sleep_for(
          std::chrono::microseconds(std::uniform_int_distribution<int>(0, 30000)(rng)));
    } else if (mode == 2) {  // mid-checkpoint
      wait_until([&] { return has_temp(run, ".safetensors.tmp.") || has_temp(run, "loss.csv.tmp."); }, 60);
    } else {  // mid-sample-grid
      wait_until([&] { return has_temp(run + "/samples", ".png.tmp."); }, 60);
    }
    c.signal(SIGKILL);
    const RunResult r = c.wait(60);
    if (r.status == 0) {  // it finished first: no kill this life
      ++finished_early;
      REQUIRE(state_step(run) == kSteps);
      break;
    }
    REQUIRE_MESSAGE(r.status == 128 + SIGKILL, r.output);
    ++kills;
    for (const std::string& t : check_run_folder_whole(run)) {
      if (t.find(".png.") != std::string::npos)
        ++left_sample_temp;
      else
        ++left_checkpoint_temp;
    }
    if (fs::exists(run + "/state.safetensors")) CHECK(state_step(run) >= before);
  }
  MESSAGE(kills << " kills; temporaries left by them: " << left_checkpoint_temp << " of checkpoint files, "
                << left_sample_temp << " of sample grids; state at step " << state_step_or(run) << " of "
                << kSteps);
  CHECK(kills >= 20);
  if (state_step_or(run) < kSteps)
    check_run(run_program(kTrainExe, flags(run) + std::vector<std::string>{"--resume"}, tmp), 0,
              {"train done"});
  CHECK(check_run_folder_whole(run).empty());

  CHECK(read_file(run + "/state.safetensors") == read_file(ref + "/state.safetensors"));
  CHECK(read_file(run + "/model.safetensors") == read_file(ref + "/model.safetensors"));
  int grids = 0;
  for (const auto& e : fs::directory_iterator(ref + "/samples")) {
    const std::string name = e.path().filename().string();
    CAPTURE(name);
    CHECK(read_file(run + "/samples/" + name) == read_file(e.path().string()));
    ++grids;
  }
  CHECK(grids == kSteps / 3 + 1);  // every third step and the last
  const auto a = parse_loss_csv(read_file(ref + "/loss.csv"), kSteps),
             b = parse_loss_csv(read_file(run + "/loss.csv"), kSteps);
  REQUIRE(a.size() == static_cast<size_t>(kSteps));
  REQUIRE(b.size() == a.size());
  for (size_t i = 0; i < a.size(); ++i) {
    CAPTURE(i);
    CHECK(b[i].step == a[i].step);
    CHECK(b[i].loss == a[i].loss);
    CHECK(b[i].grad_norm == a[i].grad_norm);
    CHECK(b[i].lr == a[i].lr);
  }
}
