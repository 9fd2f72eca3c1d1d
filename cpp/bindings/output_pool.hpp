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

// A session's (or prepared call's) arrays for its small outputs, two per output. A run hands
// its output array to the caller; once the caller has let it go, only the pool references it,
// and a later run writes into it again. Reuse is decided by the reference count alone, which
// every holder of the array raises (views, memoryviews, DLPack capsules, torch.from_numpy); an
// array with a weak reference, or changed in place (shape, dtype, flags, memory), is not
// reused. Used with the GIL held; a slot in use by a run holds a reference of that run, so no
// other thread takes or replaces it while the GIL is released.
//
// Outputs whose declared shape is not fixed (a dynamic batch axis) are bound too, in quick
// runs (QuickRuns), once a run of the same input shapes (run_key) has shown their shapes: the
// pool learns them from an unbound run and stops binding a key whose bound run failed (an
// output whose shape follows the input values).
class OutputPool {
 public:
  explicit OutputPool(size_t outputs = 0);

  // After a run of `key` expected quick: the shapes of the results ORT made (parallel to
  // `outputs`, model indices; bound ones are empty) that qualify, for later runs of that key
  // to bind.
  void learn(const Model& model, uint64_t key, const std::vector<size_t>& outputs,
             const std::vector<OwnedValue>& results);
  // A bound run of `key` with learned shapes failed: that key's outputs are not bound again.
  void refuse(uint64_t key);

 private:
  friend bool take_fixed_outputs(const Model& model, const std::vector<size_t>& outputs,
                                 uint64_t key, OutputPool* pool, FixedOutputs& fixed,
                                 bool& learned);

  struct Kept {
    pybind11::object array;  // null: a free slot
    OutputBuffer buffer;
    // What the array was made as; one changed in place is made again.
    std::vector<int64_t> shape;
    char* data = nullptr;
    PyObject* descr = nullptr;
    int flags = 0;
  };
  // Whether a kept array is still of `shape` and `type`, C-ordered in the memory it was made
  // with: not reshaped, retyped, resized or made read-only in place.
  static bool as_made(const Kept& kept, const std::vector<int64_t>& shape, ElementType type);

  static constexpr size_t kKept = 2;
  // Per model output; sized once, never resized: runs without the GIL point into it.
  std::vector<std::array<Kept, kKept>> kept_;

  struct Learned {
    uint64_t key = 0;  // 0: none (run_key 0 is never quick)
    bool refused = false;
    std::vector<std::vector<int64_t>> shapes;  // per model output; empty: not bound
  };
  static constexpr size_t kLearnedKeys = 8;
  std::array<Learned, kLearnedKeys> learned_;
  size_t next_learned_ = 0;  // the entry a new key replaces, round robin

  Learned* learned(uint64_t key) noexcept;
};

// Into `fixed`, for each of `outputs` (model indices, in result order) that the model
// declares as a numeric tensor of a fixed shape up to 64 KiB, or whose shape `pool` learned
// for runs of `key`: an array of `pool` (null: none) that nobody else holds, else a new one
// (kept by the pool when it has a free slot). `learned`: whether a learned shape was bound.
// False, `fixed` untouched, when no output qualifies. The GIL must be held.
bool take_fixed_outputs(const Model& model, const std::vector<size_t>& outputs, uint64_t key,
                        OutputPool* pool, FixedOutputs& fixed, bool& learned);

}  // namespace fastort::bindings
