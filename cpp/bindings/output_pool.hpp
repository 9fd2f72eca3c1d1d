// Small outputs of a fixed shape, written by ONNX Runtime into numpy arrays made before the run
// and kept to be written into again: a run on a tiny model then makes no array, no ORT value
// and frees neither (see OutputPool).
#pragma once

#include <pybind11/pybind11.h>

#include <array>
#include <vector>

#include "fastort/model.hpp"

namespace fastort::bindings {

// The buffers of one run's fixed-shape outputs and the arrays behind them.
struct FixedOutputs {
  std::vector<const OutputBuffer*> buffers;  // parallel to the run's outputs; null: ORT allocates
  std::vector<pybind11::object> arrays;      // parallel: the array behind each buffer
  // Buffers of arrays that no pool keeps, reserved once per run so that `buffers` may point in.
  std::vector<OutputBuffer> own;

  // Empty again (the GIL must be held), keeping the vectors' memory.
  void clear() noexcept;
};

// A session's (or prepared call's) arrays for its small fixed-shape outputs, two per output.
// A run hands its output array to the caller; once the caller has let it go, only the pool
// references it, and a later run writes into it again. Reuse is decided by the reference
// count alone, which every holder of the array raises (views, memoryviews, DLPack capsules,
// torch.from_numpy); an array with a weak reference, or changed in place (shape, dtype,
// flags, memory), is not reused. Used with the GIL held; a slot in use by a run holds a
// reference of that run, so no other thread takes or replaces it while the GIL is released.
class OutputPool {
 public:
  explicit OutputPool(size_t outputs = 0);

 private:
  friend bool take_fixed_outputs(const Model& model, const std::vector<size_t>& outputs,
                                 OutputPool* pool, FixedOutputs& fixed);

  struct Kept {
    pybind11::object array;  // null: a free slot
    OutputBuffer buffer;
    // What the array was made as; one changed in place is made again.
    char* data = nullptr;
    PyObject* descr = nullptr;
    int flags = 0;
  };
  static constexpr size_t kKept = 2;
  // Per model output; sized once, never resized: runs without the GIL point into it.
  std::vector<std::array<Kept, kKept>> kept_;
};

// Into `fixed`, for each of `outputs` (model indices, in result order) that the model
// declares as a numeric tensor of a fixed shape up to 64 KiB: an array of `pool` (null: none)
// that nobody else holds, else a new one (kept by the pool when it has a free slot). False,
// `fixed` untouched, when no output qualifies. The GIL must be held.
bool take_fixed_outputs(const Model& model, const std::vector<size_t>& outputs, OutputPool* pool,
                        FixedOutputs& fixed);

}  // namespace fastort::bindings
