#include "fastort/model.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <system_error>
#include <unordered_map>

#include "fastort/error.hpp"
#include "fastort/runtime.hpp"
#include "fork_hooks.hpp"
#include "messages.hpp"
#include "model_scan.hpp"
#include "ort_error.hpp"
#include "platform.hpp"
#include "session_settings.hpp"
#include "type_info_reader.hpp"

namespace fastort {
namespace {

GraphOptimizationLevel to_ort(GraphOptimization level) {
  switch (level) {
    case GraphOptimization::kDisable:
      return ORT_DISABLE_ALL;
    case GraphOptimization::kBasic:
      return ORT_ENABLE_BASIC;
    case GraphOptimization::kExtended:
      return ORT_ENABLE_EXTENDED;
    case GraphOptimization::kLayout: {
      // ORT_ENABLE_LAYOUT, which the headers fastort is built against predate.
      int major = 0, minor = 0;
      std::sscanf(runtime_version().c_str(), "%d.%d", &major, &minor);
      if (major < 1 || (major == 1 && minor < 23)) {
        throw Error(ErrorKind::kInvalidArgument,
                    "optimization 'layout' (ORT_ENABLE_LAYOUT) needs ONNX Runtime 1.23 or newer; "
                    "the loaded runtime is " +
                        runtime_version());
      }
      return static_cast<GraphOptimizationLevel>(3);
    }
    case GraphOptimization::kAll:
      break;
  }
  return ORT_ENABLE_ALL;
}

// Names accepted by ORT's generic SessionOptionsAppendExecutionProvider.
const char* generic_provider_name(const std::string& name) {
  static constexpr std::pair<const char*, const char*> kNames[] = {
      {"XnnpackExecutionProvider", "XNNPACK"}, {"QNNExecutionProvider", "QNN"},
      {"SNPEExecutionProvider", "SNPE"},       {"OpenVINOExecutionProvider", "OpenVINO"},
      {"AzureExecutionProvider", "AZURE"},     {"WebGpuExecutionProvider", "WebGPU"},
      {"CoreMLExecutionProvider", "CoreML"},   {"VitisAIExecutionProvider", "VitisAI"},
  };
  for (const auto& [long_name, short_name] : kNames) {
    if (name == long_name) return short_name;
  }
  return nullptr;
}

void append_cuda(Ort::SessionOptions& ort_options, const ProviderSpec& provider) {
  const OrtApi& api = Ort::GetApi();
  OrtCUDAProviderOptionsV2* cuda = nullptr;
  Ort::ThrowOnError(api.CreateCUDAProviderOptions(&cuda));
  std::unique_ptr<OrtCUDAProviderOptionsV2, decltype(api.ReleaseCUDAProviderOptions)> owner(
      cuda, api.ReleaseCUDAProviderOptions);
  std::vector<const char*> keys, values;
  for (const auto& [key, value] : provider.options) {
    keys.push_back(key.c_str());
    values.push_back(value.c_str());
  }
  Ort::ThrowOnError(api.UpdateCUDAProviderOptions(cuda, keys.data(), values.data(), keys.size()));
  ort_options.AppendExecutionProvider_CUDA_V2(*cuda);
}

void append_provider(Ort::SessionOptions& ort_options, const ProviderSpec& provider) {
  if (provider.name == "CPUExecutionProvider") {
    for (const auto& [key, value] : provider.options) {
      if (key == "use_arena" && (value == "0" || value == "False" || value == "false")) {
        ort_options.DisableCpuMemArena();
      } else if (key != "use_arena") {
        throw Error(ErrorKind::kInvalidArgument,
                    "CPUExecutionProvider has no option '" + key + "' (known: use_arena)");
      }
    }
  } else if (provider.name == "CUDAExecutionProvider") {
    append_cuda(ort_options, provider);
  } else if (const char* short_name = generic_provider_name(provider.name)) {
    std::unordered_map<std::string, std::string> options(provider.options.begin(),
                                                         provider.options.end());
    ort_options.AppendExecutionProvider(short_name, options);
  } else {
    throw Error(ErrorKind::kInvalidArgument,
                "provider '" + provider.name + "' is available but fastort cannot configure it");
  }
}

Ort::SessionOptions make_ort_options(const SessionOptions& options) {
  options.validate();
  return detail::call_ort(ErrorKind::kInvalidArgument, "invalid session options", [&] {
    Ort::SessionOptions ort_options;
    if (options.intra_op_threads > 0) ort_options.SetIntraOpNumThreads(options.intra_op_threads);
    if (options.inter_op_threads > 0) ort_options.SetInterOpNumThreads(options.inter_op_threads);
    ort_options.SetGraphOptimizationLevel(to_ort(options.optimization));
    if (!options.optimized_model_path.empty()) {
      const std::filesystem::path path(options.optimized_model_path);
      ort_options.SetOptimizedModelFilePath(path.c_str());
    }
    for (const auto& [key, value] : options.config) {
      ort_options.AddConfigEntry(key.c_str(), value.c_str());
    }
    if (!options.external_data_dir.empty()) {
      ort_options.AddConfigEntry("session.model_external_initializers_file_folder_path",
                                 options.external_data_dir.c_str());
    }
    detail::apply_session_settings(options.settings, ort_options);
    for (const auto& provider : options.providers) append_provider(ort_options, provider);
    return ort_options;
  });
}

void check_model_file(const std::string& path) {
  if (path.find('\0') != std::string::npos) {
    throw Error(ErrorKind::kInvalidArgument, "model path contains a NUL byte");
  }
  std::error_code error;
  const auto status = std::filesystem::status(path, error);
  if (status.type() == std::filesystem::file_type::not_found) {
    throw Error(ErrorKind::kFileNotFound, "no such model file: '" + path + "'", kNoOrtCode, path);
  }
  if (status.type() == std::filesystem::file_type::directory) {
    throw Error(ErrorKind::kIsADirectory, "model path is a directory: '" + path + "'", kNoOrtCode,
                path);
  }
  if (error) {
    throw Error(ErrorKind::kInvalidModel, "cannot read model '" + path + "': " + error.message());
  }
  if (std::filesystem::is_regular_file(status) && std::filesystem::file_size(path, error) == 0) {
    throw Error(ErrorKind::kInvalidModel, "model file is empty: '" + path + "'");
  }
}

// The external data files a model names, resolved against `folder`, each with its stamp taken
// before ORT reads it (so a file replaced during the load is seen as changed afterwards).
std::vector<ExternalFile> external_files(const std::vector<std::string>& locations,
                                         const std::filesystem::path& folder) {
  std::vector<ExternalFile> files;
  for (const auto& location : locations) {
    const std::string path = (folder / std::filesystem::path(location)).string();
    files.push_back(ExternalFile{path, platform::file_stamp(path)});
  }
  return files;
}

// ORT's load errors start by naming the file again ("Load model from m.onnx failed:...").
std::string without_repeated_path(std::string message, const std::string& path) {
  const std::string prefix = "Load model from " + path + " failed:";
  if (message.compare(0, prefix.size(), prefix) == 0) message.erase(0, prefix.size());
  while (!message.empty() && message.front() == ' ') message.erase(0, 1);
  return message;
}

ModelMetadata read_metadata(const Ort::Session& session) {
  Ort::AllocatorWithDefaultOptions allocator;
  Ort::ModelMetadata meta = session.GetModelMetadata();
  ModelMetadata result;
  result.producer_name = meta.GetProducerNameAllocated(allocator).get();
  result.graph_name = meta.GetGraphNameAllocated(allocator).get();
  result.domain = meta.GetDomainAllocated(allocator).get();
  result.description = meta.GetDescriptionAllocated(allocator).get();
  result.graph_description = meta.GetGraphDescriptionAllocated(allocator).get();
  result.version = meta.GetVersion();
  for (const auto& key : meta.GetCustomMetadataMapKeysAllocated(allocator)) {
    result.custom_metadata_map[key.get()] =
        meta.LookupCustomMetadataMapAllocated(key.get(), allocator).get();
  }
  return result;
}

}  // namespace

Model::Model(Ort::Session session, SessionOptions options, std::vector<ExternalFile> external)
    : session_(std::move(session)),
      options_(std::move(options)),
      external_data_(std::move(external)),
      cpu_memory_(Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault)),
      generation_(fork_generation()) {
  detail::call_ort(ErrorKind::kInvalidModel, "cannot read the model's signature", [&] {
    Ort::AllocatorWithDefaultOptions allocator;
    for (size_t i = 0; i < session_.GetInputCount(); ++i) {
      inputs_.push_back(detail::read_value_info(session_.GetInputNameAllocated(i, allocator).get(),
                                                session_.GetInputTypeInfo(i)));
    }
    for (size_t i = 0; i < session_.GetOutputCount(); ++i) {
      outputs_.push_back(detail::read_value_info(
          session_.GetOutputNameAllocated(i, allocator).get(), session_.GetOutputTypeInfo(i)));
    }
    for (size_t i = 0; i < session_.GetOverridableInitializerCount(); ++i) {
      overridable_.push_back(detail::read_value_info(
          session_.GetOverridableInitializerNameAllocated(i, allocator).get(),
          session_.GetOverridableInitializerTypeInfo(i)));
    }
    metadata_ = read_metadata(session_);
  });
  // Custom operators may call back into Python from ORT's threads (onnxruntime-extensions'
  // Python ops do), as may nodes run side by side on the inter-op pool: the GIL must be free.
  if (!options_.settings.custom_ops_libraries.empty() ||
      options_.settings.execution_mode == Execution::kParallel) {
    quick_runs_.never();
  }
  // Filled after the vectors stop growing, so the pointers stay valid.
  for (const auto& info : inputs_) input_names_.push_back(info.name.c_str());
  for (const auto& info : overridable_) input_names_.push_back(info.name.c_str());
  for (const auto& info : outputs_) output_names_.push_back(info.name.c_str());
  for (const auto& output : outputs_) {
    size_t source = kNoInput;
    for (size_t i = 0; i < inputs_.size(); ++i) {
      if (inputs_[i].name == output.name) source = i;
    }
    passthrough_.push_back(source);
    has_passthrough_ = has_passthrough_ || source != kNoInput;
  }
  for (size_t k = 0; k < outputs_.size(); ++k) {
    bool takes = passthrough_[k] == kNoInput;
    for (const ValueInfo& initializer : overridable_) takes &= initializer.name != outputs_[k].name;
    for (size_t j = 0; j < outputs_.size(); ++j)
      takes &= j == k || outputs_[j].name != outputs_[k].name;
    takes_buffer_.push_back(takes);
  }
}

std::shared_ptr<Model> Model::load_file(const std::string& path, const SessionOptions& options) {
  check_model_file(path);
  Ort::SessionOptions ort_options = make_ort_options(options);
  std::ifstream file(path, std::ios::binary);
  const std::filesystem::path native_path(path);
  const std::filesystem::path folder = options.external_data_dir.empty()
                                           ? native_path.parent_path()
                                           : std::filesystem::path(options.external_data_dir);
  std::vector<ExternalFile> external =
      external_files(detail::external_data_locations(file), folder);
  Ort::Session session = [&] {
    try {
      const detail::OrtStateChange loading;
      return Ort::Session(ort_env(), native_path.c_str(), ort_options);
    } catch (const Ort::Exception& e) {
      throw Error(ErrorKind::kInvalidModel,
                  "cannot load model '" + path + "': " + without_repeated_path(e.what(), path),
                  static_cast<int>(e.GetOrtErrorCode()));
    }
  }();
  return std::make_shared<Model>(std::move(session), options, std::move(external));
}

std::shared_ptr<Model> Model::load_bytes(std::string_view model, const SessionOptions& options) {
  if (model.empty()) throw Error(ErrorKind::kInvalidModel, "model bytes are empty");
  Ort::SessionOptions ort_options = make_ort_options(options);
  const std::vector<std::string> locations = detail::external_data_locations(model);
  // Without a folder, ORT would read them relative to the working directory: an uploaded
  // model could name any file there and get it back as an output.
  if (!locations.empty() && options.external_data_dir.empty()) {
    throw Error(ErrorKind::kInvalidModel,
                "the model references external data (" + detail::quoted_list(locations) +
                    "); a model given as bytes reads external data only from a folder named "
                    "with external_data_dir=");
  }
  std::vector<ExternalFile> external = external_files(locations, options.external_data_dir);
  Ort::Session session =
      detail::call_ort(ErrorKind::kInvalidModel, "cannot load model from bytes", [&] {
        const detail::OrtStateChange loading;
        return Ort::Session(ort_env(), model.data(), model.size(), ort_options);
      });
  return std::make_shared<Model>(std::move(session), options, std::move(external));
}

Model::~Model() {
  if (generation_ != fork_generation()) {
    static_cast<void>(session_.release());
    return;
  }
  const detail::OrtStateChange unloading;
  session_ = Ort::Session{nullptr};
}

std::vector<std::string> Model::providers() const {
  std::vector<std::string> names;
  for (const auto& provider : options_.providers) {
    if (provider.name != "CPUExecutionProvider") names.push_back(provider.name);
  }
  names.emplace_back("CPUExecutionProvider");
  return names;
}

size_t Model::output_index(std::string_view name) const {
  for (size_t i = 0; i < outputs_.size(); ++i) {
    if (outputs_[i].name == name) return i;
  }
  throw Error(ErrorKind::kInvalidArgument,
              "unknown output '" + std::string(name) +
                  "'; model outputs: " + detail::quoted_names(outputs_));
}

}  // namespace fastort
