// The clean stop on SIGINT/SIGTERM (diffusion/stop_signal.h), in a forked
// child so the test process keeps its own handlers.
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <initializer_list>
#include <string>
#include <thread>

#include "diffusion/stop_signal.h"

using namespace ddpm;

namespace {

// Runs f in a child process and returns its wait status.
template <class F>
int in_child(F&& f) {
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) ::_exit(f());
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  return status;
}

}  // namespace

TEST_CASE("diffusion: the first stop signal is recorded, a different second one kills") {
  for (const int first : {SIGINT, SIGTERM}) {
    CAPTURE(first);
    const int second = first == SIGINT ? SIGTERM : SIGINT;
    const int status = in_child([&] {
      install_stop_signal_handlers();
      if (stop_signal_received() != 0) return 10;
      std::raise(first);
      if (stop_signal_received() != first) return 11;  // still running, the signal recorded
      std::raise(second);                              // the default action: the process ends here
      return 12;
    });
    REQUIRE_MESSAGE(WIFSIGNALED(status), "the child exited with " << WEXITSTATUS(status));
    CHECK(WTERMSIG(status) == second);
  }
}

TEST_CASE("diffusion: the same signal delivered twice at once is one stop; a later repeat kills") {
  for (const int sig : {SIGINT, SIGTERM}) {
    CAPTURE(sig);
    // What timeout(1) does: the signal to the process, then to its group.
    auto deliver_twice = [sig] {
      install_stop_signal_handlers();
      if (::setpgid(0, 0) != 0) return false;
      ::kill(::getpid(), sig);
      ::kill(-::getpgrp(), sig);
      return stop_signal_received() == sig;
    };
    const int once = in_child([&] { return deliver_twice() ? 0 : 10; });
    REQUIRE_MESSAGE(WIFEXITED(once), "killed by signal " << (WIFSIGNALED(once) ? WTERMSIG(once) : 0));
    CHECK(WEXITSTATUS(once) == 0);
    const int later = in_child([&] {
      if (!deliver_twice()) return 10;
      std::this_thread::sleep_for(std::chrono::nanoseconds(kRepeatWindowNs) + std::chrono::milliseconds(200));
      if (stop_signal_received() != sig) return 11;
      std::raise(sig);  // a second request, after the window: the default action ends the process here
      return 12;
    });
    REQUIRE_MESSAGE(WIFSIGNALED(later), "the child exited with " << WEXITSTATUS(later));
    CHECK(WTERMSIG(later) == sig);
  }
}

TEST_CASE("diffusion: installing the stop handlers forgets an earlier signal") {
  const int status = in_child([] {
    install_stop_signal_handlers();
    std::raise(SIGTERM);
    install_stop_signal_handlers();
    if (stop_signal_received() != 0) return 10;
    std::raise(SIGINT);
    return stop_signal_received() == SIGINT ? 0 : 11;
  });
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("diffusion: a stop is reported as interrupted or terminated") {
  CHECK(std::string(stop_signal_verb(SIGINT)) == "interrupted");
  CHECK(std::string(stop_signal_verb(SIGTERM)) == "terminated");
}
