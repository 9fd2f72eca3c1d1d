#include "numpy_interop.hpp"

#include <pybind11/gil_safe_call_once.h>

#include <array>

#include "fastort/error.hpp"
#include "text.hpp"

namespace py = pybind11;

namespace fastort::bindings {
namespace {

// numpy's byteorder character of a non-native dtype on this machine.
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
constexpr char kSwappedByteOrder = '<';
#else
constexpr char kSwappedByteOrder = '>';
#endif

// What keeps an output array's memory alive: the ORT value and the session that made it.
struct OutputOwner {
  OwnedValue value;
  std::shared_ptr<const Model> session;
};

// ml_dtypes' type of the given name, or None. The module is looked up once, GIL-safely (see
// ort_logger in runtime_bindings.cpp), and leaked: no Python object is destroyed at exit.
py::object ml_dtype(const char* name) {
  PYBIND11_CONSTINIT static py::gil_safe_call_once_and_store<py::object> storage;
  const py::object& module = storage
                                 .call_once_and_store_result([]() -> py::object {
                                   try {
                                     return py::module_::import("ml_dtypes");
                                   } catch (const py::error_already_set&) {
                                     return py::none();
                                   }
                                 })
                                 .get_stored();
  if (module.is_none() || !py::hasattr(module, name)) return py::none();
  return module.attr(name);
}

}  // namespace

ElementType element_type_of(const py::dtype& dtype, const Subject& subject) {
  const char kind = dtype.kind();
  const auto size = dtype.itemsize();
  switch (kind) {
    case 'b':
      return ElementType::kBool;
    case 'i':
      if (size == 1) return ElementType::kInt8;
      if (size == 2) return ElementType::kInt16;
      if (size == 4) return ElementType::kInt32;
      if (size == 8) return ElementType::kInt64;
      break;
    case 'u':
      if (size == 1) return ElementType::kUInt8;
      if (size == 2) return ElementType::kUInt16;
      if (size == 4) return ElementType::kUInt32;
      if (size == 8) return ElementType::kUInt64;
      break;
    case 'f':
      if (size == 2) return ElementType::kFloat16;
      if (size == 4) return ElementType::kFloat32;
      if (size == 8) return ElementType::kFloat64;
      break;
    case 'c':
      if (size == 8) return ElementType::kComplex64;
      if (size == 16) return ElementType::kComplex128;
      break;
    case 'U':
    case 'S':
    case 'O':
      return ElementType::kString;
    default:
      break;
  }
  // ml_dtypes' types, recognised by name: most are numpy "void"-kind dtypes, but some
  // versions give float8_e5m2 the kind 'f' with an itemsize numpy's own floats never have.
  if (kind == 'V' || kind == 'f') {
    const std::string name = py::str(dtype.attr("name"));
    for (auto type :
         {ElementType::kBFloat16, ElementType::kFloat8E4M3FN, ElementType::kFloat8E4M3FNUZ,
          ElementType::kFloat8E5M2, ElementType::kFloat8E5M2FNUZ}) {
      if (name == element_type_name(type)) return type;
    }
  }
  // Unstructured void (np.void): raw bytes per element, a string tensor as onnxruntime reads it.
  if (kind == 'V' && dtype.attr("fields").is_none()) return ElementType::kString;
  throw Error(
      ErrorKind::kTypeMismatch,
      subject.text() + ": numpy dtype " + std::string(py::str(dtype)) + " has no ONNX equivalent");
}

namespace {

std::vector<std::string> strings_of(const py::array& array, const Subject& subject) {
  std::vector<std::string> items;
  items.reserve(static_cast<size_t>(array.size()));
  for (py::handle item : array.attr("ravel")().attr("tolist")()) {
    std::string_view text;
    py::object keep;
    if (utf8_bytes(item, text, keep)) {
      items.emplace_back(text);
    } else if (PyBytes_Check(item.ptr())) {
      items.emplace_back(PyBytes_AS_STRING(item.ptr()), PyBytes_GET_SIZE(item.ptr()));
    } else {
      throw Error(
          ErrorKind::kTypeMismatch,
          subject.text() + ": string tensors take str or bytes items, got " + type_name(item));
    }
  }
  return items;
}

constexpr const char* kOutputCapsuleName = "fastort.output";

void release_output(PyObject* capsule) {
  delete static_cast<OutputOwner*>(PyCapsule_GetPointer(capsule, kOutputCapsuleName));
}

// An array of `rank` dims (C order) over `data`, kept alive by `capsule` (its base), made with
// numpy's C API directly: pybind11's array constructor copies the shape and computes strides
// in vectors, which costs more than the rest of a tiny model's output.
py::array view_owned_by(ElementType type, size_t rank, const int64_t* dims, void* data,
                        py::object capsule) {
  static_assert(sizeof(Py_intptr_t) == sizeof(int64_t), "numpy dimensions are not 64-bit");
  const auto& api = py::detail::npy_api::get();
  // Null strides: numpy computes C-order ones. The descriptor reference is stolen.
  auto array = py::reinterpret_steal<py::array>(
      api.PyArray_NewFromDescr_(api.PyArray_Type_, dtype_of(type).release().ptr(),
                                static_cast<int>(rank), reinterpret_cast<const Py_intptr_t*>(dims),
                                nullptr, data, py::detail::npy_api::NPY_ARRAY_WRITEABLE_, nullptr));
  if (!array) throw py::error_already_set();
  if (api.PyArray_SetBaseObject_(array.ptr(), capsule.release().ptr()) != 0) {
    throw py::error_already_set();  // the reference was stolen, also on failure
  }
  return array;
}

// A capsule owning what keeps an output's memory alive. A plain PyCapsule: pybind11's capsule
// with a destructor costs several times more.
template <typename Owner>
py::object capsule_of(std::unique_ptr<Owner> owner, const char* name, void (*release)(PyObject*)) {
  auto capsule = py::reinterpret_steal<py::object>(PyCapsule_New(owner.get(), name, release));
  if (!capsule) throw py::error_already_set();
  owner.release();  // the capsule owns it now
  return capsule;
}

// A numeric, non-empty tensor as an array viewing ORT's memory (the output keeps the value
// and its session alive).
py::array view_output(OwnedValue value, ElementType type, size_t rank, const int64_t* dims,
                      void* data, const std::shared_ptr<const Model>& owner) {
  py::object capsule =
      capsule_of(std::make_unique<OutputOwner>(OutputOwner{std::move(value), owner}),
                 kOutputCapsuleName, &release_output);
  return view_owned_by(type, rank, dims, data, std::move(capsule));
}

py::object tensor_to_python(OwnedValue value, const std::shared_ptr<const Model>& owner) {
  // The usual output (numeric, rank <= 8, not empty): its shape read without allocating.
  TensorHeader header;
  if (value.tensor_header(header) && header.type != ElementType::kString &&
      header.data != nullptr) {
    return view_output(std::move(value), header.type, header.rank, header.dims, header.data, owner);
  }
  const TensorView view = value.tensor();
  if (view.type == ElementType::kString) {
    const std::vector<std::string> items = value.strings();
    py::array result(dtype_of(ElementType::kString), view.shape);
    auto** cells = static_cast<PyObject**>(result.mutable_data());
    for (size_t i = 0; i < items.size(); ++i) {
      PyObject* text = PyUnicode_DecodeUTF8(items[i].data(), items[i].size(), "surrogateescape");
      if (text == nullptr) throw py::error_already_set();
      Py_XDECREF(cells[i]);
      cells[i] = text;
    }
    return std::move(result);
  }
  if (view.data == nullptr) return py::array(dtype_of(view.type), view.shape);  // empty tensor
  return view_output(std::move(value), view.type, view.shape.size(), view.shape.data(), view.data,
                     owner);
}

constexpr const char* kSharedCapsuleName = "fastort.shared_output";

void release_shared(PyObject* capsule) {
  delete static_cast<std::shared_ptr<const void>*>(
      PyCapsule_GetPointer(capsule, kSharedCapsuleName));
}

}  // namespace

py::array shared_view(const TensorView& view, std::shared_ptr<const void> owner) {
  if (view.data == nullptr) return py::array(dtype_of(view.type), view.shape);  // empty tensor
  return view_owned_by(view.type, view.shape.size(), view.shape.data(), view.data,
                       capsule_of(std::make_unique<std::shared_ptr<const void>>(std::move(owner)),
                                  kSharedCapsuleName, &release_shared));
}

py::array empty_array(ElementType type, size_t rank, const int64_t* dims) {
  const auto& api = py::detail::npy_api::get();
  // The descriptor reference is stolen; null data: numpy allocates.
  auto array = py::reinterpret_steal<py::array>(api.PyArray_NewFromDescr_(
      api.PyArray_Type_, dtype_of(type).release().ptr(), static_cast<int>(rank),
      reinterpret_cast<const Py_intptr_t*>(dims), nullptr, nullptr, 0, nullptr));
  if (!array) throw py::error_already_set();
  return array;
}

std::string Subject::text() const {
  if (std::string_view(role) == "out") return "out['" + std::string(name) + "']";
  return std::string(role) + " '" + std::string(name) + "'";
}

namespace {

// Whether `value` has the attribute. Unlike hasattr(), only an AttributeError means no: any
// other exception (a KeyboardInterrupt while a property ran) propagates.
bool has_attribute(py::handle value, const char* name) {
  PyObject* attribute = PyObject_GetAttrString(value.ptr(), name);
  if (attribute != nullptr) {
    Py_DECREF(attribute);
    return true;
  }
  if (!PyErr_ExceptionMatches(PyExc_AttributeError)) throw py::error_already_set();
  PyErr_Clear();
  return false;
}

}  // namespace

py::array as_array(py::handle value, const Subject& subject) {
  if (py::isinstance<py::array>(value)) return py::reinterpret_borrow<py::array>(value);
  const bool dlpack = has_attribute(value, "__dlpack__");
  const bool interface = !dlpack && (has_attribute(value, "__array_interface__") ||
                                     has_attribute(value, "__array_struct__"));
  try {
    py::module_ numpy = py::module_::import("numpy");
    if (dlpack) return numpy.attr("from_dlpack")(value);
    if (interface) return numpy.attr("asarray")(value);
  } catch (py::error_already_set& error) {
    if (!error.matches(PyExc_Exception)) throw;  // KeyboardInterrupt, SystemExit
    throw Error(
        ErrorKind::kTypeMismatch,
        subject.text() + ": cannot view the value as an array without copying: " + error.what());
  }
  throw Error(ErrorKind::kTypeMismatch, subject.text() +
                                            ": expected a numpy array (or an object with "
                                            "__dlpack__ or __array_interface__), got " +
                                            type_name(value));
}

TensorView view_of(const py::array& array, const Subject& subject,
                   std::list<std::vector<std::string>>& string_storage,
                   std::vector<int64_t> shape) {
  TensorView view;
  view.shape = std::move(shape);
  const py::dtype dtype = array.dtype();
  view.type = element_type_of(dtype, subject);
  const auto rank = static_cast<size_t>(array.ndim());
  view.shape.assign(array.shape(), array.shape() + rank);
  if (view.type == ElementType::kString) {
    string_storage.push_back(strings_of(array, subject));
    view.strings = &string_storage.back();
    return view;
  }
  if (dtype.byteorder() == kSwappedByteOrder) {
    throw Error(ErrorKind::kTypeMismatch,
                subject.text() +
                    ": array is not in native byte order; use array.astype(array.dtype."
                    "newbyteorder('='))");
  }
  view.data = const_cast<void*>(array.data());
  view.writable = array.writeable();
  if (!(array.flags() & py::array::c_style))
    view.strides.assign(array.strides(), array.strides() + rank);
  return view;
}

namespace {

py::dtype make_dtype(ElementType type) {
  switch (type) {
    case ElementType::kString:
      return py::dtype("O");  // object arrays of str, as onnxruntime returns them
    case ElementType::kBool:
      return py::dtype("bool");
    case ElementType::kBFloat16:
    case ElementType::kFloat8E4M3FN:
    case ElementType::kFloat8E4M3FNUZ:
    case ElementType::kFloat8E5M2:
    case ElementType::kFloat8E5M2FNUZ: {
      py::object special = ml_dtype(element_type_name(type));
      if (!special.is_none()) return py::dtype::from_args(special);
      return py::dtype(element_size(type) == 2 ? "uint16" : "uint8");
    }
    default:
      break;
  }
  if (element_size(type) == 0) {
    throw Error(ErrorKind::kTypeMismatch,
                std::string("element type ") + element_type_name(type) + " has no numpy dtype");
  }
  return py::dtype(element_type_name(type));
}

}  // namespace

py::dtype dtype_of(ElementType type) {
  // Built once per type: parsing a dtype name costs more than the rest of an output's
  // conversion. Leaked on purpose, like every Python object held in a static.
  constexpr size_t kTypes = static_cast<size_t>(ElementType::kInt4) + 1;
  static std::array<py::object*, kTypes> cache{};
  const auto index = static_cast<size_t>(type);
  if (index >= kTypes) return make_dtype(type);  // raises
  if (cache[index] == nullptr) cache[index] = new py::object(make_dtype(type));
  return py::reinterpret_borrow<py::dtype>(*cache[index]);
}

py::object to_python(OwnedValue value, const ValueInfo& declared,
                     const std::shared_ptr<const Model>& owner) {
  // A run always gives an output a value unless it wrote it into a caller's array, which is
  // returned instead: an unset one here is a fault to report, not a pointer to follow.
  if (!value.is_set()) {
    throw Error(ErrorKind::kRuntime, "output '" + declared.name + "' has no value");
  }
  if (declared.kind == ValueKind::kTensor) return tensor_to_python(std::move(value), owner);
  if (!value.has_value()) return py::none();
  switch (value.kind()) {
    case ValueKind::kTensor:
      return tensor_to_python(std::move(value), owner);
    case ValueKind::kSequence: {
      py::list items;
      const size_t length = value.sequence_length();
      for (size_t i = 0; i < length; ++i) {
        items.append(to_python(value.sequence_element(i), ValueInfo{}, owner));
      }
      return std::move(items);
    }
    case ValueKind::kMap: {
      py::object keys = to_python(value.map_keys(), ValueInfo{}, owner).attr("tolist")();
      py::object values = to_python(value.map_values(), ValueInfo{}, owner).attr("tolist")();
      py::dict result;
      py::iterator key = keys.begin(), item = values.begin();
      for (; key != keys.end() && item != values.end(); ++key, ++item) result[*key] = *item;
      return std::move(result);
    }
    default:
      throw Error(ErrorKind::kRuntime, "output '" + declared.name + "' is " + declared.type_string +
                                           ", which fastort cannot convert to Python");
  }
}

}  // namespace fastort::bindings
