// Signal handlers that only store the signal number in a lock-free atomic: nothing else is
// async-signal-safe enough to do inside a handler in a process running MPI and LibTorch.
#include "dist/stop_signal.h"

#include <atomic>
#include <csignal>
#include <cstring>

namespace omnitune {
namespace {

std::atomic<int> g_stop_signal{0};
static_assert(std::atomic<int>::is_always_lock_free, "stop flag must be lock-free");

void on_stop_signal(int sig) {
  if (sig == SIGINT && g_stop_signal.load() == SIGINT) {
    // Second Ctrl-C: the user wants out now.
    std::signal(SIGINT, SIG_DFL);
    std::raise(SIGINT);
    return;
  }
  g_stop_signal.store(sig);
}

}  // namespace

void stop_signal_install() {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGUSR1, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
}

bool stop_requested() { return g_stop_signal.load() != 0; }

int stop_signal_number() { return g_stop_signal.load(); }

void stop_signal_reset() { g_stop_signal.store(0); }

}  // namespace omnitune
