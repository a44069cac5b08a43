#include "cli/interrupt.h"

#include <pthread.h>

#include <csignal>
#include <mutex>
#include <thread>

namespace tf::cli {
namespace {

std::mutex g_mu;
std::function<void()> g_react;       // guarded by g_mu
bool g_ignored[2] = {false, false};  // SIGINT, SIGTERM were ignored when we started (a shell's `cmd &`)

void never_called(int) {}  // the signals are blocked everywhere; sigwait() takes them

sigset_t interrupt_signals() {
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGINT);
  sigaddset(&s, SIGTERM);
  return s;
}

[[noreturn]] void die_by(int sig) {
  // The default action, from this thread alone: unblock here and raise.
  std::signal(sig, SIG_DFL);
  sigset_t one;
  sigemptyset(&one);
  sigaddset(&one, sig);
  pthread_sigmask(SIG_UNBLOCK, &one, nullptr);
  raise(sig);
  std::_Exit(128 + sig);  // not reached: the default action of both signals ends the process
}

}  // namespace

void watch_interrupts() {
  const sigset_t s = interrupt_signals();
  pthread_sigmask(SIG_BLOCK, &s, nullptr);
  // An ignored signal is discarded, not left pending for sigwait(): give both a handler (which
  // never runs) and remember which were ignored, so that a command without a reaction still
  // ignores them as it was asked to.
  for (int i = 0; i < 2; ++i) {
    const int sig = i == 0 ? SIGINT : SIGTERM;
    struct sigaction old {
    }, act{};
    act.sa_handler = never_called;
    sigemptyset(&act.sa_mask);
    sigaction(sig, &act, &old);
    g_ignored[i] = old.sa_handler == SIG_IGN;
  }
  std::thread([s] {
    for (;;) {
      int sig = 0;
      if (sigwait(&s, &sig) != 0) continue;
      std::function<void()> react;
      {
        std::lock_guard<std::mutex> lock(g_mu);
        react = g_react;
      }
      if (react)
        react();
      else if (!g_ignored[sig == SIGINT ? 0 : 1])
        die_by(sig);
    }
  }).detach();
}

void on_interrupt(std::function<void()> react) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_react = std::move(react);
}

}  // namespace tf::cli
