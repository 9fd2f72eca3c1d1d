// Options of the ORT session a Model loads, named like onnxruntime's Python API where that
// makes sense.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fastort/thread_pool.hpp"

namespace fastort {

enum class GraphOptimization { kDisable, kBasic, kExtended, kAll };

// "disable" | "basic" | "extended" | "all"; throws Error(kInvalidArgument) otherwise.
GraphOptimization parse_graph_optimization(std::string_view name);
const char* graph_optimization_name(GraphOptimization level) noexcept;

struct ProviderSpec {
  std::string name;  // "CPUExecutionProvider", "CUDAExecutionProvider", ...
  std::vector<std::pair<std::string, std::string>> options;
};

struct SessionOptions {
  static constexpr int kMaxThreads = fastort::kMaxThreads;  // one limit for every option

  int intra_op_threads = 0;  // 0: ORT's default (one per physical core)
  int inter_op_threads = 0;  // 0: ORT's default
  GraphOptimization optimization = GraphOptimization::kAll;
  std::vector<ProviderSpec> providers;  // empty: CPU only
  std::string optimized_model_path;     // where ORT writes the optimised model, if set
  std::vector<std::pair<std::string, std::string>> config;  // raw session config entries
  // Where tensors stored as external data are read from; empty: the model file's folder. A
  // model given as bytes may only reference external data when this is set.
  std::string external_data_dir;

  // Throws Error(kInvalidArgument) for thread counts outside [0, kMaxThreads], providers this
  // runtime does not have, paths with NUL bytes and an external_data_dir that is not a folder.
  void validate() const;

  // A string equal for two option sets exactly when they build the same session.
  std::string cache_key() const;
};

}  // namespace fastort
