#include "fastort/element_type.hpp"

#include <iterator>

namespace fastort {
namespace {

struct TypeTraits {
  size_t size;
  const char* name;
  const char* onnx_name;
};

// Indexed by the ElementType value.
constexpr TypeTraits kTraits[] = {
    {0, "undefined", "undefined"},
    {4, "float32", "float"},
    {1, "uint8", "uint8"},
    {1, "int8", "int8"},
    {2, "uint16", "uint16"},
    {2, "int16", "int16"},
    {4, "int32", "int32"},
    {8, "int64", "int64"},
    {0, "string", "string"},
    {1, "bool", "bool"},
    {2, "float16", "float16"},
    {8, "float64", "double"},
    {4, "uint32", "uint32"},
    {8, "uint64", "uint64"},
    {8, "complex64", "complex64"},
    {16, "complex128", "complex128"},
    {2, "bfloat16", "bfloat16"},
    {1, "float8_e4m3fn", "float8e4m3fn"},
    {1, "float8_e4m3fnuz", "float8e4m3fnuz"},
    {1, "float8_e5m2", "float8e5m2"},
    {1, "float8_e5m2fnuz", "float8e5m2fnuz"},
    {0, "uint4", "uint4"},
    {0, "int4", "int4"},
};

const TypeTraits& traits(ElementType type) noexcept {
  const auto index = static_cast<size_t>(type);
  return index < std::size(kTraits) ? kTraits[index] : kTraits[0];
}

}  // namespace

size_t element_size(ElementType type) noexcept { return traits(type).size; }
const char* element_type_name(ElementType type) noexcept { return traits(type).name; }
const char* onnx_type_name(ElementType type) noexcept { return traits(type).onnx_name; }

}  // namespace fastort
