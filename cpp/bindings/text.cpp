#include "text.hpp"

#include <cstring>

namespace py = pybind11;

namespace fastort::bindings {

py::str model_text(std::string_view text) {
  PyObject* decoded =
      PyUnicode_DecodeUTF8(text.data(), static_cast<Py_ssize_t>(text.size()), "surrogateescape");
  if (decoded == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::str>(decoded);
}

py::str message_text(std::string_view text) {
  PyObject* decoded =
      PyUnicode_DecodeUTF8(text.data(), static_cast<Py_ssize_t>(text.size()), "backslashreplace");
  if (decoded == nullptr) {
    // Only memory exhaustion gets here; a message is still better than none.
    PyErr_Clear();
    return py::str("(message not decodable)");
  }
  return py::reinterpret_steal<py::str>(decoded);
}

bool utf8_bytes(py::handle value, std::string_view& bytes, py::object& keep) {
  if (!PyUnicode_Check(value.ptr())) return false;
  Py_ssize_t size = 0;
  if (const char* text = PyUnicode_AsUTF8AndSize(value.ptr(), &size)) {
    bytes = std::string_view(text, static_cast<size_t>(size));
    return true;
  }
  // Lone surrogates: a name read from a model whose bytes are not UTF-8.
  PyErr_Clear();
  PyObject* encoded = PyUnicode_AsEncodedString(value.ptr(), "utf-8", "surrogateescape");
  if (encoded == nullptr) {
    // Surrogates that no decoding produced: no model name can match them.
    PyErr_Clear();
    encoded = PyUnicode_AsEncodedString(value.ptr(), "utf-8", "replace");
    if (encoded == nullptr) throw py::error_already_set();
  }
  keep = py::reinterpret_steal<py::object>(encoded);
  bytes =
      std::string_view(PyBytes_AS_STRING(encoded), static_cast<size_t>(PyBytes_GET_SIZE(encoded)));
  return true;
}

std::string type_name(py::handle value) {
  const char* name = Py_TYPE(value.ptr())->tp_name;
  const char* dot = std::strrchr(name, '.');
  return dot != nullptr ? dot + 1 : name;
}

}  // namespace fastort::bindings
