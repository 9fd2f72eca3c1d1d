#include "batch_future.hpp"

#include <pybind11/gil_safe_call_once.h>
#include <structmember.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <new>
#include <string>

#include "bindings.hpp"
#include "fastort/runtime.hpp"
#include "gil.hpp"
#include "numpy_interop.hpp"
#include "run_bindings.hpp"

namespace py = pybind11;

namespace fastort::bindings {
namespace {

// A BatchFuture: the FutureHandle in place, constructed by make_future (no other way makes
// one: Python may neither call nor subclass the type).
struct FutureObject {
  PyObject_HEAD PyObject* weakrefs;
  alignas(FutureHandle) unsigned char storage[sizeof(FutureHandle)];
};

PyTypeObject* g_future_type = nullptr;  // made once, by register_batch_future; never freed

FutureHandle& handle_of(PyObject* object) {
  return *std::launder(
      reinterpret_cast<FutureHandle*>(reinterpret_cast<FutureObject*>(object)->storage));
}

// Sets `member` to make() unless it is set. Making one may run Python code (a constructor, the
// collector's finalizers), during which another thread may make and set its own: the first
// set stays, so that every thread uses the same object.
template <typename Make>
void made_once(py::object& member, Make make) {
  if (member) return;
  py::object made = make();
  if (!member) member = std::move(made);
}

// Waits without the GIL; raises concurrent.futures.TimeoutError when `timeout` passes first.
void wait_for(const BatchRequest& request, py::handle timeout) {
  double seconds = -1;
  if (!timeout.is_none()) {
    seconds = seconds_of(timeout);
    if (std::isnan(seconds) || seconds < 0) seconds = 0;
    if (seconds > kLongestSeconds) seconds = -1;  // no limit
  }
  if (!wait_without_gil(request, seconds)) {
    PyErr_SetNone(futures_module().attr("TimeoutError").ptr());
    throw py::error_already_set();
  }
}

[[noreturn]] void raise_cancelled() {
  PyErr_SetNone(futures_module().attr("CancelledError").ptr());
  throw py::error_already_set();
}

void tell_waiters_if_done(py::handle self);

// A failed request's exception, made once: result() raises, and exception() returns, the same
// object every time, as concurrent.futures does.
const py::object& error_of(FutureHandle& future) {
  made_once(future.error, [&future] {
    set_python_error(*future.request->error());
    const py::error_already_set raised;  // fetches the exception just set
    return raised.value();
  });
  return future.error;
}

py::object result(py::handle self, py::handle timeout) {
  FutureHandle& future = future_of(self);
  wait_for(*future.request, timeout);
  tell_waiters_if_done(self);
  switch (future.request->state()) {
    case BatchRequest::State::kCancelled:
      raise_cancelled();
    case BatchRequest::State::kFailed: {
      const py::object& error = error_of(future);
      PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(error.ptr())), error.ptr());
      throw py::error_already_set();
    }
    default:
      break;
  }
  // Every caller gets the same list, as the first made it.
  made_once(future.outputs, [&future] { return request_outputs(*future.request); });
  return future.outputs;
}

py::object exception(py::handle self, py::handle timeout) {
  FutureHandle& future = future_of(self);
  wait_for(*future.request, timeout);
  tell_waiters_if_done(self);
  if (future.request->state() == BatchRequest::State::kCancelled) raise_cancelled();
  if (future.request->state() != BatchRequest::State::kFailed) return py::none();
  return error_of(future);
}

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
bool tell_waiters(PyObject* future, bool wait_for_lock) {
  FutureHandle& handle = handle_of(future);
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
  FutureHandle& future = handle_of(self.ptr());
  if (future.hooked && !future.told && future.request->done()) tell_waiters(self.ptr(), false);
}

// Runs once the request is done, on the thread that completed it: tells the future's waiters,
// calls its callbacks, and releases the reference the hook held (`future`). That may be the
// batcher's worker, which then takes the GIL; not during interpreter shutdown, when the
// references are left as they are. Nor does anything here own a Python object through a
// destructor: once shutdown begins Python ends a thread that takes the GIL back (in
// PyGILState_Ensure, or inside a callback's Python code) by unwinding it (pthread_exit),
// without the GIL, and a destructor releasing an object then would crash the process.
void run_callbacks(PyObject* future) {
  if (is_finalizing()) return;
  const PyGILState_STATE gil = PyGILState_Ensure();
  tell_waiters(future, true);
  handle_of(future).hooked = false;
  // Taken from the future: a callback adding another finds it done, and calls that at once.
  PyObject* callbacks = handle_of(future).callbacks.release().ptr();
  const Py_ssize_t count = callbacks == nullptr ? 0 : PyList_GET_SIZE(callbacks);
  for (Py_ssize_t i = 0; i < count; ++i) {
    PyObject* callback = PyList_GET_ITEM(callbacks, i);  // the list, ours alone, holds it
    PyObject* returned = PyObject_CallOneArg(callback, future);
    // As concurrent.futures does: a failing callback is reported, the others still run.
    if (returned == nullptr) PyErr_WriteUnraisable(callback);
    Py_XDECREF(returned);
  }
  Py_XDECREF(callbacks);
  Py_DECREF(future);
  PyGILState_Release(gil);
}

// Has run_callbacks run once the request is done (at once if it is), unless it will already.
void hook(py::handle self) {
  FutureHandle& future = future_of(self);
  if (future.hooked) return;
  future.hooked = true;
  // The hook holds a reference to the future, released by run_callbacks under the GIL.
  PyObject* held = self.ptr();
  Py_INCREF(held);
  future.request->on_done([held](const std::shared_ptr<BatchRequest>&) { run_callbacks(held); });
}

void add_done_callback(py::handle self, py::handle callback) {
  FutureHandle& future = future_of(self);
  made_once(future.callbacks, [] { return py::list(); });
  // After the list is made (which may let the request finish and its hook run meanwhile).
  if (future.request->done() && !future.hooked) {
    // Called at once, as concurrent.futures does; its exception reported in the same way.
    PyObject* returned = PyObject_CallOneArg(callback.ptr(), self.ptr());
    if (returned == nullptr) PyErr_WriteUnraisable(callback.ptr());
    Py_XDECREF(returned);
    return;
  }
  py::list(future.callbacks).append(callback);
  hook(self);
}

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
    if (!future.request->done()) hook(self);
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

// The argument of a METH_FASTCALL method that takes one, `name`, by position or keyword; null
// when not given.
py::handle one_argument(const char* method, const char* name, PyObject* const* args,
                        Py_ssize_t nargs, PyObject* kwnames) {
  if (nargs > 1) {
    throw Error(ErrorKind::kTypeMismatch, std::string(method) + "() takes at most 1 argument (" +
                                              name + "), got " + std::to_string(nargs));
  }
  py::handle value = nargs == 1 ? py::handle(args[0]) : py::handle();
  const Py_ssize_t keywords = kwnames == nullptr ? 0 : PyTuple_GET_SIZE(kwnames);
  for (Py_ssize_t i = 0; i < keywords; ++i) {
    PyObject* keyword = PyTuple_GET_ITEM(kwnames, i);
    if (PyUnicode_CompareWithASCIIString(keyword, name) != 0) {
      throw Error(ErrorKind::kTypeMismatch, std::string(method) +
                                                "() got an unexpected keyword argument " +
                                                std::string(py::str(py::repr(keyword))));
    }
    if (value) {
      throw Error(ErrorKind::kTypeMismatch,
                  std::string(method) + "() got multiple values for " + name);
    }
    value = args[nargs + i];
  }
  return value;
}

// The methods, called by CPython directly: a quick request's future is made and read in a few
// microseconds, of which pybind11's dispatcher would take a tenth.
PyObject* result_method(PyObject* self, PyObject* const* args, Py_ssize_t nargs,
                        PyObject* kwnames) {
  return called_from_python([&] {
    const py::handle timeout = one_argument("result", "timeout", args, nargs, kwnames);
    return result(self, timeout ? timeout : py::none());
  });
}

PyObject* exception_method(PyObject* self, PyObject* const* args, Py_ssize_t nargs,
                           PyObject* kwnames) {
  return called_from_python([&] {
    const py::handle timeout = one_argument("exception", "timeout", args, nargs, kwnames);
    return exception(self, timeout ? timeout : py::none());
  });
}

PyObject* add_done_callback_method(PyObject* self, PyObject* const* args, Py_ssize_t nargs,
                                   PyObject* kwnames) {
  return called_from_python([&] {
    const py::handle callback = one_argument("add_done_callback", "fn", args, nargs, kwnames);
    if (!callback) {
      throw Error(ErrorKind::kTypeMismatch,
                  "add_done_callback() missing its argument: fn, called with the future");
    }
    add_done_callback(self, callback);
    return py::none();
  });
}

PyObject* done_method(PyObject* self, PyObject* /*unused*/) {
  return called_from_python([&] {
    const bool done = future_of(self).request->done();
    if (done) tell_waiters_if_done(self);
    return py::bool_(done);
  });
}

PyObject* running_method(PyObject* self, PyObject* /*unused*/) {
  return called_from_python(
      [&] { return py::bool_(future_of(self).request->state() == BatchRequest::State::kRunning); });
}

PyObject* cancelled_method(PyObject* self, PyObject* /*unused*/) {
  return called_from_python([&] {
    return py::bool_(future_of(self).request->state() == BatchRequest::State::kCancelled);
  });
}

PyObject* cancel_method(PyObject* self, PyObject* /*unused*/) {
  return called_from_python([&] {
    BatchRequest& request = *future_of(self).request;
    // As concurrent.futures: True for a future cancelled already.
    if (request.state() == BatchRequest::State::kCancelled) return py::bool_(true);
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
    return py::bool_(cancelled);
  });
}

// As every class of the module (pickling.cpp): a future is of this process only.
PyObject* reduce_ex_method(PyObject* /*self*/, PyObject* /*protocol*/) {
  PyErr_SetString(PyExc_TypeError, "cannot pickle 'BatchFuture' object");
  return nullptr;
}

const char* state_name(BatchRequest::State state) {
  switch (state) {
    case BatchRequest::State::kQueued:
      return "pending";
    case BatchRequest::State::kRunning:
      return "running";
    case BatchRequest::State::kCancelled:
      return "cancelled";
    case BatchRequest::State::kFailed:
      return "finished raised";
    default:
      return "finished returned list";
  }
}

PyObject* future_repr(PyObject* self) {
  return PyUnicode_FromFormat("<BatchFuture at %p state=%s>", static_cast<void*>(self),
                              state_name(handle_of(self).request->state()));
}

// The collector sees what the future holds, since user code can close a cycle through it: a
// result list holding the future, or a callback's closure once the request is done (until then
// the request's hook holds the future, and it is not garbage).
int future_traverse(PyObject* self, visitproc visit, void* arg) {
  const FutureHandle& future = handle_of(self);
  Py_VISIT(future.outputs.ptr());
  Py_VISIT(future.error.ptr());
  Py_VISIT(future.callbacks.ptr());
  Py_VISIT(future.condition.ptr());
  Py_VISIT(future.waiters.ptr());
  Py_VISIT(Py_TYPE(self));  // instances of a heap type hold a reference to it
  return 0;
}

int future_clear(PyObject* self) {
  FutureHandle& future = handle_of(self);
  // Released after the members are reset, as Py_CLEAR does: a destructor running Python code
  // must find the future consistent.
  py::object outputs = std::move(future.outputs);
  py::object error = std::move(future.error);
  py::object callbacks = std::move(future.callbacks);
  py::object condition = std::move(future.condition);
  py::object waiters = std::move(future.waiters);
  return 0;
}

void future_dealloc(PyObject* self) {
  PyObject_GC_UnTrack(self);
  auto* object = reinterpret_cast<FutureObject*>(self);
  if (object->weakrefs != nullptr) PyObject_ClearWeakRefs(self);
  handle_of(self).~FutureHandle();
  PyTypeObject* type = Py_TYPE(self);
  type->tp_free(self);
  Py_DECREF(type);  // instances of a heap type hold a reference to it
}

PyMethodDef g_methods[] = {
    {"result", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&result_method)),
     METH_FASTCALL | METH_KEYWORDS,
     "result($self, timeout=None)\n--\n\n"
     "The outputs (the list run() returns for these rows), waiting without the GIL;\n"
     "raises the request's error, concurrent.futures.CancelledError or TimeoutError."},
    {"exception", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&exception_method)),
     METH_FASTCALL | METH_KEYWORDS,
     "exception($self, timeout=None)\n--\n\n"
     "The request's error, or None once it succeeded, waiting without the GIL; raises\n"
     "concurrent.futures.CancelledError or TimeoutError."},
    {"done", &done_method, METH_NOARGS,
     "done($self, /)\n--\n\nTrue once the request finished, failed or was cancelled."},
    {"running", &running_method, METH_NOARGS,
     "running($self, /)\n--\n\nTrue while the request runs."},
    {"cancelled", &cancelled_method, METH_NOARGS,
     "cancelled($self, /)\n--\n\nTrue if the request was dropped before it ran."},
    {"cancel", &cancel_method, METH_NOARGS,
     "cancel($self, /)\n--\n\n"
     "Drops the request if it has not started to run; True if it was dropped."},
    {"add_done_callback",
     reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&add_done_callback_method)),
     METH_FASTCALL | METH_KEYWORDS,
     "add_done_callback($self, fn)\n--\n\n"
     "Calls fn(future) once the request is done (at once if it is), on the thread that\n"
     "completed it; an exception fn raises is reported as unraisable."},
    {"__reduce_ex__", &reduce_ex_method, METH_O,
     "__reduce_ex__($self, protocol, /)\n--\n\nRefuses: a future is of its process only."},
    {nullptr, nullptr, 0, nullptr}};

PyGetSetDef g_getset[] = {
    {"_condition", &condition_getter, nullptr,
     "concurrent.futures.wait() and as_completed() hold it while they read the state.", nullptr},
    {"_state", &state_getter, nullptr, "The state, in concurrent.futures' names.", nullptr},
    {"_waiters", &waiters_getter, nullptr,
     "concurrent.futures' waiters, told when the request is done.", nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr}};

PyMemberDef g_members[] = {
    {"__weaklistoffset__", T_PYSSIZET, offsetof(FutureObject, weakrefs), READONLY, nullptr},
    {nullptr, 0, 0, 0, nullptr}};

}  // namespace

double seconds_of(py::handle value) {
  const double seconds = PyFloat_AsDouble(value.ptr());
  if (seconds == -1.0 && PyErr_Occurred()) {
    if (!PyErr_ExceptionMatches(PyExc_OverflowError)) throw py::error_already_set();
    PyErr_Clear();
    const int negative = PyObject_RichCompareBool(value.ptr(), py::int_(0).ptr(), Py_LT);
    if (negative < 0) throw py::error_already_set();
    return negative != 0 ? -HUGE_VAL : HUGE_VAL;
  }
  return seconds;
}

py::object futures_module() {
  // GIL-safe and leaked, as ort_logger in runtime_bindings.cpp.
  PYBIND11_CONSTINIT static py::gil_safe_call_once_and_store<py::object> module;
  return module
      .call_once_and_store_result(
          [] { return py::object(py::module_::import("concurrent.futures")); })
      .get_stored();
}

py::list request_outputs(const BatchRequest& request) {
  switch (request.state()) {
    case BatchRequest::State::kCancelled:
      raise_cancelled();
    case BatchRequest::State::kFailed:
      throw *request.error();
    default:
      break;
  }
  py::list outputs;
  for (const RequestOutput& output : request.outputs()) {
    outputs.append(shared_view(output.view, output.owner));
  }
  return outputs;
}

bool wait_without_gil(const BatchRequest& request, double seconds) {
  if (request.done()) return true;
  if (!on_main_thread()) return without_gil([&] { return request.wait(seconds); });
  // Long enough to cost nothing, short enough that Ctrl-C seems at once.
  constexpr double kSliceSeconds = 0.05;
  using Clock = std::chrono::steady_clock;
  const Clock::time_point began = Clock::now();
  for (;;) {
    double slice = kSliceSeconds;
    if (seconds >= 0) {
      const double left = seconds - std::chrono::duration<double>(Clock::now() - began).count();
      slice = std::max(0.0, std::min(slice, left));
    }
    if (without_gil([&] { return request.wait(slice); })) return true;
    if (PyErr_CheckSignals() != 0) throw py::error_already_set();
    if (slice < kSliceSeconds) return request.done();  // the timeout's last slice
  }
}

py::object make_future(std::shared_ptr<BatchRequest> request, py::object outputs) {
  auto* object = PyObject_GC_New(FutureObject, g_future_type);
  if (object == nullptr) throw py::error_already_set();
  object->weakrefs = nullptr;
  new (object->storage) FutureHandle{std::move(request), std::move(outputs)};
  handle_of(reinterpret_cast<PyObject*>(object)).generation = fork_generation();
  PyObject_GC_Track(object);  // only once what the collector visits is constructed
  return py::reinterpret_steal<py::object>(reinterpret_cast<PyObject*>(object));
}

FutureHandle& future_of(py::handle object) {
  if (g_future_type == nullptr || Py_TYPE(object.ptr()) != g_future_type) {
    throw Error(ErrorKind::kTypeMismatch, "expected a BatchFuture object");
  }
  return handle_of(object.ptr());
}

void register_batch_future(py::module_& m) {
  if (g_future_type == nullptr) {
    PyType_Slot slots[] = {
        {Py_tp_dealloc, reinterpret_cast<void*>(&future_dealloc)},
        {Py_tp_traverse, reinterpret_cast<void*>(&future_traverse)},
        {Py_tp_clear, reinterpret_cast<void*>(&future_clear)},
        {Py_tp_repr, reinterpret_cast<void*>(&future_repr)},
        {Py_tp_methods, g_methods},
        {Py_tp_members, g_members},
        {Py_tp_getset, g_getset},
        {Py_tp_doc,
         const_cast<char*>("The result of Batcher.submit: like concurrent.futures.Future.")},
        {0, nullptr}};
    PyType_Spec spec = {"fastort._core.BatchFuture", static_cast<int>(sizeof(FutureObject)), 0,
                        Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC, slots};
    PyObject* type = PyType_FromSpec(&spec);
    if (type == nullptr) throw py::error_already_set();
    g_future_type = reinterpret_cast<PyTypeObject*>(type);
    // Only make_future makes one: calling the type would give an object holding no request.
    g_future_type->tp_new = nullptr;
    PyType_Modified(g_future_type);
  }
  m.add_object("BatchFuture",
               py::reinterpret_borrow<py::object>(reinterpret_cast<PyObject*>(g_future_type)));
}

}  // namespace fastort::bindings
