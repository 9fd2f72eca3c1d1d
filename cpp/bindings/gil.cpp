#include "gil.hpp"

#include <chrono>
#include <ctime>
#include <thread>

namespace fastort::bindings {

bool is_finalizing() noexcept {
#if PY_VERSION_HEX >= 0x030D0000
  return Py_IsFinalizing() != 0;
#else
  return _Py_IsFinalizing() != 0;
#endif
}

void restore_thread(PyThreadState* state, bool released_while_finalizing) {
  if (!released_while_finalizing && is_finalizing()) {
    for (;;) std::this_thread::sleep_for(std::chrono::hours(24));
  }
  PyEval_RestoreThread(state);
}

int64_t coarse_monotonic_ns() noexcept {
#if defined(CLOCK_MONOTONIC_COARSE)
  timespec now{};
  if (clock_gettime(CLOCK_MONOTONIC_COARSE, &now) == 0) {
    return static_cast<int64_t>(now.tv_sec) * 1000000000 + now.tv_nsec;
  }
#endif
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace fastort::bindings
