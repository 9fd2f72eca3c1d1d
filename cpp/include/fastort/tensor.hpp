// A borrowed view of tensor memory: what the bindings hand the core and the core hands back.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "fastort/element_type.hpp"

namespace fastort {

// A half-open span of addresses, for telling whether two buffers share memory.
struct ByteRange {
  uintptr_t begin = 0;
  uintptr_t end = 0;

  bool empty() const noexcept { return begin >= end; }
  bool overlaps(const ByteRange& other) const noexcept {
    return !empty() && !other.empty() && begin < other.end && other.begin < end;
  }
};

struct TensorView {
  void* data = nullptr;
  ElementType type = ElementType::kUndefined;
  std::vector<int64_t> shape;
  // Byte strides, numpy's convention. Empty means C-contiguous.
  std::vector<int64_t> strides;
  // For kString tensors: the elements, in C order (data is unused).
  const std::vector<std::string>* strings = nullptr;
  // Only checked for caller-provided output buffers.
  bool writable = true;

  int64_t element_count() const noexcept;
  // True when the memory is dense in C order (or strides are empty).
  bool is_c_contiguous() const noexcept;
  // Bytes from the lowest to one past the highest byte an element occupies, whatever the
  // strides' signs; empty for no elements and for string tensors.
  ByteRange byte_range() const noexcept;
  // Copies the elements, in C order, into element_count() * element_size(type) bytes at
  // `dense`; strides may be negative (numpy's [::-1]). Not for string tensors.
  void copy_to(void* dense) const;
};

// "float32[2,3]"; dims < 0 print as names from dim_names when given, else "?".
std::string describe_tensor(ElementType type, const std::vector<int64_t>& shape,
                            const std::vector<std::string>& dim_names = {});

}  // namespace fastort
