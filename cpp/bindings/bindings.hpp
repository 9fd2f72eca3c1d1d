// Registration functions of the fastort._core areas, one per bindings file.
#pragma once

#include <pybind11/pybind11.h>

#if defined(__GLIBCXX__)
#include <cxxabi.h>

#include <cstdint>
#endif

#include <string>
#include <type_traits>
#include <typeinfo>
#include <utility>

#include "fastort/error.hpp"

namespace fastort::bindings {

void register_errors(pybind11::module_& m);
void register_runtime(pybind11::module_& m);
void register_session(pybind11::module_& m);
void register_session_handle(pybind11::module_& m);
void register_bound_run(pybind11::module_& m);
void register_run_options(pybind11::module_& m);
void register_serving(pybind11::module_& m);
void register_image(pybind11::module_& m);
void register_decode(pybind11::module_& m);
void register_tensor_types(pybind11::module_& m);
// GraphOptimizationLevel and ExecutionMode (fastort.onnxruntime's).
void register_onnxruntime_enums(pybind11::module_& m);
// Gives each bound class in `scope` that lacks a __reduce__ a __reduce_ex__ (pickle's protocols
// 0 and 1 would otherwise abort the process; see pickling.cpp).
void make_pickling_safe(pybind11::handle scope);
// The module's __getattr__ and __dir__, which register the parts above that are not needed at
// import (images, serving, onnxruntime's enums) when one of their names is first used.
void register_lazy_parts(pybind11::module_& m);

// Loads ONNX Runtime unless it is loaded, through fastort._runtime.load() (which decides where
// the library is): `import fastort` does not load it, so every binding that reaches ORT without
// a Model calls this first. Raises RuntimeLoadError.
void require_runtime();

// Hands ONNX Runtime's waiting log records to Python's logging (logger
// "fastort.onnxruntime"), or to the callback set_log_callback set, after a load or a run.
// Raises only what a signal handler raised while logging ran Python code.
void forward_ort_log();

// While one is held, forward_ort_log() on this thread forwards nothing: the records of an
// attempt wait, so that discard() can drop them when the attempt failed and is run again
// another way. The caller forwards after release() (or the end of the hold).
class HeldOrtLog {
 public:
  HeldOrtLog() noexcept;
  ~HeldOrtLog() { release(); }
  HeldOrtLog(const HeldOrtLog&) = delete;
  HeldOrtLog& operator=(const HeldOrtLog&) = delete;
  // Drops the records this thread logged since the hold began.
  void discard() noexcept;
  void release() noexcept;

 private:
  uint64_t mark_;
  bool held_ = true;
};

// f(), then ORT's log records of it forwarded, also when f throws (an exception of a signal
// handler raised while forwarding then replaces f's).
template <typename F>
std::invoke_result_t<F> forwarding_ort_log(F&& f) {
  try {
    if constexpr (std::is_void_v<std::invoke_result_t<F>>) {
      std::forward<F>(f)();
      forward_ort_log();
    } else {
      auto result = std::forward<F>(f)();
      forward_ort_log();
      return result;
    }
  } catch (...) {
    forward_ort_log();
    throw;
  }
}

// Sets the Python exception for `error` (the same mapping pybind11's translator uses).
void set_python_error(const Error& error) noexcept;

// In a catch (...) block of a function Python calls directly (METH_FASTCALL, no pybind11
// dispatcher): sets the Python exception for the exception being handled. Such a block must
// follow FASTORT_PASS_FORCED_UNWIND.
void set_python_error_from_current() noexcept;

// When the interpreter exits while a daemon thread takes the GIL back, CPython ends that
// thread with pthread_exit, which glibc unwinds as an exception (abi::__forced_unwind).
// It must pass through: libstdc++ aborts the process ("FATAL: exception not rethrown") when a
// handler swallows it. pybind11's dispatcher lets it through; functions Python calls
// directly put this handler before their catch (...).
#if defined(__GLIBCXX__)
#define FASTORT_PASS_FORCED_UNWIND \
  catch (abi::__forced_unwind&) {  \
    throw;                         \
  }
#else
#define FASTORT_PASS_FORCED_UNWIND
#endif

// The body of a function Python calls directly (METH_FASTCALL, no pybind11 dispatcher): the
// new reference f() returns, or null with the Python exception set for what it threw.
template <typename F>
PyObject* called_from_python(F&& f) {
  try {
    return std::forward<F>(f)().release().ptr();
  }
  FASTORT_PASS_FORCED_UNWIND
  catch (...) {
    set_python_error_from_current();
  }
  return nullptr;
}

// Adds a method defined by `method` (which must outlive the class, as a static does) to `cls`.
inline void add_method(pybind11::handle cls, PyMethodDef* method) {
  PyObject* descriptor = PyDescr_NewMethod(reinterpret_cast<PyTypeObject*>(cls.ptr()), method);
  if (descriptor == nullptr) throw pybind11::error_already_set();
  pybind11::setattr(cls, method->ml_name,
                    pybind11::reinterpret_steal<pybind11::object>(descriptor));
}

// The C++ object behind `self`. pybind11 hands a method called on an object whose __init__
// never ran (Class.__new__(Class).method()) raw, unconstructed memory, so every method of
// the bound classes takes `self` as a handle and comes through here.
template <typename T>
T& initialized(pybind11::handle self, const char* class_name) {
  // The last Python type found to be a T (a strong reference: a freed type's address could be
  // reused by another), and T's pybind11 record: looking both up costs more than a tiny
  // model's run's own overhead. Read and written with the GIL held.
  static PyTypeObject* known_type = nullptr;
  static pybind11::detail::type_info* info = nullptr;
  PyTypeObject* type = Py_TYPE(self.ptr());
  if (type != known_type) {
    // The object's real type, not isinstance(): an object may claim a class through its
    // __class__ attribute (unittest.mock.Mock(spec=...) does) without the C++ value inside.
    pybind11::detail::type_info* record = pybind11::detail::get_type_info(typeid(T));
    if (record == nullptr || !PyType_IsSubtype(type, record->type)) {
      throw Error(ErrorKind::kTypeMismatch, std::string("expected a ") + class_name + " object");
    }
    info = record;
    Py_INCREF(type);
    PyTypeObject* previous = known_type;
    known_type = type;
    Py_XDECREF(previous);
  }
  auto* instance = reinterpret_cast<pybind11::detail::instance*>(self.ptr());
  auto holder = instance->get_value_and_holder(info);
  if (holder.inst == nullptr || !holder.holder_constructed() || holder.value_ptr() == nullptr) {
    throw Error(ErrorKind::kRuntime,
                std::string(class_name) + " object is not initialised (its __init__ did not run)");
  }
  return *holder.template value_ptr<T>();
}

}  // namespace fastort::bindings
