// Model's inputs: a request's inputs matched to the model's and checked (ORT crashes or misreads
// memory on some mismatches), and the ORT values they are fed as: tensors over the caller's
// memory, sequences and optionals from copies, maps from their keys and values.
#include <cstring>

#include "empty_sequence.hpp"
#include "fastort/debug_counters.hpp"
#include "fastort/error.hpp"
#include "fastort/model.hpp"
#include "messages.hpp"
#include "tensor_checks.hpp"

namespace fastort {

namespace {

using detail::byte_size;
using detail::is_aligned;
using detail::mismatch;
using detail::shape_matches;

// A tensor in ORT's memory holding `view`'s elements (strings included).
Ort::Value owned_copy(const TensorView& view) {
  Ort::AllocatorWithDefaultOptions allocator;
  Ort::Value value = Ort::Value::CreateTensor(allocator, view.shape.data(), view.shape.size(),
                                              static_cast<ONNXTensorElementDataType>(view.type));
  if (view.type == ElementType::kString) {
    // By length, not as C strings: an element may contain NUL bytes.
    for (size_t k = 0; k < view.strings->size(); ++k) {
      const std::string& item = (*view.strings)[k];
      char* buffer = value.GetResizedStringTensorElementBuffer(k, item.size());
      if (!item.empty()) std::memcpy(buffer, item.data(), item.size());
    }
    return value;
  }
  if (view.element_count() > 0) view.copy_to(value.GetTensorMutableRawData());
  detail::count_input_copy(byte_size(view));
  return value;
}

}  // namespace

void Model::validate_tensor(const ValueInfo& info, const TensorView& view,
                            ElementType expected) const {
  // `expected`: the input's own element type, or a sequence's, map's or optional's item type.
  if (view.type != expected) {
    throw Error(ErrorKind::kTypeMismatch, mismatch("input", info, view));
  }
  if (view.type == ElementType::kString && view.strings == nullptr) {
    throw Error(ErrorKind::kTypeMismatch, "input '" + info.name + "': expected strings");
  }
  if (view.type != ElementType::kString && element_size(view.type) == 0) {
    throw Error(ErrorKind::kTypeMismatch, "input '" + info.name + "': element type " +
                                              element_type_name(view.type) + " is not supported");
  }
}

void Model::validate_input(const ValueInfo& info, const NamedInput& input) const {
  const auto expected = [&](const char* what) {
    return Error(ErrorKind::kTypeMismatch,
                 "input '" + info.name + "' is " + info.type_string + ": expected " + what);
  };
  // Sequences and optionals of tensors and maps of tensors are what ORT's C API can build.
  const auto feedable = [&](bool can) {
    if (!can) {
      throw Error(ErrorKind::kInvalidArgument,
                  "input '" + info.name + "' is " + info.type_string +
                      "; fastort feeds tensors, sequences of tensors, maps of tensors and "
                      "optionals of those, not this type");
    }
  };
  switch (info.kind) {
    case ValueKind::kTensor:
      if (input.kind != ValueKind::kTensor) {
        throw Error(ErrorKind::kTypeMismatch,
                    "input '" + info.name + "': expected " + info.describe() + ", got " +
                        (input.kind == ValueKind::kOptional ? std::string("None")
                                                            : std::string("a sequence or map")));
      }
      validate_tensor(info, input.tensor, info.element_type);
      if (!shape_matches(info, input.tensor.shape)) {
        throw Error(ErrorKind::kInvalidArgument, mismatch("input", info, input.tensor));
      }
      return;
    case ValueKind::kSequence:
      feedable(info.contained == ValueKind::kTensor && info.item_type != ElementType::kUndefined);
      if (input.kind != ValueKind::kSequence) throw expected("a list of arrays");
      for (const TensorView& element : input.parts) validate_tensor(info, element, info.item_type);
      return;
    case ValueKind::kMap:
      // The maps ORT can make: int64 or string keys to string, int64, float or double.
      feedable(info.contained == ValueKind::kTensor &&
               (info.key_type == ElementType::kInt64 || info.key_type == ElementType::kString) &&
               (info.item_type == ElementType::kString || info.item_type == ElementType::kInt64 ||
                info.item_type == ElementType::kFloat32 ||
                info.item_type == ElementType::kFloat64));
      if (input.kind != ValueKind::kMap || input.parts.size() != 2) throw expected("a dict");
      validate_tensor(info, input.parts[0], info.key_type);
      validate_tensor(info, input.parts[1], info.item_type);
      if (input.parts[0].shape.size() != 1 || input.parts[0].shape != input.parts[1].shape) {
        throw Error(ErrorKind::kInvalidArgument, "input '" + info.name +
                                                     "': a map's keys and values must be two 1-D "
                                                     "arrays of one length");
      }
      return;
    case ValueKind::kOptional:
      feedable((info.contained == ValueKind::kTensor || info.contained == ValueKind::kSequence) &&
               info.item_type != ElementType::kUndefined);
      if (input.kind == ValueKind::kOptional) return;  // None
      if (info.contained == ValueKind::kTensor) {
        if (input.kind != ValueKind::kTensor) throw expected("an array or None");
        validate_tensor(info, input.tensor, info.item_type);
        if (!shape_matches(info, input.tensor.shape)) {
          throw Error(ErrorKind::kInvalidArgument,
                      "input '" + info.name + "': expected " +
                          describe_tensor(info.item_type, info.shape, info.dim_names) +
                          " or None, got " +
                          describe_tensor(input.tensor.type, input.tensor.shape));
        }
        return;
      }
      if (input.kind != ValueKind::kSequence) throw expected("a list of arrays or None");
      for (const TensorView& element : input.parts) validate_tensor(info, element, info.item_type);
      return;
    default:
      feedable(false);
  }
}

size_t Model::feed_index(std::string_view name) const {
  for (size_t i = 0; i < inputs_.size(); ++i) {
    if (inputs_[i].name == name) return i;
  }
  for (size_t i = 0; i < overridable_.size(); ++i) {
    if (overridable_[i].name == name) return inputs_.size() + i;
  }
  throw Error(ErrorKind::kInvalidArgument, "unknown input '" + std::string(name) +
                                               "'; model inputs: " + detail::quoted_names(inputs_));
}

std::vector<const NamedInput*> Model::match_inputs(const std::vector<NamedInput>& inputs) const {
  std::vector<const NamedInput*> by_index;
  match_inputs(inputs, by_index);
  return by_index;
}

void Model::match_inputs(const std::vector<NamedInput>& inputs,
                         std::vector<const NamedInput*>& by_index) const {
  // Model inputs, then overridable initializers (fed only when given). ORT crashes if the
  // count is wrong, so everything is checked here.
  by_index.assign(inputs_.size() + overridable_.size(), nullptr);
  for (const NamedInput& input : inputs) {
    const size_t index = feed_index(input.name);
    if (by_index[index] != nullptr) {
      throw Error(ErrorKind::kInvalidArgument, "input '" + fed(index).name + "' given twice");
    }
    by_index[index] = &input;
  }
  for (size_t i = 0; i < by_index.size(); ++i) {
    if (by_index[i] != nullptr) {
      validate_input(fed(i), *by_index[i]);
    } else if (i < inputs_.size() && inputs_[i].kind != ValueKind::kOptional) {
      // An optional input left out is one without a value, as ONNX Runtime takes it.
      throw Error(ErrorKind::kInvalidArgument,
                  "missing input '" + inputs_[i].name + "' (" + inputs_[i].describe() + ")");
    }
  }
}

Ort::Value Model::tensor_value(const TensorView& view, const ValueInfo& fed, bool allow_copy,
                               PreparedRun& prepared) const {
  if (view.type == ElementType::kString) return owned_copy(view);
  void* data = view.data;
  const size_t bytes = byte_size(view);
  if (!view.is_c_contiguous() || !is_aligned(view)) {
    if (!allow_copy) {
      throw Error(ErrorKind::kInvalidArgument,
                  "input '" + fed.name +
                      "' is not a C-contiguous, aligned array and strict mode forbids a "
                      "copy; pass numpy.ascontiguousarray(value)");
    }
    prepared.copies_.emplace_back(new std::byte[bytes == 0 ? 1 : bytes]);
    view.copy_to(prepared.copies_.back().get());
    detail::count_input_copy(bytes);
    data = prepared.copies_.back().get();
  }
  return Ort::Value::CreateTensor(cpu_memory_, data, bytes, view.shape.data(), view.shape.size(),
                                  static_cast<ONNXTensorElementDataType>(view.type));
}

Ort::Value Model::input_value(const NamedInput& input, const ValueInfo& fed, bool allow_copy,
                              PreparedRun& prepared) const {
  if (fed.kind == ValueKind::kTensor) return tensor_value(input.tensor, fed, allow_copy, prepared);
  // Sequences and optionals are made of copies in ORT's memory: ORT's sequence operators (and
  // an optional passed through) return outputs that share their elements' memory, which the
  // caller's arrays could not guarantee beyond the run. Maps copy their pairs anyway.
  if (input.kind == ValueKind::kTensor) return owned_copy(input.tensor);
  if (input.kind == ValueKind::kMap) {
    return Ort::Value::CreateMap(tensor_value(input.parts[0], fed, allow_copy, prepared),
                                 tensor_value(input.parts[1], fed, allow_copy, prepared));
  }
  // ORT's C API builds no empty sequence; a one-node model makes one of the element type.
  if (input.parts.empty()) return detail::empty_sequence(fed.item_type);
  std::vector<Ort::Value> elements;
  elements.reserve(input.parts.size());
  for (const TensorView& part : input.parts) elements.push_back(owned_copy(part));
  return Ort::Value::CreateSequence(elements);
}

}  // namespace fastort
