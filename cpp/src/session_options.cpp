#include "fastort/session_options.hpp"

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <system_error>

#include "fastort/error.hpp"
#include "fastort/ort.hpp"
#include "fastort/thread_pool.hpp"
#include "messages.hpp"
#include "ort_error.hpp"

namespace fastort {
namespace {

constexpr std::pair<const char*, GraphOptimization> kLevels[] = {
    {"disable", GraphOptimization::kDisable},   {"basic", GraphOptimization::kBasic},
    {"extended", GraphOptimization::kExtended}, {"layout", GraphOptimization::kLayout},
    {"all", GraphOptimization::kAll},
};

// Length-prefixed so that no choice of strings can make two option sets collide.
void append_field(std::string& key, const std::string& field) {
  key += std::to_string(field.size());
  key += ':';
  key += field;
}

void check_path(const char* option, const std::string& path) {
  if (path.find('\0') != std::string::npos) {
    throw Error(ErrorKind::kInvalidArgument, std::string(option) + " contains a NUL byte");
  }
}

void check_log_levels(const SessionSettings& options) {
  if (options.log_severity_level < -1 || options.log_severity_level > 4) {
    throw Error(ErrorKind::kInvalidArgument,
                "log_severity_level must be 0 (verbose) to 4 (fatal), or -1 for the process's, "
                "got " +
                    std::to_string(options.log_severity_level));
  }
  if (options.log_verbosity_level < 0) {
    throw Error(ErrorKind::kInvalidArgument, "log_verbosity_level must be >= 0, got " +
                                                 std::to_string(options.log_verbosity_level));
  }
  check_path("log_id", options.log_id);
}

void check_overrides(const char* option, const std::vector<DimensionOverride>& overrides) {
  for (size_t i = 0; i < overrides.size(); ++i) {
    const DimensionOverride& dim = overrides[i];
    if (dim.name.empty() || dim.name.find('\0') != std::string::npos) {
      throw Error(ErrorKind::kInvalidArgument,
                  std::string(option) + ": dimension names must be non-empty, without NUL bytes");
    }
    if (dim.value < 0) {
      throw Error(ErrorKind::kInvalidArgument, std::string(option) + ": dimension '" + dim.name +
                                                   "' must be >= 0, got " +
                                                   std::to_string(dim.value));
    }
    for (size_t j = 0; j < i; ++j) {
      if (overrides[j].name == dim.name) {
        throw Error(ErrorKind::kInvalidArgument,
                    std::string(option) + ": dimension '" + dim.name + "' is given twice");
      }
    }
  }
}

// Every item has a name (non-empty, without NUL bytes) and a value, and no name is given twice.
// `items` are pairs or structs whose first member is the name and second the value.
template <typename Items>
void check_named(const Items& items, const std::string& singular, const std::string& needs) {
  for (size_t i = 0; i < items.size(); ++i) {
    const auto& [name, value] = items[i];
    if (name.empty() || name.find('\0') != std::string::npos || !value) {
      throw Error(ErrorKind::kInvalidArgument,
                  singular + "s need a non-empty name without NUL bytes and " + needs);
    }
    for (size_t j = 0; j < i; ++j) {
      const auto& [other, other_value] = items[j];
      static_cast<void>(other_value);
      if (other == name) {
        throw Error(ErrorKind::kInvalidArgument, singular + " '" + name + "' is given twice");
      }
    }
  }
}

// ORT loads a custom-op library when it is registered; asking it here reports a library that
// does not load (with ORT's error code) before any model is read.
void check_custom_ops_library(const std::string& path) {
  check_path("custom_ops_libraries", path);
  detail::call_ort(ErrorKind::kInvalidArgument, "cannot register custom operators", [&] {
    Ort::SessionOptions probe;
    probe.RegisterCustomOpsLibrary(std::filesystem::path(path).c_str());
  });
}

}  // namespace

GraphOptimization parse_graph_optimization(std::string_view name) {
  for (const auto& [level_name, level] : kLevels) {
    if (name == level_name) return level;
  }
  throw Error(ErrorKind::kInvalidArgument,
              "optimization must be one of 'disable', 'basic', 'extended', 'layout', 'all', got '" +
                  std::string(name) + "'");
}

const char* graph_optimization_name(GraphOptimization level) noexcept {
  for (const auto& [level_name, value] : kLevels) {
    if (value == level) return level_name;
  }
  return "all";
}

void SessionOptions::validate() const {
  check_threads("threads", intra_op_threads);
  check_threads("inter_op_threads", inter_op_threads);
  check_path("optimized_model_path", optimized_model_path);
  check_path("external_data_dir", external_data_dir);
  if (!external_data_dir.empty()) {
    std::error_code error;
    if (!std::filesystem::is_directory(external_data_dir, error)) {
      throw Error(ErrorKind::kInvalidArgument,
                  "external_data_dir is not a folder: '" + external_data_dir + "'");
    }
  }
  settings.validate();
  if (providers.empty()) return;
  const std::vector<std::string> available = detail::call_ort(
      ErrorKind::kRuntime, "listing providers", [] { return Ort::GetAvailableProviders(); });
  for (size_t i = 0; i < providers.size(); ++i) {
    const std::string& name = providers[i].name;
    if (std::find(available.begin(), available.end(), name) == available.end()) {
      throw Error(ErrorKind::kInvalidArgument, "provider '" + name +
                                                   "' is not available in this ONNX Runtime; "
                                                   "available: " +
                                                   detail::quoted_list(available));
    }
    for (size_t j = 0; j < i; ++j) {
      if (providers[j].name == name) {
        throw Error(ErrorKind::kInvalidArgument, "provider '" + name + "' is listed twice");
      }
    }
  }
}

std::string SessionOptions::cache_key() const {
  std::string key;
  append_field(key, std::to_string(intra_op_threads));
  append_field(key, std::to_string(inter_op_threads));
  append_field(key, graph_optimization_name(optimization));
  append_field(key, optimized_model_path);
  append_field(key, external_data_dir);
  key += "|providers";
  for (const auto& provider : providers) {
    append_field(key, provider.name);
    for (const auto& [name, value] : provider.options) {
      append_field(key, name);
      append_field(key, value);
    }
    key += ';';
  }
  key += "|config";
  // Entries are applied in order and a later one wins, so order is part of the key.
  for (const auto& [name, value] : config) {
    append_field(key, name);
    append_field(key, value);
  }
  settings.append_key(key);
  return key;
}

void SessionSettings::validate() const {
  check_log_levels(*this);
  check_path("profile_file_prefix", profile_file_prefix);
  check_named(initializers, "initializer", "a tensor");
  check_named(external_initializers, "initializer", "a tensor");
  check_named(external_files, "external initializer file", "bytes");
  check_overrides("free_dimensions_by_name", free_dimensions_by_name);
  check_overrides("free_dimensions_by_denotation", free_dimensions_by_denotation);
  for (const auto& library : custom_ops_libraries) check_custom_ops_library(library);
}

void SessionSettings::append_key(std::string& key) const {
  key += "|settings";
  for (int value :
       {static_cast<int>(execution_mode), log_severity_level, log_verbosity_level,
        static_cast<int>(enable_profiling), static_cast<int>(enable_mem_pattern),
        static_cast<int>(enable_cpu_mem_arena), static_cast<int>(deterministic_compute)}) {
    append_field(key, std::to_string(value));
  }
  append_field(key, log_id);
  append_field(key, profile_file_prefix);
  key += "|libraries";
  for (const auto& library : custom_ops_libraries) append_field(key, library);
  for (const auto* named : {&initializers, &external_initializers}) {
    key += "|initializers";
    for (const auto& [name, tensor] : *named) {
      append_field(key, name);
      append_field(key, std::to_string(tensor ? tensor->id() : 0));
    }
  }
  key += "|files";
  for (const auto& [name, bytes] : external_files) {
    append_field(key, name);
    append_field(key, std::to_string(reinterpret_cast<uintptr_t>(bytes.get())));
  }
  for (const auto* overrides : {&free_dimensions_by_name, &free_dimensions_by_denotation}) {
    key += "|dimensions";
    for (const auto& [name, value] : *overrides) {
      append_field(key, name);
      append_field(key, std::to_string(value));
    }
  }
}

bool SessionOptions::shareable() const noexcept {
  return !settings.enable_profiling && settings.initializers.empty() &&
         settings.external_initializers.empty() && settings.external_files.empty() &&
         optimized_model_path.empty();
}

}  // namespace fastort
