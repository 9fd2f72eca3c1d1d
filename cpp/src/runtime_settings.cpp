// Process-wide settings of the loaded runtime that onnxruntime's module functions expose.
#include <atomic>
#include <memory>

#include "fastort/error.hpp"
#include "fastort/runtime.hpp"
#include "ort_error.hpp"

namespace fastort {

std::string runtime_build_info() {
  ort_env();  // throws before load_runtime()
  return detail::call_ort(ErrorKind::kRuntime, "cannot read the build information",
                          [] { return Ort::GetBuildInfoString(); });
}

namespace {
std::atomic<int> g_log_severity{ORT_LOGGING_LEVEL_WARNING};  // the environment is made with it
}  // namespace

int ort_log_severity() noexcept { return g_log_severity.load(std::memory_order_relaxed); }

void set_ort_log_severity(int severity) {
  if (severity < 0 || severity > 4) {
    throw Error(ErrorKind::kInvalidArgument,
                "log severity must be 0 (verbose) to 4 (fatal), got " + std::to_string(severity));
  }
  Ort::Env& env = ort_env();
  detail::call_ort(ErrorKind::kRuntime, "cannot set the log severity", [&] {
    env.UpdateEnvWithCustomLogLevel(static_cast<OrtLoggingLevel>(severity));
  });
  g_log_severity.store(severity, std::memory_order_relaxed);
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

void register_cpu_allocator(bool arena,
                            const std::vector<std::pair<std::string, size_t>>& arena_settings) {
  Ort::Env& env = ort_env();
  std::vector<const char*> keys;
  std::vector<size_t> values;
  for (const auto& [key, value] : arena_settings) {
    keys.push_back(key.c_str());
    values.push_back(value);
  }
  OrtArenaCfg* config = nullptr;
  if (arena && !keys.empty()) {
    detail::call_ort(ErrorKind::kInvalidArgument, "invalid arena configuration", [&] {
      Ort::ThrowOnError(
          Ort::GetApi().CreateArenaCfgV2(keys.data(), values.data(), keys.size(), &config));
    });
  }
  // Released on return: ORT copies what it needs.
  const std::unique_ptr<OrtArenaCfg, void (*)(OrtArenaCfg*)> owned(
      config, [](OrtArenaCfg* released) { Ort::GetApi().ReleaseArenaCfg(released); });
  detail::call_ort(ErrorKind::kRuntime, "cannot register the allocator", [&] {
    const Ort::MemoryInfo memory = Ort::MemoryInfo::CreateCpu(
        arena ? OrtArenaAllocator : OrtDeviceAllocator, OrtMemTypeDefault);
    env.CreateAndRegisterAllocator(memory, config);
  });
}

}  // namespace fastort
