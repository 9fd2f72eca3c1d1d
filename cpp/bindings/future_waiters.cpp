// concurrent.futures.wait() and as_completed() on BatchFutures: what they read of a
// concurrent.futures.Future (_condition, _state, _waiters, the same in every CPython since
// 3.2), and the telling of their waiters once a request is done.
#include "future_waiters.hpp"

#include <pybind11/gil_safe_call_once.h>

#include "batch_future.hpp"
#include "bindings.hpp"
#include "fastort/runtime.hpp"

namespace py = pybind11;

namespace fastort::bindings {
namespace {

// Calls `method` of `object` with `argument`; an exception it raises is reported as unraisable.
void call_reporting(PyObject* object, const char* method, PyObject* argument) {
  PyObject* name = PyUnicode_FromString(method);
  PyObject* returned = name == nullptr       ? nullptr
                       : argument == nullptr ? PyObject_CallMethodNoArgs(object, name)
                                             : PyObject_CallMethodOneArg(object, name, argument);
  if (returned == nullptr) PyErr_WriteUnraisable(object);
  Py_XDECREF(returned);
  Py_XDECREF(name);
}

// A signal handler's exception raised on this thread while cancel() told the waiters (Ctrl-C
// while it waited for their lock), which cancel() raises once it is done; null if none.
thread_local PyObject* t_cancel_interrupted = nullptr;
thread_local bool t_in_cancel = false;

// Takes the condition's lock for tell_waiters. On Python's main thread (a cancel() there)
// waiting for it runs the signal handlers: Ctrl-C must not leave the waiters untold. The
// handler's exception is kept for cancel() to raise (or reported, elsewhere) and the lock
// waited for again; false only if it never comes.
bool acquire_for_waiters(PyObject* condition) {
  constexpr int kAttempts = 1000;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    PyObject* locked = PyObject_CallMethod(condition, "acquire", nullptr);
    if (locked != nullptr) {
      Py_DECREF(locked);
      return true;
    }
    if (t_in_cancel && t_cancel_interrupted == nullptr) {
      PyObject *type = nullptr, *value = nullptr, *traceback = nullptr;
      PyErr_Fetch(&type, &value, &traceback);
      PyErr_NormalizeException(&type, &value, &traceback);
      if (value != nullptr && traceback != nullptr) PyException_SetTraceback(value, traceback);
      t_cancel_interrupted = value;
      Py_XDECREF(type);
      Py_XDECREF(traceback);
    } else {
      PyErr_WriteUnraisable(condition);
    }
  }
  return false;
}

// Tells the waiters of concurrent.futures.wait() and as_completed() that `future` is done, as a
// concurrent.futures.Future does: under its condition, which they hold while they read its
// state and add themselves, and once (`told`). Until then _state says the request runs, so
// that a waiter finds what it will be told. `wait_for_lock` false: not if another thread holds
// the lock now. Returns whether they are told.
}  // namespace

bool tell_waiters(PyObject* future, bool wait_for_lock) {
  FutureHandle& handle = future_of(future);
  if (handle.told) return true;
  PyObject* condition = handle.condition.ptr();
  // The condition first, then the waiters: a wait() that holds it may have read the state
  // before the request was done and not have added its waiter (nor made the list) yet.
  if (condition == nullptr && handle.waiters.ptr() == nullptr) {
    handle.told = true;
    return true;
  }
  if (condition != nullptr) {
    Py_INCREF(condition);
    bool locked = false;
    if (wait_for_lock) {
      locked = acquire_for_waiters(condition);
    } else {
      PyObject* acquired = PyObject_CallMethod(condition, "acquire", "O", Py_False);
      locked = acquired == Py_True;
      if (acquired == nullptr) PyErr_WriteUnraisable(condition);
      Py_XDECREF(acquired);
    }
    if (!locked || handle.told) {  // told meanwhile, by another thread
      if (locked) call_reporting(condition, "release", nullptr);
      Py_DECREF(condition);
      return handle.told;
    }
  }
  handle.told = true;
  const char* method = "add_result";
  const BatchRequest::State state = handle.request->state();
  if (state == BatchRequest::State::kCancelled) method = "add_cancelled";
  if (state == BatchRequest::State::kFailed) method = "add_exception";
  // A copy: a waiter may remove itself meanwhile, on a thread the calls let run.
  PyObject* waiters =
      handle.waiters.ptr() == nullptr ? PyList_New(0) : PySequence_List(handle.waiters.ptr());
  if (waiters == nullptr) PyErr_WriteUnraisable(future);
  const Py_ssize_t count = waiters == nullptr ? 0 : PyList_GET_SIZE(waiters);
  for (Py_ssize_t i = 0; i < count; ++i) {
    call_reporting(PyList_GET_ITEM(waiters, i), method, future);
  }
  Py_XDECREF(waiters);
  if (condition != nullptr) {
    call_reporting(condition, "notify_all", nullptr);
    call_reporting(condition, "release", nullptr);
    Py_DECREF(condition);
  }
  return true;
}

// A caller that found the request done tells the waiters itself if the hook has not yet (it
// may wait for the GIL on a worker): concurrent.futures.wait() then finds the future finished
// once result() has returned. Only if the lock is free: the hook will do it otherwise.
void tell_waiters_if_done(py::handle self) {
  FutureHandle& future = future_of(self);
  if (future.hooked && !future.told && future.request->done()) tell_waiters(self.ptr(), false);
}

bool cancel_telling_waiters(py::handle self) {
  BatchRequest& request = *future_of(self).request;
  // As concurrent.futures: True for a future cancelled already.
  if (request.state() == BatchRequest::State::kCancelled) return true;
  const bool outer = t_in_cancel;  // a cancel() from a callback that another one runs
  t_in_cancel = true;
  const bool cancelled = request.cancel();  // runs the hook here, telling the waiters
  t_in_cancel = outer;
  if (PyObject* interrupted = t_cancel_interrupted) {
    t_cancel_interrupted = nullptr;
    PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(interrupted)), interrupted);
    Py_DECREF(interrupted);
    throw py::error_already_set();
  }
  return cancelled;
}

namespace {

// _condition, _state and _waiters: what concurrent.futures.wait() and as_completed() read of a
// future (the same in every CPython since 3.2). Made when first asked for.
py::object threading_condition() {
  PYBIND11_CONSTINIT static py::gil_safe_call_once_and_store<py::object> condition;
  return condition
      .call_once_and_store_result([] { return py::module_::import("threading").attr("Condition"); })
      .get_stored()();
}

// wait() and as_completed() take the condition first, then read the state and add their
// waiters. The hook that tells them is set before: a request done after this runs it on the
// completing thread, which waits for the condition; one done before it has no waiters yet,
// and they find it FINISHED.
PyObject* condition_getter(PyObject* self, void* /*unused*/) {
  return called_from_python([&] {
    FutureHandle& future = future_of(self);
    made_once(future.condition, threading_condition);
    if (!future.request->done()) hook_completion(self);
    return future.condition;
  });
}

PyObject* waiters_getter(PyObject* self, void* /*unused*/) {
  return called_from_python([&] {
    FutureHandle& future = future_of(self);
    made_once(future.waiters, [] { return py::list(); });
    return future.waiters;
  });
}

// concurrent.futures' names of the states, its _state (a cancelled future told its waiters).
PyObject* state_getter(PyObject* self, void* /*unused*/) {
  return called_from_python([&] {
    const FutureHandle& future = future_of(self);
    const BatchRequest::State state = future.request->state();
    if (state == BatchRequest::State::kQueued) return py::str("PENDING");
    // In a fork()ed child no worker runs the hook: the waiters are told here.
    if (future.generation != fork_generation()) tell_waiters_if_done(self);
    if (state == BatchRequest::State::kRunning || (future.hooked && !future.told)) {
      return py::str("RUNNING");
    }
    switch (state) {
      case BatchRequest::State::kCancelled:
        return py::str("CANCELLED_AND_NOTIFIED");
      default:
        return py::str("FINISHED");
    }
  });
}

PyGetSetDef g_attributes[] = {
    {"_condition", &condition_getter, nullptr,
     "concurrent.futures.wait() and as_completed() hold it while they read the state.", nullptr},
    {"_state", &state_getter, nullptr, "The state, in concurrent.futures' names.", nullptr},
    {"_waiters", &waiters_getter, nullptr,
     "concurrent.futures' waiters, told when the request is done.", nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr}};

}  // namespace

PyGetSetDef* waiter_attributes() { return g_attributes; }

}  // namespace fastort::bindings
