#include "kernels/op_profile.h"

#include <algorithm>
#include <map>
#include <mutex>

namespace ddpm::kernels {

namespace detail {

std::atomic<bool> g_op_profiling{false};

namespace {
std::mutex& profile_mutex() {
  static std::mutex m;
  return m;
}
std::map<std::string, OpTime>& profile_table() {
  static std::map<std::string, OpTime> t;
  return t;
}
}  // namespace

void record_op_time(const char* op, double seconds) {
  const std::lock_guard<std::mutex> lock(profile_mutex());
  OpTime& t = profile_table()[op];
  if (t.op.empty()) t.op = op;
  t.seconds += seconds;
  ++t.calls;
}

int& op_timer_depth() {
  thread_local int depth = 0;
  return depth;
}

}  // namespace detail

void set_op_profiling(bool on) { detail::g_op_profiling.store(on, std::memory_order_relaxed); }

bool op_profiling() { return detail::g_op_profiling.load(std::memory_order_relaxed); }

std::vector<OpTime> op_profile() {
  std::vector<OpTime> out;
  {
    const std::lock_guard<std::mutex> lock(detail::profile_mutex());
    for (const auto& [name, t] : detail::profile_table()) out.push_back(t);
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const OpTime& a, const OpTime& b) { return a.seconds > b.seconds; });
  return out;
}

void reset_op_profile() {
  const std::lock_guard<std::mutex> lock(detail::profile_mutex());
  detail::profile_table().clear();
}

}  // namespace ddpm::kernels
