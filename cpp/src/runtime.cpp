#include "fastort/runtime.hpp"

#include <cstdio>
#include <memory>
#include <mutex>

#include "fastort/error.hpp"
#include "fastort/ort_log.hpp"
#include "fork_hooks.hpp"
#include "ort_error.hpp"
#include "platform.hpp"

namespace fastort {
namespace {

struct RuntimeState {
  std::mutex mutex;
  std::string library_path;
  std::string version;
  const OrtApi* api = nullptr;
  // Deliberately never destroyed: sessions released during interpreter or static teardown
  // must still find a live environment, and ORT does not support unloading anyway.
  Ort::Env* env = nullptr;
};

RuntimeState& state() {
  static RuntimeState* instance = new RuntimeState();
  return *instance;
}

using GetApiBaseFn = const OrtApiBase*(ORT_API_CALL*)();

void ORT_API_CALL collect_log(void* param, OrtLoggingLevel severity, const char* category,
                              const char* logid, const char* location, const char* message) {
  detail::collect_ort_log(param, static_cast<int>(severity), category, logid, location, message);
}

// The minor version of "1.21.0"; ORT's C API version equals it for 1.x releases.
int minor_version(const std::string& version) {
  int major = 0, minor = 0;
  if (std::sscanf(version.c_str(), "%d.%d", &major, &minor) != 2) return -1;
  return major == 1 ? minor : 1000;
}

}  // namespace

void load_runtime(const std::string& library_path) {
  RuntimeState& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (s.api != nullptr) {
    if (library_path == s.library_path) return;
    throw Error(ErrorKind::kRuntimeLoad, "ONNX Runtime is already loaded from '" + s.library_path +
                                             "'; cannot also load '" + library_path + "'");
  }
  // RTLD_LOCAL where it matters: the onnxruntime Python module may load its own copy of ORT.
  void* symbol = platform::library_symbol(library_path, "OrtGetApiBase");
  if (symbol == nullptr) {
    throw Error(ErrorKind::kRuntimeLoad,
                "'" + library_path + "' is not an ONNX Runtime library (no OrtGetApiBase symbol)");
  }
  const OrtApiBase* base = reinterpret_cast<GetApiBaseFn>(symbol)();
  const std::string version = base->GetVersionString();
  // Ask only for versions the runtime has: GetApi prints to stderr when it refuses.
  if (minor_version(version) < ORT_API_VERSION) {
    throw Error(ErrorKind::kRuntimeLoad, "ONNX Runtime " + version + " at '" + library_path +
                                             "' is too old: fastort needs ONNX Runtime >= 1." +
                                             std::to_string(ORT_API_VERSION) + " (C API version " +
                                             std::to_string(ORT_API_VERSION) + ")");
  }
  const OrtApi* api = base->GetApi(ORT_API_VERSION);
  if (api == nullptr) {
    throw Error(ErrorKind::kRuntimeLoad, "ONNX Runtime " + version + " at '" + library_path +
                                             "' does not provide C API version " +
                                             std::to_string(ORT_API_VERSION));
  }
  Ort::InitApi(api);
  s.api = api;
  s.version = version;
  s.library_path = library_path;
  detail::install_fork_hooks();
}

bool runtime_loaded() noexcept {
  RuntimeState& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  return s.api != nullptr;
}

std::string runtime_library_path() {
  RuntimeState& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  return s.library_path;
}

std::string runtime_version() {
  RuntimeState& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (s.api == nullptr) throw Error(ErrorKind::kRuntimeLoad, "ONNX Runtime is not loaded");
  return s.version;
}

int compiled_api_version() noexcept { return ORT_API_VERSION; }

uint64_t fork_generation() noexcept { return detail::fork_generation(); }

void install_fork_handlers() { detail::install_fork_hooks(); }

namespace detail {
void runtime_before_fork() { state().mutex.lock(); }
// The environment stays: ORT's process-wide state is copied into the child with it.
void runtime_after_fork(bool) { state().mutex.unlock(); }
}  // namespace detail

Ort::Env& ort_env() {
  RuntimeState& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (s.api == nullptr) throw Error(ErrorKind::kRuntimeLoad, "ONNX Runtime is not loaded");
  if (s.env == nullptr) {
    // ORT's log goes to fastort's collector, not to stderr (see ort_log.hpp).
    s.env = detail::call_ort(ErrorKind::kRuntime, "creating the ONNX Runtime environment", [] {
      return new Ort::Env(ORT_LOGGING_LEVEL_WARNING, "fastort", &collect_log, nullptr);
    });
  }
  return *s.env;
}

}  // namespace fastort
