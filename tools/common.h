// Shared pieces of the command-line programs: device choice, the progress
// line, and small formatting helpers.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "tensor/dtype.h"

namespace ddpm::tools {

// "auto" -> cuda when a GPU is usable, else cpu; "cuda" without one throws
// std::runtime_error saying why (no CUDA in this build, no driver, no device).
Device resolve_device(const std::string& flag);

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
