#include "gil.hpp"

#include <chrono>
#include <thread>

#if defined(__GLIBCXX__)
#include <cxxabi.h>
#endif

namespace fastort::bindings {

bool is_finalizing() noexcept {
#if PY_VERSION_HEX >= 0x030D0000
  return Py_IsFinalizing() != 0;
#else
  return _Py_IsFinalizing() != 0;
#endif
}

namespace {

[[noreturn]] void wait_for_the_end() {
  for (;;) std::this_thread::sleep_for(std::chrono::hours(24));
}

}  // namespace

void restore_thread(PyThreadState* state, bool released_while_finalizing) {
  if (!released_while_finalizing && is_finalizing()) wait_for_the_end();
#if defined(__GLIBCXX__)
  // Shutdown may begin while this thread waits for the GIL: Python then ends it with
  // pthread_exit, whose unwinding would run destructors that release Python objects without
  // the GIL. The unwinding is caught here and never finished: the thread waits instead.
  try {
    PyEval_RestoreThread(state);
  } catch (abi::__forced_unwind&) {
    wait_for_the_end();
  }
#else
  PyEval_RestoreThread(state);
#endif
}

}  // namespace fastort::bindings
