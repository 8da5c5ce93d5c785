// A clean stop on SIGINT/SIGTERM for long runs (ddpm-train): the first
// signal only records itself, so the loop can finish the step in flight,
// write a checkpoint and exit; a second one kills the program the default
// way (the handler is reset to SIG_DFL and the signal raised again). A
// repeat of the first signal within kRepeatWindowNs of it is not a second
// one: it is the same request delivered twice (timeout(1) signals the child
// and then its process group), and is ignored.
#pragma once

#include <cstdint>

namespace ddpm {

inline constexpr int64_t kRepeatWindowNs = 1000000000;  // 1 s

// Installs the handler for SIGINT and SIGTERM and forgets any signal seen
// before.
void install_stop_signal_handlers();

// 0 while no SIGINT/SIGTERM arrived since install_stop_signal_handlers(),
// else the number of the first one. Safe to poll from the training loop.
int stop_signal_received();

// "interrupted" for SIGINT, "terminated" otherwise: how the program says why
// it stopped.
const char* stop_signal_verb(int sig);

}  // namespace ddpm
