// Tensor element types. The values are ONNX's (and ORT's ONNXTensorElementDataType), so a cast
// converts between them; names are numpy's where numpy has the type.
#pragma once

#include <cstddef>
#include <cstdint>

namespace fastort {

enum class ElementType : int32_t {
  kUndefined = 0,
  kFloat32 = 1,
  kUInt8 = 2,
  kInt8 = 3,
  kUInt16 = 4,
  kInt16 = 5,
  kInt32 = 6,
  kInt64 = 7,
  kString = 8,
  kBool = 9,
  kFloat16 = 10,
  kFloat64 = 11,
  kUInt32 = 12,
  kUInt64 = 13,
  kComplex64 = 14,
  kComplex128 = 15,
  kBFloat16 = 16,
  kFloat8E4M3FN = 17,
  kFloat8E4M3FNUZ = 18,
  kFloat8E5M2 = 19,
  kFloat8E5M2FNUZ = 20,
  kUInt4 = 21,
  kInt4 = 22,
};

// Bytes per element; 0 for kString, kUndefined and the packed 4-bit types.
size_t element_size(ElementType type) noexcept;

// "float32", "bfloat16", "string", ...; "undefined" for values outside the enum.
const char* element_type_name(ElementType type) noexcept;

// ONNX's spelling, used in type strings such as "tensor(float)".
const char* onnx_type_name(ElementType type) noexcept;

}  // namespace fastort
