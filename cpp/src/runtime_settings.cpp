// Process-wide settings of the loaded runtime that onnxruntime's module functions expose.
#include "fastort/error.hpp"
#include "fastort/runtime.hpp"
#include "ort_error.hpp"

namespace fastort {

std::string runtime_build_info() {
  ort_env();  // throws before load_runtime()
  return detail::call_ort(ErrorKind::kRuntime, "cannot read the build information",
                          [] { return Ort::GetBuildInfoString(); });
}

void set_ort_log_severity(int severity) {
  if (severity < 0 || severity > 4) {
    throw Error(ErrorKind::kInvalidArgument,
                "log severity must be 0 (verbose) to 4 (fatal), got " + std::to_string(severity));
  }
  Ort::Env& env = ort_env();
  detail::call_ort(ErrorKind::kRuntime, "cannot set the log severity", [&] {
    env.UpdateEnvWithCustomLogLevel(static_cast<OrtLoggingLevel>(severity));
  });
}

void set_ort_telemetry(bool enabled) {
  Ort::Env& env = ort_env();
  detail::call_ort(ErrorKind::kRuntime, "cannot change telemetry", [&] {
    if (enabled) {
      env.EnableTelemetryEvents();
    } else {
      env.DisableTelemetryEvents();
    }
  });
}

}  // namespace fastort
