// fastort::Error -> Python exceptions. The classes derive from both FastortError and the
// builtin a caller would catch (ValueError, TypeError, ImportError), so either works.
#include <cerrno>
#include <cstring>

#include "bindings.hpp"
#include "fastort/error.hpp"
#include "text.hpp"

namespace py = pybind11;

namespace fastort::bindings {
namespace {

struct ExceptionClasses {
  PyObject* base = nullptr;
  PyObject* invalid_model = nullptr;
  PyObject* invalid_argument = nullptr;
  PyObject* invalid_type = nullptr;
  PyObject* runtime_load = nullptr;
  PyObject* run_terminated = nullptr;
  PyObject* run_timeout = nullptr;
  PyObject* queue_full = nullptr;
};

// Filled once at import and kept for the life of the process (the module holds references).
ExceptionClasses g_classes;

PyObject* new_class(py::module_& m, const char* name, py::tuple bases, const char* doc) {
  const std::string qualified = std::string("fastort.") + name;
  PyObject* cls = PyErr_NewExceptionWithDoc(qualified.c_str(), doc, bases.ptr(), nullptr);
  if (cls == nullptr) throw py::error_already_set();
  m.add_object(name, py::reinterpret_borrow<py::object>(cls));
  return cls;
}

// Messages quote names from the model, which need not be UTF-8: decoding must not throw here,
// where a second exception would terminate the process.
void raise(PyObject* cls, const Error& error) {
  py::object exc = py::reinterpret_borrow<py::object>(cls)(message_text(error.what()));
  if (error.ort_code() == kNoOrtCode) {
    exc.attr("code") = py::none();
    exc.attr("ort_code") = py::none();
  } else {
    exc.attr("code") = ort_error_code_name(error.ort_code());
    exc.attr("ort_code") = error.ort_code();
  }
  PyErr_SetObject(cls, exc.ptr());
}

void raise_os_error(PyObject* cls, int code, const Error& error) {
  // The filename decodes like os.fsdecode, so it equals the path the caller passed.
  py::object exc = py::reinterpret_borrow<py::object>(cls)(code, message_text(error.what()),
                                                           model_text(error.path()));
  PyErr_SetObject(cls, exc.ptr());
}

}  // namespace

void set_python_error_from_current() noexcept {
  try {
    throw;
  } catch (py::error_already_set& error) {
    error.restore();
  } catch (const Error& error) {
    set_python_error(error);
  } catch (const py::builtin_exception& error) {
    error.set_error();
  } catch (const std::bad_alloc&) {
    PyErr_NoMemory();
  } catch (const std::exception& error) {
    PyErr_SetObject(PyExc_RuntimeError, message_text(error.what()).ptr());
  } catch (...) {
    PyErr_SetString(PyExc_RuntimeError, "unknown C++ exception");
  }
}

void set_python_error(const Error& error) noexcept {
  try {
    switch (error.kind()) {
      case ErrorKind::kInvalidArgument:
        return raise(g_classes.invalid_argument, error);
      case ErrorKind::kTypeMismatch:
        return raise(g_classes.invalid_type, error);
      case ErrorKind::kFileNotFound:
        return raise_os_error(PyExc_FileNotFoundError, ENOENT, error);
      case ErrorKind::kIsADirectory:
        return raise_os_error(PyExc_IsADirectoryError, EISDIR, error);
      case ErrorKind::kPermissionDenied:
        return raise_os_error(PyExc_PermissionError, EACCES, error);
      case ErrorKind::kInvalidModel:
        return raise(g_classes.invalid_model, error);
      case ErrorKind::kRuntimeLoad:
        return raise(g_classes.runtime_load, error);
      case ErrorKind::kTimedOut:
        return raise(g_classes.run_timeout, error);
      case ErrorKind::kQueueFull:
        return raise(g_classes.queue_full, error);
      case ErrorKind::kTerminated:
      case ErrorKind::kInterrupted:
        return raise(g_classes.run_terminated, error);
      case ErrorKind::kRuntime:
        break;
    }
    raise(g_classes.base, error);
  } catch (py::error_already_set& failure) {
    // Building the exception failed (memory): raise what went wrong instead.
    failure.restore();
  } catch (...) {
    PyErr_SetString(PyExc_RuntimeError, "fastort: cannot build the exception for an error");
  }
}

void register_errors(py::module_& m) {
  py::handle runtime_error(PyExc_RuntimeError);
  g_classes.base = new_class(m, "FastortError", py::make_tuple(runtime_error),
                             "Root of fastort's errors. `code` is ONNX Runtime's error code name "
                             "(e.g. 'ORT_INVALID_PROTOBUF') when ORT raised it, else None.");
  py::handle base(g_classes.base);
  g_classes.invalid_model = new_class(m, "InvalidModelError", py::make_tuple(base),
                                      "A model that ONNX Runtime cannot load.");
  g_classes.invalid_argument =
      new_class(m, "InvalidArgumentError", py::make_tuple(base, py::handle(PyExc_ValueError)),
                "A bad value: unknown name, wrong shape, out-of-range option.");
  g_classes.invalid_type =
      new_class(m, "InvalidTypeError", py::make_tuple(base, py::handle(PyExc_TypeError)),
                "A value of the wrong type or element type.");
  g_classes.runtime_load =
      new_class(m, "RuntimeLoadError", py::make_tuple(base, py::handle(PyExc_ImportError)),
                "The ONNX Runtime library is missing, unloadable or too old.");
  g_classes.run_terminated =
      new_class(m, "RunTerminatedError", py::make_tuple(base),
                "A run stopped from outside: its RunOptions' terminate flag was set.");
  g_classes.run_timeout = new_class(
      m, "RunTimeoutError",
      py::make_tuple(py::handle(g_classes.run_terminated), py::handle(PyExc_TimeoutError)),
      "A run stopped because its RunOptions timeout passed.");
  g_classes.queue_full =
      new_class(m, "QueueFullError", py::make_tuple(base),
                "A Batcher already holds max_queue waiting requests: the request was refused.");

  py::register_exception_translator([](std::exception_ptr pointer) {
    try {
      if (pointer) std::rethrow_exception(pointer);
    } catch (const Error& error) {
      set_python_error(error);
    }
  });
}

}  // namespace fastort::bindings
