// Releasing the GIL around native work.
//
// pybind11's gil_scoped_release takes the GIL back in a noexcept destructor. A daemon thread
// that does so while the interpreter shuts down is ended by Python with pthread_exit, whose
// forced unwind may not leave a noexcept function: the process aborts. Here the GIL is taken
// back by a plain call, and not at all once the interpreter is finalizing.
#pragma once

#include <pybind11/pybind11.h>

#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

namespace fastort::bindings {

// Takes the GIL back for `state`. During interpreter shutdown it never returns: the thread
// waits for the process to end, as Python 3.14 does itself, instead of being unwound.
void restore_thread(PyThreadState* state);

// work() with the GIL released; its exception, if any, is rethrown once the GIL is back.
template <typename F>
std::invoke_result_t<F> without_gil(F&& work) {
  using Result = std::invoke_result_t<F>;
  std::exception_ptr error;
  PyThreadState* state = PyEval_SaveThread();
  if constexpr (std::is_void_v<Result>) {
    try {
      std::forward<F>(work)();
    } catch (...) {
      error = std::current_exception();
    }
    restore_thread(state);
    if (error) std::rethrow_exception(error);
  } else {
    std::optional<Result> result;
    try {
      result.emplace(std::forward<F>(work)());
    } catch (...) {
      error = std::current_exception();
    }
    restore_thread(state);
    if (error) std::rethrow_exception(error);
    return std::move(*result);
  }
}

}  // namespace fastort::bindings
