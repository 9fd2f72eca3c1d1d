// Runtime loading, versions and debug counters.
#include <pybind11/stl.h>

#include "bindings.hpp"
#include "fastort/debug_counters.hpp"
#include "fastort/error.hpp"
#include "fastort/ort.hpp"
#include "fastort/runtime.hpp"
#include "fastort/session_options.hpp"

namespace py = pybind11;

namespace fastort::bindings {

void register_runtime(py::module_& m) {
  m.def("load_runtime", &load_runtime, py::arg("library_path"),
        "Load libonnxruntime from a path (once per process).");
  m.def("runtime_loaded", &runtime_loaded);
  m.def("runtime_library_path", &runtime_library_path);
  m.def("ort_version", &runtime_version, "Version of the loaded ONNX Runtime library.");
  m.def("compiled_api_version", &compiled_api_version,
        "ORT C API version fastort was compiled against.");
  m.def("available_providers", [] {
    if (!runtime_loaded()) throw Error(ErrorKind::kRuntimeLoad, "ONNX Runtime is not loaded");
    return Ort::GetAvailableProviders();
  });
  m.def("debug_counters", [] {
    const DebugCounters counters = debug_counters();
    py::dict result;
    result["input_bytes_copied"] = counters.input_bytes_copied;
    result["output_bytes_copied"] = counters.output_bytes_copied;
    result["live_values"] = counters.live_values;
    return result;
  });
  m.attr("MAX_THREADS") = SessionOptions::kMaxThreads;
}

}  // namespace fastort::bindings
