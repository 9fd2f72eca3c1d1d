// Runtime loading, versions and debug counters.
#include <pybind11/gil_safe_call_once.h>
#include <pybind11/stl.h>

#include <climits>
#include <cstdint>
#include <string>

#include "bindings.hpp"
#include "fastort/cpu_budget.hpp"
#include "fastort/debug_counters.hpp"
#include "fastort/error.hpp"
#include "fastort/ort.hpp"
#include "fastort/ort_log.hpp"
#include "fastort/runtime.hpp"
#include "fastort/session_options.hpp"
#include "fastort/thread_pool.hpp"
#include "text.hpp"

namespace py = pybind11;

namespace fastort::bindings {
namespace {

// logging's level for an OrtLoggingLevel.
int python_level(int severity) {
  static constexpr int kLevels[] = {10, 20, 30, 40, 50};  // DEBUG .. CRITICAL
  return kLevels[severity < 0 ? 0 : (severity > 4 ? 4 : severity)];
}

py::object& ort_logger() {
  // Made once, and leaked (nothing runs after the interpreter is gone). Not a function-local
  // static: its guard would be held across `import logging`, which waits for the GIL that
  // another thread, waiting for the guard, holds.
  PYBIND11_CONSTINIT static py::gil_safe_call_once_and_store<py::object> logger;
  return logger
      .call_once_and_store_result([] {
        py::module_ logging = py::module_::import("logging");
        // A library's logger stays silent until the application configures logging.
        logging.attr("getLogger")("fastort").attr("addHandler")(logging.attr("NullHandler")());
        return py::object(logging.attr("getLogger")("fastort.onnxruntime"));
      })
      .get_stored();
}

// The callback of onnxruntime's set_default_logger_callback, or None: read and set with the
// GIL held. Leaked: nothing runs after the interpreter is gone.
py::object& log_callback() {
  static auto* callback = new py::object(py::none());
  return *callback;
}

// Hands `record` to the callback; false when the callback raised (reported to
// sys.unraisablehook, and the record goes to logging instead).
bool call_back(const py::object& callback, const OrtLogRecord& record) {
  try {
    callback(record.severity, message_text(record.category), message_text(record.logid),
             message_text(record.location), message_text(record.message));
    return true;
  } catch (py::error_already_set& error) {
    if (error.matches(PyExc_KeyboardInterrupt)) throw;
    error.discard_as_unraisable("fastort.onnxruntime's logger callback");
    return false;
  }
}

}  // namespace

void require_runtime() {
  if (runtime_loaded()) return;
  py::module_::import("fastort._runtime").attr("load")();
}

namespace {
thread_local int g_log_holds = 0;  // HeldOrtLogs alive on this thread
}  // namespace

HeldOrtLog::HeldOrtLog() noexcept : mark_(ort_log_mark()) { ++g_log_holds; }

void HeldOrtLog::discard() noexcept { discard_ort_log(mark_); }

void HeldOrtLog::release() noexcept {
  if (held_) --g_log_holds;
  held_ = false;
}

void forward_ort_log() {
  if (g_log_holds > 0 || !ort_log_pending()) return;
  size_t dropped = 0;
  const std::vector<OrtLogRecord> records = take_ort_log(dropped);
  py::object& logger = ort_logger();
  // A reference: the callback may replace itself.
  const py::object callback = log_callback();
  // logging reports its own failures; what propagates from here is the exception of a
  // signal handler that ran meanwhile (KeyboardInterrupt), which must not be lost.
  for (const OrtLogRecord& record : records) {
    if (!callback.is_none() && call_back(callback, record)) continue;
    py::dict extra;
    extra["ort_category"] = message_text(record.category);
    extra["ort_location"] = message_text(record.location);
    logger.attr("log")(python_level(record.severity), "%s", message_text(record.message),
                       py::arg("extra") = extra);
  }
  if (dropped > 0) {
    logger.attr("warning")("%d ONNX Runtime log records were dropped (too many waited)", dropped);
  }
}

void register_runtime(py::module_& m) {
  m.def("load_runtime", &load_runtime, py::arg("library_path"),
        "Load libonnxruntime from a path (once per process).");
  m.def("runtime_loaded", &runtime_loaded);
  m.def("runtime_library_path", &runtime_library_path);
  m.def(
      "ort_version",
      [] {
        require_runtime();
        return runtime_version();
      },
      "Version of the ONNX Runtime library (loaded by this call if need be).");
  m.def("compiled_api_version", &compiled_api_version,
        "ORT C API version fastort was compiled against.");
  m.def(
      "build_info",
      [] {
        require_runtime();
        return runtime_build_info();
      },
      "ONNX Runtime's description of its build.");
  m.def(
      "set_log_severity",
      [](int severity) {
        require_runtime();
        set_ort_log_severity(severity);
      },
      py::arg("severity"),
      "The least severe ONNX Runtime log records kept, process-wide: 0 (verbose) to 4.");
  m.def(
      "set_telemetry",
      [](bool enabled) {
        require_runtime();
        set_ort_telemetry(enabled);
      },
      py::arg("enabled"), "ONNX Runtime's telemetry events (only its Windows builds send any).");
  m.def(
      "set_log_callback",
      [](py::object callback) {
        if (!callback.is_none() && !PyCallable_Check(callback.ptr())) {
          throw Error(ErrorKind::kTypeMismatch,
                      "callback must be a callable or None, got " + type_name(callback));
        }
        log_callback() = std::move(callback);
      },
      py::arg("callback"),
      "callback(severity, category, logid, code_location, message) receives ONNX Runtime's\n"
      "log records instead of Python's logging, after each load or run; None: logging again.");
  m.def(
      "register_cpu_allocator",
      [](bool arena, const std::vector<std::pair<std::string, size_t>>& settings) {
        require_runtime();
        register_cpu_allocator(arena, settings);
      },
      py::arg("arena"), py::arg("settings"),
      "A CPU allocator in ONNX Runtime's environment, shared by sessions whose config has\n"
      "session.use_env_allocators=1: an arena (settings: OrtArenaCfg keys and values) or not.");
  m.def("available_providers", [] {
    require_runtime();
    return Ort::GetAvailableProviders();
  });
  m.def("debug_counters", [] {
    const DebugCounters counters = debug_counters();
    py::dict result;
    result["input_bytes_copied"] = counters.input_bytes_copied;
    result["output_bytes_copied"] = counters.output_bytes_copied;
    result["live_values"] = counters.live_values;
    result["image_bytes_copied"] = counters.image_bytes_copied;
    result["quick_runs"] = counters.quick_runs;
    result["repeated_runs"] = counters.repeated_runs;
    return result;
  });
  m.def(
      "cpu_budget",
      [] {
        const CpuBudget budget = cpu_budget();
        py::dict result;
        result["online"] = budget.online;
        result["affinity"] = budget.affinity;
        result["physical_cores"] = budget.physical_cores;
        result["quota"] = budget.quota;
        result["omp_threads"] = budget.omp_threads;
        result["session_threads"] = budget.session_threads();
        result["worker_threads"] = budget.worker_threads();
        return result;
      },
      "The CPUs this process may use, and the thread counts 'auto' gives.");
  m.attr("MAX_THREADS") = SessionOptions::kMaxThreads;
  m.def("hardware_threads", &hardware_threads);
  // Any Python int reaches the core's check: those beyond int64 saturate, still out of range.
  m.def(
      "check_threads",
      [](const std::string& option, const py::int_& value) {
        int overflow = 0;
        const long long number = PyLong_AsLongLongAndOverflow(value.ptr(), &overflow);
        check_threads(option.c_str(), overflow > 0   ? INT64_MAX
                                      : overflow < 0 ? INT64_MIN
                                                     : static_cast<int64_t>(number));
      },
      py::arg("option"), py::arg("value"));
}

}  // namespace fastort::bindings
