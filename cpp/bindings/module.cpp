// fastort._core: the private extension. The public API is re-exported by fastort/__init__.py.
#include "bindings.hpp"
#include "fastort/runtime.hpp"

// pybind11's initialisation function under another name: PyInit__core (below) runs first.
#define PyInit__core fastort_pybind11_init_core
PYBIND11_MODULE(_core, m) {
  m.doc() = "fastort native core (private; use the fastort package)";
  // At import, not at the runtime's first load: a fork during that load must find the hooks.
  fastort::install_fork_handlers();
  fastort::bindings::register_errors(m);
  fastort::bindings::register_runtime(m);
  fastort::bindings::register_session(m);
  fastort::bindings::register_run_options(m);
  fastort::bindings::register_session_handle(m);
  fastort::bindings::register_bound_run(m);
  fastort::bindings::register_tensor_types(m);
  fastort::bindings::make_pickling_safe(m);
  // pybind11 ignores a second __init__ of an object, keeping what the first made: the Python
  // classes call this first, so that a second one raises instead of being silently dropped.
  m.def(
      "_refuse_second_init",
      [](pybind11::handle object) {
        if (!pybind11::detail::get_type_info(Py_TYPE(object.ptr()))) return;
        auto* instance = reinterpret_cast<pybind11::detail::instance*>(object.ptr());
        for (const auto& holder : pybind11::detail::values_and_holders(instance)) {
          if (holder.holder_constructed()) {
            throw fastort::Error(fastort::ErrorKind::kRuntime,
                                 std::string("this ") + Py_TYPE(object.ptr())->tp_name +
                                     " is initialised already: make a new one");
          }
        }
      },
      pybind11::arg("object"));
  // Images, the batcher and onnxruntime's enums: on first use (see lazy_parts.cpp).
  fastort::bindings::register_lazy_parts(m);
}
#undef PyInit__core

// Before Python 3.12 an extension cannot declare that it does not work in a subinterpreter,
// and there pybind11's initialisation deadlocks (PyGILState_Ensure switches to the main
// interpreter's thread state while this thread holds the GIL: the import hangs for good).
// mod_wsgi runs each application in a subinterpreter by default. fastort's state is one per
// process (ONNX Runtime's environment, the session cache, the fork hooks), so it is refused
// in every subinterpreter, on every Python, with an error that says what to do.
extern "C" PYBIND11_EXPORT PyObject* PyInit__core() {
  if (PyInterpreterState_Get() != PyInterpreterState_Main()) {
    PyErr_SetString(PyExc_ImportError,
                    "fastort cannot be imported in a subinterpreter (ONNX Runtime and its "
                    "session cache are per process): import it in the main interpreter (for "
                    "mod_wsgi: WSGIApplicationGroup %{GLOBAL})");
    return nullptr;
  }
  return fastort_pybind11_init_core();
}
