#include "fastort/run_control.hpp"

#include <algorithm>
#include <cmath>

#include "fastort/error.hpp"
#include "fastort/runtime.hpp"
#include "fork_hooks.hpp"
#include "ort_error.hpp"
#include "watchdog.hpp"

namespace fastort {
namespace {

// Runs without settings of their own share one ORT RunOptions per thread: creating one per
// call would cost more than the rest of a small model's run.
Ort::RunOptions& thread_run_options() {
  thread_local Ort::RunOptions options;
  return options;
}

// Guards every RunOptions' terminate flag and list of runs. Never destroyed: runs may end
// during exit.
std::mutex& registry_mutex() {
  static std::mutex* mutex = new std::mutex();
  return *mutex;
}

bool has_ort_settings(const RunOptions::Settings& settings) {
  return settings.log_severity_level >= 0 || !settings.tag.empty() || !settings.config.empty();
}

std::string format_seconds(double seconds) {
  std::string text = std::to_string(seconds);
  text.erase(text.find_last_not_of('0') + 1);
  if (!text.empty() && text.back() == '.') text.pop_back();
  return text + " s";
}

}  // namespace

void RunOptions::Settings::validate() const {
  if (log_severity_level < -1 || log_severity_level > 4) {
    throw Error(ErrorKind::kInvalidArgument,
                "log_severity_level must be 0 (verbose) to 4 (fatal), got " +
                    std::to_string(log_severity_level));
  }
  // Beyond ~3 years the deadline overflows steady_clock's arithmetic; no run is meant to.
  if (!std::isfinite(timeout_seconds) || timeout_seconds < 0 || timeout_seconds > 1e8) {
    throw Error(ErrorKind::kInvalidArgument,
                "timeout must be a positive number of seconds up to 1e8, got " +
                    std::to_string(timeout_seconds));
  }
  for (const auto& [key, value] : config) {
    if (key.empty() || key.find('\0') != std::string::npos ||
        value.find('\0') != std::string::npos) {
      throw Error(ErrorKind::kInvalidArgument,
                  "run config keys must be non-empty and keys and values free of NUL bytes");
    }
  }
  if (tag.find('\0') != std::string::npos) {
    throw Error(ErrorKind::kInvalidArgument, "tag contains a NUL byte");
  }
}

RunOptions::RunOptions(Settings settings) : settings_(std::move(settings)) { settings_.validate(); }

void RunOptions::set_terminate(bool terminate) {
  std::lock_guard<std::mutex> lock(registry_mutex());
  terminate_ = terminate;
  if (!terminate) return;
  const uint64_t generation = fork_generation();
  for (RunControl* run : active_) {
    // In a fork()ed child the parent's runs are listed but do not exist.
    if (run->generation() == generation) run->stop(RunControl::Stop::kTerminated);
  }
}

bool RunOptions::terminate() const {
  std::lock_guard<std::mutex> lock(registry_mutex());
  return terminate_;
}

RunControl::RunControl(std::shared_ptr<RunOptions> options, bool interruptible)
    : options_(std::move(options)),
      ort_(nullptr),
      interruptible_(interruptible),
      generation_(fork_generation()) {
  if (options_ && has_ort_settings(options_->settings())) {
    const RunOptions::Settings& settings = options_->settings();
    detail::call_ort(ErrorKind::kInvalidArgument, "invalid run options", [&] {
      own_.emplace();
      if (settings.log_severity_level >= 0)
        own_->SetRunLogSeverityLevel(settings.log_severity_level);
      if (!settings.tag.empty()) own_->SetRunTag(settings.tag.c_str());
      for (const auto& [key, value] : settings.config) {
        own_->AddConfigEntry(key.c_str(), value.c_str());
      }
    });
    ort_ = &*own_;
  } else {
    ort_ = &detail::call_ort(ErrorKind::kRuntime, "creating run options", thread_run_options);
  }
  if (options_) {
    const double timeout = options_->settings().timeout_seconds;
    if (timeout > 0) {
      deadline_ = std::chrono::steady_clock::now() +
                  std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                      std::chrono::duration<double>(timeout));
    }
    std::lock_guard<std::mutex> lock(registry_mutex());
    options_->active_.push_back(this);
    if (options_->terminate_) stop(Stop::kTerminated);
  }
  if (deadline_) {
    detail::Watchdog::instance().add(this);
    watched_ = true;
  } else if (interruptible_) {
    detail::Watchdog::instance().add_interruptible(this);
  }
}

RunControl::~RunControl() {
  // After these, nothing else can stop this run, so the flag may be reset.
  if (watched_) {
    detail::Watchdog::instance().remove(this);
  } else if (interruptible_) {
    detail::Watchdog::instance().remove_interruptible();
  }
  if (options_) {
    std::lock_guard<std::mutex> lock(registry_mutex());
    auto& active = options_->active_;
    active.erase(std::remove(active.begin(), active.end(), this), active.end());
  }
  if (!own_ && stopped() != Stop::kNone) {
    try {
      ort_->UnsetTerminate();  // the thread's shared options serve its next run
    } catch (...) {
    }
  }
}

void RunControl::stop(Stop reason) noexcept {
  int expected = static_cast<int>(Stop::kNone);
  if (!stop_.compare_exchange_strong(expected, static_cast<int>(reason))) return;
  try {
    ort_->SetTerminate();
  } catch (...) {
    // Only a broken runtime fails to set a flag; the run then ends on its own.
  }
}

std::string RunControl::describe_stop() const {
  switch (stopped()) {
    case Stop::kTerminated:
      return "terminated: its RunOptions' terminate flag was set";
    case Stop::kTimedOut:
      return "stopped after its timeout of " +
             format_seconds(options_ ? options_->settings().timeout_seconds : 0);
    case Stop::kInterrupted:
      return "interrupted by a signal";
    case Stop::kNone:
      break;
  }
  return "not stopped";
}

int interrupt_fd() noexcept { return detail::Watchdog::instance().interrupt_fd(); }

void defer_signals_that_stopped_runs() noexcept {
  detail::Watchdog::instance().defer_last_stopping_signals();
}

namespace detail {
void run_options_before_fork() { registry_mutex().lock(); }
void run_options_after_fork(bool) { registry_mutex().unlock(); }
}  // namespace detail

}  // namespace fastort
