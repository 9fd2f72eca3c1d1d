// What the core tests share: the runtime and sample models named by the environment, and
// views of float vectors.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "check.hpp"
#include "fastort/model.hpp"
#include "fastort/runtime.hpp"

namespace fastort::testing {

// onnxruntime's bundled sample model `name` (FASTORT_TEST_MODELS).
inline std::string model_path(const char* name) {
  return env_or_empty("FASTORT_TEST_MODELS") + "/" + name;
}

// Loads the runtime named by FASTORT_ORT_LIBRARY (once).
inline void load() { load_runtime(env_or_empty("FASTORT_ORT_LIBRARY")); }

inline TensorView float_view(std::vector<float>& data, std::vector<int64_t> shape) {
  TensorView view;
  view.data = data.data();
  view.type = ElementType::kFloat32;
  view.shape = std::move(shape);
  return view;
}

}  // namespace fastort::testing
