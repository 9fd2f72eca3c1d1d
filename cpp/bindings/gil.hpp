// Releasing the GIL around native work.
//
// pybind11's gil_scoped_release takes the GIL back in a noexcept destructor. A daemon thread
// that does so while the interpreter shuts down is ended by Python with pthread_exit, whose
// forced unwind may not leave a noexcept function: the process aborts. Here the GIL is taken
// back by a plain call, and not at all once the interpreter is finalizing.
#pragma once

#include <pybind11/pybind11.h>

#include <chrono>
#include <cstdint>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

#include "fastort/debug_counters.hpp"
#include "fastort/quick_runs.hpp"

namespace fastort::bindings {

// True once the interpreter is shutting down: threads must not take the GIL any more.
bool is_finalizing() noexcept;

// Takes the GIL back for `state`. If the interpreter began shutting down while the GIL was
// released, it never returns: the thread waits for the process to end, as Python 3.14 does
// itself, instead of being unwound. The thread that runs the shutdown (it released the GIL
// while already finalizing: no other thread runs Python code by then) takes it back.
void restore_thread(PyThreadState* state, bool released_while_finalizing);

// work() with the GIL released; its exception, if any, is rethrown once the GIL is back.
template <typename F>
std::invoke_result_t<F> without_gil(F&& work) {
  using Result = std::invoke_result_t<F>;
  std::exception_ptr error;
  const bool finalizing = is_finalizing();
  PyThreadState* state = PyEval_SaveThread();
  if constexpr (std::is_void_v<Result>) {
    try {
      std::forward<F>(work)();
    } catch (...) {
      error = std::current_exception();
    }
    restore_thread(state, finalizing);
    if (error) std::rethrow_exception(error);
  } else {
    std::optional<Result> result;
    try {
      result.emplace(std::forward<F>(work)());
    } catch (...) {
      error = std::current_exception();
    }
    restore_thread(state, finalizing);
    if (error) std::rethrow_exception(error);
    return std::move(*result);
  }
}

// Nanoseconds of a monotonic clock, read cheaply: CLOCK_MONOTONIC_COARSE (a few ms of
// resolution) where there is one, which costs several times less than steady_clock on
// virtual machines.
int64_t coarse_monotonic_ns() noexcept;
// Its resolution: a difference of one tick may be a run of anything up to two.
int64_t coarse_monotonic_resolution_ns() noexcept;

// One in this many runs that keep the GIL is timed exactly; the others by the coarse clock,
// which still tells a run that kept the GIL for milliseconds.
constexpr unsigned kQuickRunSampling = 16;
bool sample_quick_run() noexcept;

// run(), a run fed `input_bytes`, with the GIL held when `quick` expects it to be shorter than
// handing the GIL to another thread and back (see QuickRuns), released otherwise; timed to
// teach `quick`. Nothing a run does needs the GIL: ORT's log records are forwarded after it,
// and a signal stops it through the watchdog thread, which does not take the GIL either.
template <typename F>
std::invoke_result_t<F> run_without_gil_unless_quick(QuickRuns& quick, size_t input_bytes,
                                                     F&& run) {
  using Clock = std::chrono::steady_clock;
  const bool expected = quick.expected(input_bytes);
  const auto timed = [&] {
    const Clock::time_point start = Clock::now();
    auto result = std::forward<F>(run)();
    quick.record(input_bytes, Clock::now() - start, expected);
    return result;
  };
  if (!expected) return without_gil(timed);
  detail::count_quick_run();
  if (sample_quick_run()) return timed();
  const int64_t start = coarse_monotonic_ns();
  auto result = std::forward<F>(run)();
  // At least this long: the clock advanced by more than one tick.
  const int64_t at_least = coarse_monotonic_ns() - start - coarse_monotonic_resolution_ns();
  if (at_least > 0) quick.record(input_bytes, std::chrono::nanoseconds(at_least), true);
  return result;
}

}  // namespace fastort::bindings
