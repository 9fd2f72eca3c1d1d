// Options of the ORT session a Model loads, named like onnxruntime's Python API where that
// makes sense.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fastort/ort.hpp"
#include "fastort/tensor.hpp"
#include "fastort/thread_pool.hpp"

namespace fastort {

// The values are ORT's (GraphOptimizationLevel), as onnxruntime's Python enum shows them.
// kLayout (ORT_ENABLE_LAYOUT) needs ONNX Runtime 1.23 or newer.
enum class GraphOptimization { kDisable = 0, kBasic = 1, kExtended = 2, kLayout = 3, kAll = 99 };

// ORT's ExecutionMode: nodes one after another, or independent branches at once on the
// inter-op thread pool.
enum class Execution { kSequential = 0, kParallel = 1 };

// "disable" | "basic" | "extended" | "layout" | "all"; throws Error(kInvalidArgument) otherwise.
GraphOptimization parse_graph_optimization(std::string_view name);
const char* graph_optimization_name(GraphOptimization level) noexcept;

struct ProviderSpec {
  std::string name;  // "CPUExecutionProvider", "CUDAExecutionProvider", ...
  std::vector<std::pair<std::string, std::string>> options;
};

// A tensor that replaces the model's initializer of the same name (onnxruntime's
// SessionOptions.add_initializer). Its elements are copied once, when it is made, so that it
// can neither change nor dangle while sessions use it; copies of the options share it.
class InitializerTensor {
 public:
  // Copies a numeric tensor of any strides; throws Error(kTypeMismatch) for strings and
  // element types without a fixed size.
  static std::shared_ptr<const InitializerTensor> copy_of(const TensorView& view);

  const Ort::Value& value() const noexcept { return value_; }
  // Unique in the process: how cache keys tell tensors apart without hashing their bytes.
  uint64_t id() const noexcept { return id_; }

  InitializerTensor(std::unique_ptr<std::byte[]> bytes, Ort::Value value, uint64_t id);

 private:
  std::unique_ptr<std::byte[]> bytes_;  // what value_ views
  Ort::Value value_;
  uint64_t id_;
};

struct NamedInitializer {
  std::string name;
  std::shared_ptr<const InitializerTensor> tensor;
};

// A dynamic dimension fixed to a value when the model loads, found by its symbolic name or
// by its denotation ("DATA_BATCH").
struct DimensionOverride {
  std::string name;
  int64_t value = 0;
};

// The rest of ONNX Runtime's session options: what onnxruntime's SessionOptions sets beyond
// threads, optimisation, providers and config entries. fastort.Session leaves them at their
// defaults; fastort.onnxruntime sets them. Validated and keyed as part of SessionOptions.
struct SessionSettings {
  Execution execution_mode = Execution::kSequential;
  int log_severity_level = -1;  // the session's ORT log level, 0 (verbose) to 4; -1: the process's
  int log_verbosity_level = 0;  // detail of verbose records (debug builds of ORT only)
  std::string log_id;           // the session's name in ORT's log
  // A JSON trace of every run, written to <profile_file_prefix><date and time>.json; see
  // Model::end_profiling.
  bool enable_profiling = false;
  std::string profile_file_prefix = "onnxruntime_profile_";
  bool enable_mem_pattern = true;
  bool enable_cpu_mem_arena = true;
  bool deterministic_compute = false;
  std::vector<std::string> custom_ops_libraries;  // shared libraries of custom operators
  std::vector<NamedInitializer> initializers;
  // Values of initializers the model keeps as external data, used instead of reading its data
  // files (onnxruntime's add_external_initializers).
  std::vector<NamedInitializer> external_initializers;
  // External data files given as bytes, by the file name the model references (onnxruntime's
  // add_external_initializers_from_files_in_memory); kept as long as the options.
  std::vector<std::pair<std::string, std::shared_ptr<const std::string>>> external_files;
  std::vector<DimensionOverride> free_dimensions_by_name;
  std::vector<DimensionOverride> free_dimensions_by_denotation;

  // Throws Error(kInvalidArgument) for log levels out of range, paths with NUL bytes, unnamed
  // or repeated initializers, external files and dimension overrides, negative dimensions, and
  // custom-op libraries ONNX Runtime cannot load (with ORT's error code).
  void validate() const;
  // Appends a string equal for two settings exactly when they build the same session.
  void append_key(std::string& key) const;
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
  SessionSettings settings;

  // Throws Error(kInvalidArgument) for thread counts outside [0, kMaxThreads], providers this
  // runtime does not have, paths with NUL bytes, an external_data_dir that is not a folder,
  // and what SessionSettings::validate rejects.
  void validate() const;

  // Whether sessions with these options may be shared through the cache: not when profiling
  // (a session's trace and its end are its own), with initializers given in the options, or
  // when the optimised model is to be written (each load writes it; a cache hit would not).
  bool shareable() const noexcept;

  // A string equal for two option sets exactly when they build the same session.
  std::string cache_key() const;
};

}  // namespace fastort
