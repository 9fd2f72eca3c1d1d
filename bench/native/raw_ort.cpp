#include "raw_ort.hpp"

#include <filesystem>
#include <stdexcept>

#include "fastort/runtime.hpp"

namespace fastort_bench {

RawSession::RawSession(const std::string& model_path, int intra_op_threads) {
  Ort::SessionOptions options;
  if (intra_op_threads > 0) options.SetIntraOpNumThreads(intra_op_threads);
  options.SetGraphOptimizationLevel(GraphOptimizationLevel::ORT_ENABLE_ALL);
  // ORT takes wide paths on Windows; std::filesystem::path converts.
  const std::filesystem::path path(model_path);
  session_ = Ort::Session(fastort::ort_env(), path.c_str(), options);
  memory_ = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
  Ort::AllocatorWithDefaultOptions allocator;
  for (size_t i = 0; i < session_.GetInputCount(); ++i) {
    fastort::ValueInfo info;
    info.name = session_.GetInputNameAllocated(i, allocator).get();
    const Ort::TypeInfo type = session_.GetInputTypeInfo(i);
    if (type.GetONNXType() == ONNX_TYPE_TENSOR) {
      const auto tensor = type.GetTensorTypeAndShapeInfo();
      info.kind = fastort::ValueKind::kTensor;
      // fastort's element types carry ONNX's values.
      info.element_type = static_cast<fastort::ElementType>(tensor.GetElementType());
      info.shape = tensor.GetShape();
    }
    inputs_.push_back(std::move(info));
  }
  for (size_t i = 0; i < session_.GetOutputCount(); ++i) {
    output_names_.emplace_back(session_.GetOutputNameAllocated(i, allocator).get());
  }
  // Taken after the vectors stop growing, so the pointers stay valid.
  for (const auto& info : inputs_) input_pointers_.push_back(info.name.c_str());
  for (const auto& name : output_names_) output_pointers_.push_back(name.c_str());
}

namespace {
std::vector<Ort::Value> wrap(const Ort::MemoryInfo& memory,
                             const std::vector<fastort::TensorView>& inputs) {
  std::vector<Ort::Value> values;
  values.reserve(inputs.size());
  for (const auto& view : inputs) {
    values.push_back(Ort::Value::CreateTensor(
        memory, view.data, view.element_count() * fastort::element_size(view.type),
        view.shape.data(), view.shape.size(), static_cast<ONNXTensorElementDataType>(view.type)));
  }
  return values;
}
}  // namespace

void RawSession::bind(const std::vector<fastort::TensorView>& inputs) {
  if (inputs.size() != inputs_.size()) {
    throw std::invalid_argument("the raw loop needs every model input, in order");
  }
  bound_ = wrap(memory_, inputs);
}

void RawSession::run_bound() {
  auto outputs = session_.Run(Ort::RunOptions{nullptr}, input_pointers_.data(), bound_.data(),
                              bound_.size(), output_pointers_.data(), output_pointers_.size());
}

void RawSession::run(const std::vector<fastort::TensorView>& inputs) {
  // ORT reads past the end of the name list when the count is wrong, so check here.
  if (inputs.size() != inputs_.size()) {
    throw std::invalid_argument("the raw loop needs every model input, in order");
  }
  std::vector<Ort::Value> values;
  values.reserve(inputs.size());
  for (const auto& view : inputs) {
    values.push_back(Ort::Value::CreateTensor(
        memory_, view.data, view.element_count() * fastort::element_size(view.type),
        view.shape.data(), view.shape.size(), static_cast<ONNXTensorElementDataType>(view.type)));
  }
  auto outputs = session_.Run(Ort::RunOptions{nullptr}, input_pointers_.data(), values.data(),
                              values.size(), output_pointers_.data(), output_pointers_.size());
}

}  // namespace fastort_bench
