// Static description of a model input or output, read once when a session loads.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "fastort/element_type.hpp"

namespace fastort {

enum class ValueKind { kTensor, kSequence, kMap, kOptional, kSparseTensor, kUnknown };

struct ValueInfo {
  std::string name;
  ValueKind kind = ValueKind::kUnknown;
  // For tensors (and sparse tensors): element type and shape, with -1 for dynamic dims. An
  // optional tensor has the tensor's shape (its element type is item_type).
  ElementType element_type = ElementType::kUndefined;
  std::vector<int64_t> shape;
  // Same length as shape: the symbolic name of each dynamic dim, "" where there is none.
  std::vector<std::string> dim_names;
  // ONNX's spelling of the whole type: "tensor(float)", "seq(map(int64,tensor(float)))".
  std::string type_string;
  // What a fed sequence, map or optional is made of (kUnknown/kUndefined for tensors):
  // `contained` is the kind a sequence's elements or an optional's value have, `item_type`
  // the element type of the tensors inside (T in seq(tensor(T)), map(K,tensor(T)),
  // optional(tensor(T)), optional(seq(tensor(T)))) and `key_type` a map's K.
  ValueKind contained = ValueKind::kUnknown;
  ElementType item_type = ElementType::kUndefined;
  ElementType key_type = ElementType::kUndefined;

  // "float32[N,3,224,224]" for tensors, type_string otherwise.
  std::string describe() const;

  bool operator==(const ValueInfo& other) const {
    return name == other.name && kind == other.kind && element_type == other.element_type &&
           shape == other.shape && dim_names == other.dim_names && type_string == other.type_string;
  }
};

}  // namespace fastort
