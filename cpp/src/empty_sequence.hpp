// Private: an empty sequence to feed a model, which ORT's C API cannot build directly.
#pragma once

#include "fastort/element_type.hpp"
#include "fastort/ort.hpp"

namespace fastort::detail {

// A new empty seq(tensor(item_type)): the output of a one-node model (ONNX's SequenceEmpty),
// loaded once per element type and kept for the life of the process.
Ort::Value empty_sequence(ElementType item_type);

}  // namespace fastort::detail
