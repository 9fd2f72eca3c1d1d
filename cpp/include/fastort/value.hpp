// An ORT value produced by a run, owned by whoever holds the OwnedValue (the Python binding
// hands it to a capsule, so numpy arrays view ORT's memory without a copy).
#pragma once

#include <string>
#include <vector>

#include "fastort/ort.hpp"
#include "fastort/tensor.hpp"
#include "fastort/type_info.hpp"

namespace fastort {

// What a numeric tensor's caller needs to view it, read without allocating: the hot path of
// every run that returns new arrays.
struct TensorHeader {
  static constexpr size_t kMaxRank = 8;
  ElementType type = ElementType::kUndefined;
  void* data = nullptr;  // null for strings and empty tensors
  size_t rank = 0;
  int64_t dims[kMaxRank] = {};
};

class OwnedValue {
 public:
  explicit OwnedValue(Ort::Value value);
  ~OwnedValue();
  OwnedValue(OwnedValue&& other) noexcept;
  OwnedValue& operator=(OwnedValue&& other) noexcept;
  OwnedValue(const OwnedValue&) = delete;
  OwnedValue& operator=(const OwnedValue&) = delete;

  // False for no value at all: a result ORT wrote into a bound buffer.
  bool is_set() const noexcept { return static_cast<const OrtValue*>(value_) != nullptr; }
  ValueKind kind() const;
  // False for an empty optional.
  bool has_value() const;

  // Tensors: the data pointer, element type and shape (strides empty: ORT is C order). Throws
  // Error(kInvalidArgument) for a sparse tensor, which fastort does not return.
  TensorView tensor() const;
  // The same for a tensor of rank <= TensorHeader::kMaxRank, into `header`; false (and
  // `header` unspecified) for a higher rank. Allocates nothing of its own.
  bool tensor_header(TensorHeader& header) const;
  // Whether the value is a sparse tensor.
  bool is_sparse() const noexcept;
  // String tensors: the elements in C order.
  std::vector<std::string> strings() const;

  // Sequences: number of elements and a copy-free handle to one of them.
  size_t sequence_length() const;
  OwnedValue sequence_element(size_t index) const;

  // Maps: ORT stores them as a keys tensor and a values tensor of equal length.
  OwnedValue map_keys() const;
  OwnedValue map_values() const;

 private:
  bool read_header(TensorHeader& header) const;
  TensorView read_tensor() const;

  Ort::Value value_;
};

}  // namespace fastort
