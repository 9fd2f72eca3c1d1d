// Sequence, map and optional inputs: the Python values onnxruntime takes for them (lists of
// arrays, dicts, None) read into NamedInputs for the core.
#include <string_view>

#include "fastort/error.hpp"
#include "numpy_interop.hpp"
#include "run_bindings.hpp"
#include "text.hpp"

namespace py = pybind11;

namespace fastort::bindings {
namespace {

// The input `name` declares, or null (an unknown name, left to the core's message).
const ValueInfo* declared_input(const Model& model, std::string_view name) {
  for (const ValueInfo& info : model.inputs()) {
    if (info.name == name) return &info;
  }
  return nullptr;
}

bool is_integer(ElementType type) {
  switch (type) {
    case ElementType::kInt8:
    case ElementType::kInt16:
    case ElementType::kInt32:
    case ElementType::kInt64:
    case ElementType::kUInt8:
    case ElementType::kUInt16:
    case ElementType::kUInt32:
    case ElementType::kUInt64:
      return true;
    default:
      return false;
  }
}

// A map's keys or values as a 1-D array of `type`, checked item by item first: numpy would
// turn 1.5 into the int64 key 1, or "2" into the float 2.0, without a word.
py::array map_column(const py::list& items, ElementType type, const Subject& subject,
                     const char* what) {
  const bool strings = type == ElementType::kString;
  // Keys are compared after encoding: "\ud800" would become the same key as "?".
  const bool keys = std::string_view(what) == "keys";
  for (py::handle item : items) {
    if (keys && strings && PyUnicode_Check(item.ptr()) &&
        PyUnicode_AsUTF8AndSize(item.ptr(), nullptr) == nullptr) {
      PyErr_Clear();
      throw Error(ErrorKind::kTypeMismatch,
                  subject.text() + ": map keys must be valid UTF-8 text, got " +
                      std::string(py::repr(item)) + " (a lone surrogate)");
    }
    const bool text = PyUnicode_Check(item.ptr()) != 0;
    const bool integer = PyIndex_Check(item.ptr()) != 0 && !PyBool_Check(item.ptr());
    const bool ok = strings ? text
                            : (is_integer(type) ? integer
                                                : !text && !PyBytes_Check(item.ptr()) &&
                                                      PyNumber_Check(item.ptr()) != 0);
    if (!ok) {
      throw Error(ErrorKind::kTypeMismatch, subject.text() + ": map " + what + " must be " +
                                                (strings ? "str" : element_type_name(type)) +
                                                ", got " + type_name(item));
    }
  }
  try {
    return py::module_::import("numpy").attr("asarray")(items, dtype_of(type));
  } catch (py::error_already_set& error) {
    throw Error(ErrorKind::kTypeMismatch,
                subject.text() + ": cannot read the map's " + what + ": " + error.what());
  }
}

}  // namespace

bool borrow_structured(BorrowedCall& call, const Subject& subject, py::handle value,
                       const Model& model) {
  const ValueInfo* info = declared_input(model, subject.name);
  if (info == nullptr || info->kind == ValueKind::kTensor) return false;
  const bool takes_sequence =
      info->kind == ValueKind::kSequence ||
      (info->kind == ValueKind::kOptional && info->contained == ValueKind::kSequence);
  NamedInput input{subject.name, {}};
  if (value.is_none() && info->kind == ValueKind::kOptional) {
    input.kind = ValueKind::kOptional;
  } else if (takes_sequence && (PyList_Check(value.ptr()) || PyTuple_Check(value.ptr()))) {
    input.kind = ValueKind::kSequence;
    // A tuple of the items: converting one may run Python code that changes the list.
    py::tuple items = py::reinterpret_steal<py::tuple>(PySequence_Tuple(value.ptr()));
    if (!items) throw py::error_already_set();
    const Subject element{"an element of input", subject.name};
    for (py::handle item : items) {
      py::array array = as_array(item, element);
      input.parts.push_back(view_of(array, element, call.strings));
      call.references.push_back(std::move(array));
    }
    call.references.push_back(std::move(items));
  } else if (info->kind == ValueKind::kMap && PyDict_Check(value.ptr())) {
    input.kind = ValueKind::kMap;
    py::dict dict = py::reinterpret_borrow<py::dict>(value);
    py::list keys, values;
    for (auto item : dict) {
      keys.append(item.first);
      values.append(item.second);
    }
    for (py::array column : {map_column(keys, info->key_type, subject, "keys"),
                             map_column(values, info->item_type, subject, "values")}) {
      input.parts.push_back(view_of(column, subject, call.strings));
      call.references.push_back(std::move(column));
    }
  } else if (takes_sequence || info->kind == ValueKind::kMap) {
    const char* expected = info->kind == ValueKind::kMap        ? "a dict"
                           : info->kind == ValueKind::kOptional ? "a list of arrays or None"
                                                                : "a list of arrays";
    throw Error(ErrorKind::kTypeMismatch, subject.text() + " is " + info->type_string +
                                              ": expected " + expected + ", got " +
                                              type_name(value));
  } else {
    return false;  // an optional tensor's array, or a type the core refuses
  }
  call.request.inputs.push_back(std::move(input));
  return true;
}

}  // namespace fastort::bindings
