#include "diffusion/stop_signal.h"

#include <atomic>
#include <csignal>

namespace ddpm {

namespace {

std::atomic<int> g_signal{0};
static_assert(std::atomic<int>::is_always_lock_free, "the handler needs a lock-free atomic");

extern "C" void on_stop_signal(int sig) {
  if (g_signal.exchange(sig) != 0) {
    std::signal(sig, SIG_DFL);
    std::raise(sig);
  }
}

}  // namespace

void install_stop_signal_handlers() {
  g_signal.store(0);
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
}

int stop_signal_received() { return g_signal.load(); }

const char* stop_signal_verb(int sig) { return sig == SIGINT ? "interrupted" : "terminated"; }

}  // namespace ddpm
