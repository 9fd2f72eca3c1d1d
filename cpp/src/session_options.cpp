#include "fastort/session_options.hpp"

#include <algorithm>
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
    {"disable", GraphOptimization::kDisable},
    {"basic", GraphOptimization::kBasic},
    {"extended", GraphOptimization::kExtended},
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

}  // namespace

GraphOptimization parse_graph_optimization(std::string_view name) {
  for (const auto& [level_name, level] : kLevels) {
    if (name == level_name) return level;
  }
  throw Error(ErrorKind::kInvalidArgument,
              "optimization must be one of 'disable', 'basic', 'extended', 'all', got '" +
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
  return key;
}

}  // namespace fastort
