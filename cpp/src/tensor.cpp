#include "fastort/tensor.hpp"

#include <cstddef>
#include <cstring>

namespace fastort {

int64_t TensorView::element_count() const noexcept {
  int64_t count = 1;
  for (int64_t dim : shape) count *= dim;
  return count;
}

bool TensorView::is_c_contiguous() const noexcept {
  // numpy ignores strides when there are no elements, and the stride of a dim of length 1.
  if (strides.empty() || element_count() == 0) return true;
  int64_t expected = static_cast<int64_t>(element_size(type));
  for (size_t i = shape.size(); i-- > 0;) {
    if (shape[i] != 1 && strides[i] != expected) return false;
    expected *= shape[i];
  }
  return true;
}

ByteRange TensorView::byte_range() const noexcept {
  const auto item = static_cast<int64_t>(element_size(type));
  if (data == nullptr || item == 0 || element_count() <= 0) return {};
  int64_t low = 0, high = item;  // offsets from data
  if (strides.empty()) {
    high = element_count() * item;
  } else {
    for (size_t d = 0; d < shape.size(); ++d) {
      const int64_t span = (shape[d] - 1) * strides[d];
      (span < 0 ? low : high) += span;
    }
  }
  const auto base = reinterpret_cast<uintptr_t>(data);
  return {base + static_cast<uintptr_t>(low), base + static_cast<uintptr_t>(high)};
}

void TensorView::copy_to(void* dense) const {
  const size_t item = element_size(type);
  auto* destination = static_cast<std::byte*>(dense);
  if (is_c_contiguous()) {
    if (element_count() > 0) std::memcpy(destination, data, element_count() * item);
    return;
  }
  const size_t rank = shape.size();
  const int64_t count = element_count();
  std::vector<int64_t> index(rank, 0);
  const auto* base = static_cast<const std::byte*>(data);
  for (int64_t n = 0; n < count; ++n) {
    int64_t offset = 0;
    for (size_t d = 0; d < rank; ++d) offset += index[d] * strides[d];
    std::memcpy(destination + n * item, base + offset, item);
    for (size_t d = rank; d-- > 0;) {
      if (++index[d] < shape[d]) break;
      index[d] = 0;
    }
  }
}

std::string describe_tensor(ElementType type, const std::vector<int64_t>& shape,
                            const std::vector<std::string>& dim_names) {
  std::string text = element_type_name(type);
  text += '[';
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) text += ',';
    if (shape[i] >= 0) {
      text += std::to_string(shape[i]);
    } else if (i < dim_names.size() && !dim_names[i].empty()) {
      text += dim_names[i];
    } else {
      text += '?';
    }
  }
  text += ']';
  return text;
}

}  // namespace fastort
