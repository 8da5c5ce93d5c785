// The clean stop on SIGINT/SIGTERM (diffusion/stop_signal.h), in a forked
// child so the test process keeps its own handlers.
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <initializer_list>
#include <string>

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

TEST_CASE("diffusion: the first stop signal is recorded, the second kills") {
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
