// ONNX's element types for numpy dtypes and back: what fastort.onnxruntime's OrtValue reports
// (element_type(), data_type()) and how it makes arrays of an ONNX type.
#include "bindings.hpp"
#include "fastort/element_type.hpp"
#include "fastort/error.hpp"
#include "numpy_interop.hpp"

namespace py = pybind11;

namespace fastort::bindings {
namespace {

ElementType element_type_arg(int type) {
  if (type <= 0 || type > static_cast<int>(ElementType::kInt4)) {
    throw Error(ErrorKind::kInvalidArgument,
                "unknown ONNX element type " + std::to_string(type) + " (TensorProto.DataType)");
  }
  return static_cast<ElementType>(type);
}

}  // namespace

void register_tensor_types(py::module_& m) {
  m.def(
      "element_type_of",
      [](const py::dtype& dtype) {
        return static_cast<int>(element_type_of(dtype, Subject{"dtype", "array"}));
      },
      py::arg("dtype"), "ONNX's element type (TensorProto.DataType) of a numpy dtype.");
  m.def(
      "onnx_type_name", [](int type) { return onnx_type_name(element_type_arg(type)); },
      py::arg("element_type"), "ONNX's name of an element type: 1 -> 'float'.");
  m.def(
      "numpy_dtype", [](int type) { return dtype_of(element_type_arg(type)); },
      py::arg("element_type"),
      "The numpy dtype fastort uses for an ONNX element type (outputs have it).");
}

}  // namespace fastort::bindings
