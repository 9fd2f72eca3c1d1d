#include "fastort/raw_benchmark.hpp"

#include <chrono>

#include "fastort/error.hpp"
#include "ort_error.hpp"

namespace fastort {

double time_raw_runs(const Session& session, const std::vector<TensorView>& inputs,
                     size_t iterations) {
  if (inputs.size() != session.inputs().size()) {
    throw Error(ErrorKind::kInvalidArgument, "time_raw_runs needs every model input, in order");
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    const auto& view = inputs[i];
    if (view.type != session.inputs()[i].element_type || !view.is_c_contiguous() ||
        view.type == ElementType::kString) {
      throw Error(ErrorKind::kInvalidArgument, "time_raw_runs needs dense numeric inputs");
    }
  }
  const Ort::MemoryInfo memory = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
  const auto& output_names = session.output_names();
  return detail::call_ort(ErrorKind::kRuntime, "raw run failed", [&] {
    const auto start = std::chrono::steady_clock::now();
    for (size_t n = 0; n < iterations; ++n) {
      std::vector<Ort::Value> values;
      values.reserve(inputs.size());
      for (const auto& view : inputs) {
        values.push_back(Ort::Value::CreateTensor(
            memory, view.data, view.element_count() * element_size(view.type), view.shape.data(),
            view.shape.size(), static_cast<ONNXTensorElementDataType>(view.type)));
      }
      auto outputs = session.ort_session().Run(
          Ort::RunOptions{nullptr}, session.input_names().data(), values.data(), values.size(),
          output_names.data(), output_names.size());
    }
    const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
    return elapsed.count();
  });
}

}  // namespace fastort
