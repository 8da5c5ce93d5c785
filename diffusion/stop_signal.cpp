#include "diffusion/stop_signal.h"

#include <time.h>

#include <atomic>
#include <csignal>
#include <cstdint>

namespace ddpm {

namespace {

std::atomic<int> g_signal{0};
std::atomic<int64_t> g_first_ns{0};  // CLOCK_MONOTONIC time of the first signal
static_assert(std::atomic<int>::is_always_lock_free, "the handler needs a lock-free atomic");
static_assert(std::atomic<int64_t>::is_always_lock_free, "the handler needs a lock-free atomic");

// clock_gettime is async-signal-safe (POSIX), unlike std::chrono's clocks.
int64_t monotonic_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

extern "C" void on_stop_signal(int sig) {
  const int64_t now = monotonic_ns();
  int first = 0;
  if (g_signal.compare_exchange_strong(first, sig)) {
    g_first_ns.store(now);
    return;
  }
  // The same signal again within the window is one request delivered twice,
  // not a second request: coreutils' timeout(1) signals its child and then
  // the child's whole process group, and so do `kill 0` and batch systems.
  if (first == sig && now - g_first_ns.load() < kRepeatWindowNs) return;
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

}  // namespace

void install_stop_signal_handlers() {
  g_signal.store(0);
  g_first_ns.store(0);
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
}

int stop_signal_received() { return g_signal.load(); }

const char* stop_signal_verb(int sig) { return sig == SIGINT ? "interrupted" : "terminated"; }

}  // namespace ddpm
