// Private: the thread that stops runs from outside, when their timeout passes or a signal
// arrives (see run_control.hpp). One per process, started on first use.
#pragma once

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
  std::unique_ptr<platform::WakeupPipe> pipe_;
  bool started_ = false;
  bool unavailable_ = false;
  std::vector<RunControl*> runs_;
};

}  // namespace fastort::detail
