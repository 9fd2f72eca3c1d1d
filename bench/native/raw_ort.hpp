// The floor that per-call overhead is measured against: ORT's own C++ API on a session of its
// own, doing what a C++ service does per request (wrap the input memory, Run, release the
// outputs). It lives beside the benchmark so that the core's Model exposes no ORT handles.
#pragma once

#include <string>
#include <vector>

#include "fastort/ort.hpp"
#include "fastort/tensor.hpp"
#include "fastort/type_info.hpp"

namespace fastort_bench {

class RawSession {
 public:
  // Loads the model on the core's process-wide environment (fastort::load_runtime must have
  // run) with the options a core Model gets by default: full graph optimisation, and
  // `intra_op_threads` threads (0: ORT's default).
  RawSession(const std::string& model_path, int intra_op_threads);

  // Name, kind, element type and shape (-1 for dynamic dims) of each input, in model order.
  const std::vector<fastort::ValueInfo>& inputs() const noexcept { return inputs_; }

  // One request over dense inputs in model order, all outputs computed and released.
  void run(const std::vector<fastort::TensorView>& inputs);

  // The absolute floor: input values made once (bind) and only Run per call (run_bound),
  // outputs allocated by ORT and released.
  void bind(const std::vector<fastort::TensorView>& inputs);
  void run_bound();

 private:
  Ort::Session session_{nullptr};
  Ort::MemoryInfo memory_{nullptr};
  std::vector<fastort::ValueInfo> inputs_;
  std::vector<std::string> output_names_;
  std::vector<const char*> input_pointers_;  // into inputs_[i].name
  std::vector<const char*> output_pointers_;
  std::vector<Ort::Value> bound_;
};

}  // namespace fastort_bench
