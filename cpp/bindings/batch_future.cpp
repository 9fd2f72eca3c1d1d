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
#include "future_waiters.hpp"
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
  hook_completion(self);
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
  return called_from_python([&] { return py::bool_(cancel_telling_waiters(self)); });
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

PyMemberDef g_members[] = {
    {"__weaklistoffset__", T_PYSSIZET, offsetof(FutureObject, weakrefs), READONLY, nullptr},
    {nullptr, 0, 0, 0, nullptr}};

}  // namespace

// Has run_callbacks run once the request is done (at once if it is), unless it will already.
void hook_completion(py::handle self) {
  FutureHandle& future = future_of(self);
  if (future.hooked) return;
  future.hooked = true;
  // The hook holds a reference to the future, released by run_callbacks under the GIL.
  PyObject* held = self.ptr();
  Py_INCREF(held);
  future.request->on_done([held](const std::shared_ptr<BatchRequest>&) { run_callbacks(held); });
}

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
        {Py_tp_getset, waiter_attributes()},
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
