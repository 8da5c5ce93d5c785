// Shared pieces of the command-line programs: device choice, flag checks,
// output-path checks, the progress line, and small formatting helpers.
#pragma once

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "diffusion/sampler.h"
#include "tensor/dtype.h"

namespace ddpm::tools {

// "auto" -> cuda when a GPU is usable, else cpu; "cuda" without one throws
// std::runtime_error saying why (no CUDA in this build, no driver, no device).
Device resolve_device(const std::string& flag);

// A CLI11 check for a floating-point flag: a finite number in [lo, hi]
// (CLI::Range lets NaN through, since every comparison with NaN is false).
CLI::Validator finite_range(double lo, double hi);

// A CLI11 check for an unsigned flag: decimal digits only (CLI11 would take
// "-1" for an unsigned option as 2^64-1).
CLI::Validator unsigned_integer();

// Exit status of a command line CLI11 refused (after app.exit printed why):
// 0 for --help, 2 otherwise (the status of a usage error).
int usage_exit(const CLI::App& app, const CLI::ParseError& e);

// Checks that `path` can become a directory before anything is created: it
// is a directory already, or it does not exist and its nearest existing
// ancestor is a directory. Throws std::runtime_error naming `flag`, the path
// and the part that is in the way.
void check_directory_path(const std::string& flag, const std::string& path);

// Makes `dir` (and missing parents) exist, returning the directories it
// created, outermost first, so a failed start can remove them again with
// remove_created(). Throws std::runtime_error naming `flag` and the path.
std::vector<std::string> make_directories(const std::string& flag, const std::string& dir);
// Removes the directories make_directories() created, innermost first, as
// long as they are empty; never anything else.
void remove_created(const std::vector<std::string>& created);

// Checks that a file can be written at `path` (flag names it in errors): not
// an existing directory, its folder existing or creatable. Creates the
// folder (returning what was created, as make_directories) and writes and
// removes a probe file there.
std::vector<std::string> prepare_output_file(const std::string& flag, const std::string& path);

// The steps and spacing of a sampler from the flags --steps (0: not given,
// the sampler's default_steps) and --spacing ("": not given, its
// default_spacing), for a model of T training timesteps. Throws
// std::invalid_argument naming the flag for --steps above T, and for ddpm
// with a --spacing other than leading (its strided chain is leading only; at
// all T steps every spacing is the same).
void set_sampler_steps(SamplerConfig& sc, int64_t steps, const std::string& spacing, int64_t T);

// "1h02m", "3m07s", "12s"
std::string format_duration(double seconds);

// A one-line progress display on stderr, redrawn in place when stderr is a
// terminal and printed every `plain_every` updates otherwise (logs stay
// readable).
class Progress {
 public:
  Progress(std::string label, int64_t total, int64_t start = 0);
  // done: items finished; items_per_unit: images per item, for the rate.
  void update(int64_t done, const std::string& extra = "", double items_per_unit = 1.0);
  void finish(const std::string& extra = "");

 private:
  std::string label_;
  int64_t total_, start_;
  bool tty_;
  std::chrono::steady_clock::time_point t0_, last_print_;
};

}  // namespace ddpm::tools
