#include "session_settings.hpp"

#include <atomic>
#include <filesystem>
#include <vector>

#include "fastort/error.hpp"
#include "ort_error.hpp"

namespace fastort {

InitializerTensor::InitializerTensor(std::unique_ptr<std::byte[]> bytes, Ort::Value value,
                                     uint64_t id)
    : bytes_(std::move(bytes)), value_(std::move(value)), id_(id) {}

std::shared_ptr<const InitializerTensor> InitializerTensor::copy_of(const TensorView& view) {
  const size_t item = element_size(view.type);
  if (view.type == ElementType::kString || item == 0) {
    throw Error(ErrorKind::kTypeMismatch, std::string("initializers take numeric tensors, got ") +
                                              element_type_name(view.type));
  }
  for (int64_t dim : view.shape) {
    if (dim < 0) throw Error(ErrorKind::kInvalidArgument, "initializer dimensions must be >= 0");
  }
  const size_t bytes = static_cast<size_t>(view.element_count()) * item;
  std::unique_ptr<std::byte[]> copy(new std::byte[bytes == 0 ? 1 : bytes]);
  view.copy_to(copy.get());
  static std::atomic<uint64_t> next_id{1};
  Ort::Value value = detail::call_ort(ErrorKind::kRuntime, "cannot create an initializer", [&] {
    const auto memory = Ort::MemoryInfo::CreateCpu(OrtDeviceAllocator, OrtMemTypeDefault);
    return Ort::Value::CreateTensor(memory, copy.get(), bytes, view.shape.data(), view.shape.size(),
                                    static_cast<ONNXTensorElementDataType>(view.type));
  });
  return std::make_shared<const InitializerTensor>(std::move(copy), std::move(value),
                                                   next_id.fetch_add(1));
}

namespace detail {

void apply_session_settings(const SessionSettings& options, Ort::SessionOptions& ort_options) {
  const OrtApi& api = Ort::GetApi();  // for what the C++ API does not wrap
  if (options.execution_mode == Execution::kParallel) {
    ort_options.SetExecutionMode(ORT_PARALLEL);
  }
  if (options.log_severity_level >= 0) ort_options.SetLogSeverityLevel(options.log_severity_level);
  if (options.log_verbosity_level > 0) {
    Ort::ThrowOnError(api.SetSessionLogVerbosityLevel(ort_options, options.log_verbosity_level));
  }
  if (!options.log_id.empty()) ort_options.SetLogId(options.log_id.c_str());
  if (options.enable_profiling) {
    ort_options.EnableProfiling(std::filesystem::path(options.profile_file_prefix).c_str());
  }
  if (!options.enable_mem_pattern) ort_options.DisableMemPattern();
  if (!options.enable_cpu_mem_arena) ort_options.DisableCpuMemArena();
  if (options.deterministic_compute) ort_options.SetDeterministicCompute(true);
  for (const auto& library : options.custom_ops_libraries) {
    ort_options.RegisterCustomOpsLibrary(std::filesystem::path(library).c_str());
  }
  // The values stay alive with the options, which the Model keeps as long as its session.
  for (const auto& [name, tensor] : options.initializers) {
    ort_options.AddInitializer(name.c_str(), tensor->value());
  }
  if (!options.external_initializers.empty()) {
    std::vector<const char*> names;
    std::vector<const OrtValue*> values;
    for (const auto& [name, tensor] : options.external_initializers) {
      names.push_back(name.c_str());
      values.push_back(tensor->value());
    }
    Ort::ThrowOnError(
        api.AddExternalInitializers(ort_options, names.data(), values.data(), names.size()));
  }
  if (!options.external_files.empty()) {
    std::vector<std::filesystem::path> paths;
    std::vector<const ORTCHAR_T*> names;
    std::vector<char*> buffers;
    std::vector<size_t> lengths;
    paths.reserve(options.external_files.size());
    for (const auto& [name, bytes] : options.external_files) {
      paths.emplace_back(name);
      names.push_back(paths.back().c_str());
      // ORT reads the bytes and does not write them; its signature is not const.
      buffers.push_back(const_cast<char*>(bytes->data()));
      lengths.push_back(bytes->size());
    }
    Ort::ThrowOnError(api.AddExternalInitializersFromFilesInMemory(
        ort_options, names.data(), buffers.data(), lengths.data(), names.size()));
  }
  for (const auto& [name, value] : options.free_dimensions_by_name) {
    Ort::ThrowOnError(api.AddFreeDimensionOverrideByName(ort_options, name.c_str(), value));
  }
  for (const auto& [denotation, value] : options.free_dimensions_by_denotation) {
    Ort::ThrowOnError(api.AddFreeDimensionOverride(ort_options, denotation.c_str(), value));
  }
}

}  // namespace detail
}  // namespace fastort
