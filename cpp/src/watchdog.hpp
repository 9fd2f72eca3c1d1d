// Private: the thread that stops runs from outside, when their timeout passes or a signal
// arrives (see run_control.hpp). One per process, started on first use.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "fastort/run_control.hpp"
#include "platform.hpp"

namespace fastort::detail {

class Watchdog {
 public:
  static Watchdog& instance();

  // The descriptor signal handlers write to; -1 where unsupported or out of descriptors.
  int interrupt_fd() noexcept;
  // Watches `control` (its deadline, and signals if it is interruptible) until remove().
  // After remove() returns, the watchdog no longer touches it.
  void add(RunControl* control);
  void remove(RunControl* control) noexcept;

  // The same for a run with no deadline that only signals stop, without a lock: every run
  // on Python's main thread is one, and may be a few microseconds long. One at a time.
  void add_interruptible(RunControl* control) noexcept;
  void remove_interruptible() noexcept;

  // See fastort::defer_signals_that_stopped_runs.
  void defer_last_stopping_signals() noexcept;

  // fork(): the child has no watchdog thread and must not share the parent's pipe.
  void before_fork() { mutex_.lock(); }
  void after_fork_in_parent() { mutex_.unlock(); }
  void after_fork_in_child();

 private:
  Watchdog() = default;
  // Starts the thread if needed; the caller holds mutex_. False when it cannot.
  bool start_locked() noexcept;
  void loop(platform::WakeupPipe* pipe);
  // Stops the runs that are due or interrupted; returns the wait until the next deadline.
  int handle(const std::string& bytes);

  std::mutex mutex_;
  // The lock-free slot and a flag set while the thread may be stopping its run: remove waits
  // until the flag is clear (sequentially consistent, so one of the two sees the other).
  std::atomic<RunControl*> interruptible_{nullptr};
  std::atomic<bool> interrupting_{false};
  std::unique_ptr<platform::WakeupPipe> pipe_;
  bool started_ = false;
  bool unavailable_ = false;
  std::vector<RunControl*> runs_;
  // Per signal number below 64, with mutex_: when it may stop runs again, and how long it
  // waits next time (see fastort::defer_signals_that_stopped_runs). Bit s of last_stopping_:
  // signal s stopped the runs last.
  std::array<std::chrono::steady_clock::time_point, 64> stops_again_{};
  std::array<std::chrono::steady_clock::duration, 64> next_deferral_{};
  uint64_t last_stopping_ = 0;
};

}  // namespace fastort::detail
