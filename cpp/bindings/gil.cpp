#include "gil.hpp"

#include <chrono>
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

}  // namespace fastort::bindings
