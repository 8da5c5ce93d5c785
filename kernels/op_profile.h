// Time per op on the CPU: an opt-in profile of the kernels that the device
// switch (kernels/dispatch.h, on_device) runs, keyed by the op's name as the
// entry point spells it ("conv2d", "conv2d backward-data", ...).
//
// Off by default; while off, on_device pays one relaxed atomic load. Only
// CPU kernels are timed (a CUDA launch returns before its kernel runs; the
// GPU has its own profiler, benchmarks/gpu-profile.sh). Nested entry points
// (an op whose entry point calls another's) are counted once, in the
// outermost. ddpm-bench-e2e --profile prints it for one training step.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace ddpm::kernels {

struct OpTime {
  std::string op;
  double seconds = 0;
  int64_t calls = 0;
};

// Starts (true) or stops (false) recording; recorded times are kept.
void set_op_profiling(bool on);
bool op_profiling();
// Recorded times per op, the longest first.
std::vector<OpTime> op_profile();
void reset_op_profile();

namespace detail {
extern std::atomic<bool> g_op_profiling;
void record_op_time(const char* op, double seconds);
int& op_timer_depth();
}  // namespace detail

// Times its scope into the profile when profiling is on and it is the
// outermost timer of the calling thread.
class OpTimer {
 public:
  explicit OpTimer(const char* op) {
    if (!detail::g_op_profiling.load(std::memory_order_relaxed)) return;
    if (detail::op_timer_depth()++ > 0) {
      nested_ = true;
      return;
    }
    op_ = op;
    t0_ = std::chrono::steady_clock::now();
  }
  ~OpTimer() {
    if (nested_) {
      --detail::op_timer_depth();
    } else if (op_) {
      --detail::op_timer_depth();
      detail::record_op_time(op_,
                             std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count());
    }
  }
  OpTimer(const OpTimer&) = delete;
  OpTimer& operator=(const OpTimer&) = delete;

 private:
  const char* op_ = nullptr;
  bool nested_ = false;
  std::chrono::steady_clock::time_point t0_;
};

}  // namespace ddpm::kernels
