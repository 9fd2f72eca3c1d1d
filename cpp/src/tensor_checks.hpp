// Private: the checks of a tensor against what a model declares, shared by the input and the
// output side of a run.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "fastort/tensor.hpp"
#include "fastort/type_info.hpp"

namespace fastort::detail {

inline std::string mismatch(const char* role, const ValueInfo& info, const TensorView& view) {
  return std::string(role) + " '" + info.name + "': expected " + info.describe() + ", got " +
         describe_tensor(view.type, view.shape);
}

inline bool shape_matches(const ValueInfo& info, const std::vector<int64_t>& shape) {
  // ONNX Runtime reports a value of unknown rank as one of rank 0, like a scalar, and checks
  // neither: the run decides (onnxruntime feeds such inputs any shape).
  if (info.shape.empty()) return true;
  if (info.shape.size() != shape.size()) return false;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (info.shape[i] >= 0 && info.shape[i] != shape[i]) return false;
  }
  return true;
}

inline bool is_aligned(const TensorView& view) {
  const size_t size = element_size(view.type);
  const size_t alignment = size > 8 ? 8 : (size == 0 ? 1 : size);
  return reinterpret_cast<uintptr_t>(view.data) % alignment == 0;
}

inline size_t byte_size(const TensorView& view) {
  return static_cast<size_t>(view.element_count()) * element_size(view.type);
}

}  // namespace fastort::detail
