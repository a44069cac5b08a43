// Ctrl-C and SIGTERM, taken by one watcher thread rather than by whichever thread the kernel
// picks. A signal handler runs on the interrupted thread's stack, and a compute thread may be
// inside oneDNN's JIT GEMM kernels at that instant: an interrupted training run aborted with glibc's
// "corrupted size vs. prev_size" in about one Ctrl-C in four (backtrace: a free inside
// dnnl_sgemm's parallel region, in the step after the signal). With the signals blocked in every
// thread and received by sigwait() in a thread of our own, no computation is ever interrupted,
// and the reaction runs as ordinary code (no async-signal-safety limits).
#pragma once
#include <functional>

namespace tf::cli {

// Blocks SIGINT and SIGTERM in the calling thread (and so in every thread created after it) and
// starts the watcher. Call first thing in main, before any other thread exists.
void watch_interrupts();

// What the watcher does on SIGINT/SIGTERM from now on. Without it, the process dies by the
// signal as it would by default.
void on_interrupt(std::function<void()> react);

}  // namespace tf::cli
