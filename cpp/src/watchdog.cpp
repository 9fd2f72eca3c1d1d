#include "watchdog.hpp"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <limits>

#include "fork_hooks.hpp"

namespace fastort::detail {
namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

Watchdog& Watchdog::instance() {
  // Never destroyed: its thread runs until the process ends.
  static Watchdog* watchdog = new Watchdog();
  return *watchdog;
}

bool Watchdog::start_locked() noexcept {
  if (started_) return true;
  if (unavailable_) return false;
  try {
    if (!pipe_) pipe_ = std::make_unique<platform::WakeupPipe>();
    std::thread(&Watchdog::loop, this, pipe_.get()).detach();
    started_ = true;
  } catch (...) {
    // No descriptors or threads left: runs still work, they just cannot be stopped.
    pipe_.reset();
    unavailable_ = true;
  }
  return started_;
}

int Watchdog::interrupt_fd() noexcept {
  std::lock_guard<std::mutex> lock(mutex_);
  return start_locked() ? pipe_->write_fd() : -1;
}

void Watchdog::add(RunControl* control) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!start_locked()) return;
  runs_.push_back(control);
  // The thread may be waiting for a later deadline, or none.
  if (control->deadline()) pipe_->wake();
}

void Watchdog::remove(RunControl* control) noexcept {
  std::lock_guard<std::mutex> lock(mutex_);
  runs_.erase(std::remove(runs_.begin(), runs_.end(), control), runs_.end());
}

void Watchdog::add_interruptible(RunControl* control) noexcept { interruptible_.store(control); }

void Watchdog::defer_last_stopping_signals() noexcept {
  constexpr auto kFirstDeferral = std::chrono::seconds(1);
  constexpr auto kLongestDeferral = std::chrono::hours(1);
  std::lock_guard<std::mutex> lock(mutex_);
  const auto now = Clock::now();
  for (int signal = 1; signal < 64; ++signal) {
    if (signal == SIGINT || (last_stopping_ >> signal & 1) == 0) continue;
    auto& wait = next_deferral_[signal];
    wait = wait == Clock::duration::zero() ? Clock::duration(kFirstDeferral)
                                           : std::min<Clock::duration>(2 * wait, kLongestDeferral);
    stops_again_[signal] = now + wait;
  }
  last_stopping_ = 0;
}

void Watchdog::remove_interruptible() noexcept {
  interruptible_.store(nullptr);
  while (interrupting_.load()) std::this_thread::yield();
}

void Watchdog::after_fork_in_child() {
  // The thread does not exist here, and the pipe is shared with the parent: a signal of the
  // child would stop the parent's run. The same descriptor numbers (which may still be
  // Python's wakeup fd here) now name a pipe of the child's own.
  if (pipe_) pipe_->renew_after_fork();
  started_ = false;
  unavailable_ = false;
  runs_.clear();
  interruptible_.store(nullptr);
  interrupting_.store(false);
  mutex_.unlock();
}

void Watchdog::loop(platform::WakeupPipe* pipe) {
  std::string bytes;
  int wait_ms = -1;
  for (;;) {
    bytes.clear();
    pipe->wait(wait_ms, bytes);
    wait_ms = handle(bytes);
  }
}

int Watchdog::handle(const std::string& bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  // A signal's byte (its number) stops the interruptible runs, unless the signal is deferred;
  // a 0 byte only says deadlines changed.
  const auto now = Clock::now();
  uint64_t stopping = 0;
  bool beyond_mask = false;  // a signal numbered 64 or more: always stops
  for (const char byte : bytes) {
    const auto signal = static_cast<unsigned char>(byte);
    if (signal == 0) continue;
    if (signal >= 64) {
      beyond_mask = true;
    } else if (now >= stops_again_[signal]) {
      stopping |= uint64_t{1} << signal;
    }
  }
  if (stopping != 0 || beyond_mask) {
    last_stopping_ = stopping;
    for (RunControl* run : runs_) {
      if (run->interruptible()) run->stop(RunControl::Stop::kInterrupted);
    }
    interrupting_.store(true);
    if (RunControl* run = interruptible_.load()) run->stop(RunControl::Stop::kInterrupted);
    interrupting_.store(false);
  }
  auto next = Clock::time_point::max();
  for (RunControl* run : runs_) {
    const auto deadline = run->deadline();
    if (!deadline || run->stopped() != RunControl::Stop::kNone) continue;
    if (*deadline <= now) {
      run->stop(RunControl::Stop::kTimedOut);
    } else {
      next = std::min(next, *deadline);
    }
  }
  if (next == Clock::time_point::max()) return -1;
  const auto wait = std::chrono::ceil<std::chrono::milliseconds>(next - now).count();
  return static_cast<int>(std::min<long long>(wait, std::numeric_limits<int>::max()));
}

void watchdog_before_fork() { Watchdog::instance().before_fork(); }

void watchdog_after_fork(bool child) {
  if (child) {
    Watchdog::instance().after_fork_in_child();
  } else {
    Watchdog::instance().after_fork_in_parent();
  }
}

}  // namespace fastort::detail
