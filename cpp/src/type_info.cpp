#include "fastort/type_info.hpp"

#include "fastort/tensor.hpp"
#include "type_info_reader.hpp"

namespace fastort {

std::string ValueInfo::describe() const {
  if (kind == ValueKind::kTensor) return describe_tensor(element_type, shape, dim_names);
  return type_string;
}

namespace detail {

namespace {

void read_tensor(const Ort::ConstTensorTypeAndShapeInfo& tensor, ValueInfo& info) {
  info.element_type = static_cast<ElementType>(tensor.GetElementType());
  info.shape = tensor.GetShape();
  std::vector<const char*> names(info.shape.size(), nullptr);
  if (!names.empty()) tensor.GetSymbolicDimensions(names.data(), names.size());
  info.dim_names.clear();
  for (const char* name : names) info.dim_names.emplace_back(name ? name : "");
}

std::string type_string(const Ort::ConstTypeInfo& type);

std::string tensor_type_string(const char* prefix, ElementType element) {
  return std::string(prefix) + "(" + onnx_type_name(element) + ")";
}

std::string type_string(const Ort::ConstTypeInfo& type) {
  switch (type.GetONNXType()) {
    case ONNX_TYPE_TENSOR:
      return tensor_type_string(
          "tensor", static_cast<ElementType>(type.GetTensorTypeAndShapeInfo().GetElementType()));
    case ONNX_TYPE_SPARSETENSOR:
      return tensor_type_string(
          "sparse_tensor",
          static_cast<ElementType>(type.GetTensorTypeAndShapeInfo().GetElementType()));
    case ONNX_TYPE_SEQUENCE: {
      Ort::TypeInfo element = type.GetSequenceTypeInfo().GetSequenceElementType();
      return "seq(" + type_string(element.GetConst()) + ")";
    }
    case ONNX_TYPE_MAP: {
      auto map = type.GetMapTypeInfo();
      Ort::TypeInfo value = map.GetMapValueType();
      return std::string("map(") + onnx_type_name(static_cast<ElementType>(map.GetMapKeyType())) +
             "," + type_string(value.GetConst()) + ")";
    }
    case ONNX_TYPE_OPTIONAL: {
      Ort::TypeInfo element = type.GetOptionalTypeInfo().GetOptionalElementType();
      return "optional(" + type_string(element.GetConst()) + ")";
    }
    default:
      return "unknown";
  }
}

ValueKind kind_of(ONNXType type) {
  switch (type) {
    case ONNX_TYPE_TENSOR:
      return ValueKind::kTensor;
    case ONNX_TYPE_SEQUENCE:
      return ValueKind::kSequence;
    case ONNX_TYPE_MAP:
      return ValueKind::kMap;
    case ONNX_TYPE_OPTIONAL:
      return ValueKind::kOptional;
    case ONNX_TYPE_SPARSETENSOR:
      return ValueKind::kSparseTensor;
    default:
      return ValueKind::kUnknown;
  }
}

// The element type of the tensors inside a sequence, map or optional, as far as one level of
// nesting in each (deeper nestings are not fed, so they need none).
void read_contents(const Ort::ConstTypeInfo& type, ValueInfo& info) {
  const auto tensor_type = [](const Ort::ConstTypeInfo& inner) {
    return inner.GetONNXType() == ONNX_TYPE_TENSOR
               ? static_cast<ElementType>(inner.GetTensorTypeAndShapeInfo().GetElementType())
               : ElementType::kUndefined;
  };
  switch (type.GetONNXType()) {
    case ONNX_TYPE_SEQUENCE: {
      Ort::TypeInfo element = type.GetSequenceTypeInfo().GetSequenceElementType();
      info.contained = kind_of(element.GetONNXType());
      info.item_type = tensor_type(element.GetConst());
      return;
    }
    case ONNX_TYPE_MAP: {
      auto map = type.GetMapTypeInfo();
      Ort::TypeInfo value = map.GetMapValueType();
      info.contained = kind_of(value.GetONNXType());
      info.key_type = static_cast<ElementType>(map.GetMapKeyType());
      info.item_type = tensor_type(value.GetConst());
      return;
    }
    case ONNX_TYPE_OPTIONAL: {
      Ort::TypeInfo element = type.GetOptionalTypeInfo().GetOptionalElementType();
      info.contained = kind_of(element.GetONNXType());
      if (info.contained == ValueKind::kSequence) {
        Ort::TypeInfo item = element.GetConst().GetSequenceTypeInfo().GetSequenceElementType();
        info.item_type = tensor_type(item.GetConst());
      } else if (info.contained == ValueKind::kTensor) {
        // An optional tensor has the tensor's shape, as onnxruntime's NodeArg reports it.
        info.item_type = tensor_type(element.GetConst());
        const ElementType none = info.element_type;
        read_tensor(element.GetConst().GetTensorTypeAndShapeInfo(), info);
        info.element_type = none;
      }
      return;
    }
    default:
      return;
  }
}

}  // namespace

ValueInfo read_value_info(std::string name, const Ort::TypeInfo& type) {
  ValueInfo info;
  info.name = std::move(name);
  info.kind = kind_of(type.GetONNXType());
  if (info.kind == ValueKind::kTensor || info.kind == ValueKind::kSparseTensor) {
    read_tensor(type.GetTensorTypeAndShapeInfo(), info);
  }
  info.type_string = type_string(type.GetConst());
  read_contents(type.GetConst(), info);
  return info;
}

ValueKind value_kind(ONNXType type) { return kind_of(type); }

}  // namespace detail
}  // namespace fastort
