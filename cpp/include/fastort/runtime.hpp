// The ONNX Runtime library, loaded with dlopen at run time.
//
// fastort is never linked against libonnxruntime: the wheel's library has version-tagged
// symbols, and users pick the runtime (onnxruntime, onnxruntime-gpu, a custom build) by
// installing it. load_runtime() negotiates the C API version the core was compiled against.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "fastort/ort.hpp"

namespace fastort {

// Loads the library at `library_path` once per process. Calling it again with the same path
// is a no-op; with a different path it throws, since one process holds one runtime.
// Throws Error(kRuntimeLoad) naming what was found and what is needed.
void load_runtime(const std::string& library_path);

bool runtime_loaded() noexcept;

// Path passed to the successful load_runtime(), or "" before it.
std::string runtime_library_path();

// Version string of the loaded runtime ("1.21.0"); throws before load_runtime().
std::string runtime_version();

// The ORT C API version the core was compiled against (ORT_API_VERSION).
int compiled_api_version() noexcept;

// The process-wide environment, created on first use; throws before load_runtime().
Ort::Env& ort_env();

// ORT's description of its build ("ORT Build Info: git-branch=..., build type=Release").
std::string runtime_build_info();
// The least severe ORT log records kept from now on, process-wide: 0 (verbose) to 4 (fatal);
// the default is 2 (warning). Throws Error(kInvalidArgument) outside that range.
void set_ort_log_severity(int severity);
// The severity set_ort_log_severity set last (2 before any call).
int ort_log_severity() noexcept;
// ORT's telemetry events (only its Windows builds send any).
void set_ort_telemetry(bool enabled);
// Registers a CPU allocator with ORT's environment, shared by the sessions whose config has
// "session.use_env_allocators" = "1": an arena (`arena_settings`: OrtArenaCfg keys such as
// "max_mem" and their values; ORT's defaults for the keys left out) or, when `arena` is
// false, a plain allocator. Throws Error(kInvalidArgument) for a key ORT does not know.
void register_cpu_allocator(bool arena,
                            const std::vector<std::pair<std::string, size_t>>& arena_settings);

// Registers the core's fork handlers (once; load_runtime() does too). A program that may fork
// while another thread makes the first session calls it before it starts threads: a fork in
// the middle of that first load then waits for it instead of leaving its lock held.
void install_fork_handlers();

// 0 in the process that loaded the runtime, incremented in each fork()ed child. Sessions and
// threads of an earlier generation belong to the parent (see Model's notes on fork).
uint64_t fork_generation() noexcept;

}  // namespace fastort
