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

// run(), a run of inputs of `run_key` (fastort::run_key), with the GIL held when `quick`
// expects it to be shorter than handing the GIL to another thread and back (see QuickRuns),
// released otherwise; every run timed to teach `quick`, so that one that kept the GIL and was
// long is noticed at once (`start`: how the run began, see QuickRuns::record). Nothing a run
// does needs the GIL: ORT's log records are forwarded after it, and a signal stops it through
// the watchdog thread, which does not take it either.
template <typename F>
std::invoke_result_t<F> run_without_gil_unless_quick(QuickRuns& quick, uint64_t run_key, F&& run,
                                                     RunStart start = RunStart::kBusy) {
  using Clock = std::chrono::steady_clock;
  const bool expected = quick.expected(run_key);
  const auto timed = [&] {
    const Clock::time_point began = Clock::now();
    auto result = std::forward<F>(run)();
    quick.record(run_key, Clock::now() - began, expected, start);
    return result;
  };
  if (!expected) return without_gil(timed);
  detail::count_quick_run();
  return timed();
}

}  // namespace fastort::bindings
