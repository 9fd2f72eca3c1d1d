// Stopping runs from outside: onnxruntime's RunOptions (terminate flag, log level, tag, config
// entries), a timeout, and signals.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "fastort/ort.hpp"

namespace fastort {

class RunControl;

// Options of runs, shared by any number of them (and threads). Everything but the terminate
// flag is fixed at construction.
class RunOptions {
 public:
  struct Settings {
    int log_severity_level = -1;  // ORT's OrtLoggingLevel 0..4; -1: the session's
    std::string tag;              // ORT's run tag, shown in its log
    double timeout_seconds = 0;   // > 0: a run still going after this long is stopped
    std::vector<std::pair<std::string, std::string>> config;  // ORT run config entries

    // Throws Error(kInvalidArgument) naming the bad field.
    void validate() const;
  };

  explicit RunOptions(Settings settings);  // validates
  const Settings& settings() const noexcept { return settings_; }

  // True stops every run using these options as soon as ORT can, and makes new ones fail at
  // once, until it is set back to false (onnxruntime's RunOptions.terminate).
  void set_terminate(bool terminate);
  bool terminate() const;

 private:
  friend class RunControl;
  Settings settings_;
  // Guarded by one lock for all RunOptions (see run_control.cpp), so that fork() can hold it.
  bool terminate_ = false;
  std::vector<RunControl*> active_;
};

// The control of one run while it is in progress. Create it on the running thread, pass it in
// RunRequest::control, destroy it after Model::run returns.
class RunControl {
 public:
  enum class Stop : int { kNone, kTerminated, kTimedOut, kInterrupted };

  // `options` may be null. An interruptible run stops when a byte arrives on interrupt_fd().
  RunControl(std::shared_ptr<RunOptions> options, bool interruptible);
  ~RunControl();
  RunControl(const RunControl&) = delete;
  RunControl& operator=(const RunControl&) = delete;

  Ort::RunOptions& ort() noexcept { return *ort_; }
  // Thread-safe; the first reason wins. Sets ORT's terminate flag for this run.
  void stop(Stop reason) noexcept;
  Stop stopped() const noexcept { return static_cast<Stop>(stop_.load()); }
  // Why the run stopped, for its error message.
  std::string describe_stop() const;

  // Read by the watchdog.
  std::optional<std::chrono::steady_clock::time_point> deadline() const noexcept {
    return deadline_;
  }
  bool interruptible() const noexcept { return interruptible_; }
  uint64_t generation() const noexcept { return generation_; }

 private:
  std::shared_ptr<RunOptions> options_;
  std::optional<Ort::RunOptions> own_;  // when options carry settings
  Ort::RunOptions* ort_;
  std::atomic<int> stop_{0};
  std::optional<std::chrono::steady_clock::time_point> deadline_;
  bool interruptible_;
  bool watched_ = false;
  uint64_t generation_;  // fork_generation(): a child never stops its parent's runs
};

// A descriptor for Python's signal wakeup fd (signal.set_wakeup_fd): a byte written to it stops
// the interruptible runs in progress. Starts the watchdog thread on first use. -1 where the
// platform cannot.
int interrupt_fd() noexcept;

// Called when the signals that last stopped runs had handlers that returned normally (the
// runs start again): for a while those signals stop no run, and their handlers wait for the
// runs to end; 1 s at first, doubled each time. A timer signal more frequent than a run (a
// sampling profiler's SIGPROF, a SIGALRM heartbeat) would otherwise stop it again and again,
// for ever; this way a run is started again a few times at most, and a handler that raises
// on a later signal still stops it, later. SIGINT always stops runs at once (a second Ctrl-C
// often raises where the first did not).
void defer_signals_that_stopped_runs() noexcept;

}  // namespace fastort
