// pickle's protocols 0 and 1 (copyreg's _reduce_ex) copy an object by calling pybind11's
// common base class itself, whose constructor throws a C++ exception out of a C callback: the
// process aborts. So every bound class gets a __reduce_ex__ of its own, unless it has a
// __reduce__: values that carry __getstate__/__setstate__ (the enums) pickle and copy through
// them at every protocol; the others refuse with TypeError, as at protocols 2 and above.
// (The base itself is left alone: it is shared with every module built with the same
// pybind11, and a constructor of our own there would change how their classes' __new__
// behaves. Calling it directly, e.g. type(session).__mro__[-2](), still aborts.)
#include <string>

#include "bindings.hpp"

namespace py = pybind11;

namespace fastort::bindings {
namespace {

py::object reduce_with_state(py::handle self, int /*protocol*/) {
  // What protocol 2 does on its own: a bare instance, then __setstate__(state).
  py::object new_object = py::module_::import("copyreg").attr("__newobj__");
  return py::make_tuple(new_object, py::make_tuple(py::type::of(self)),
                        self.attr("__getstate__")());
}

py::object refuse(py::handle self, int /*protocol*/) {
  const std::string name = py::str(py::type::of(self).attr("__qualname__"));
  throw py::type_error("cannot pickle '" + name + "' object");
}

}  // namespace

void make_pickling_safe(py::handle scope) {
  for (const auto& item : scope.attr("__dict__").cast<py::dict>()) {
    py::handle value = item.second;
    if (!PyType_Check(value.ptr())) continue;
    auto* type = reinterpret_cast<PyTypeObject*>(value.ptr());
    if (py::detail::get_type_info(type) == nullptr) continue;  // not a bound class (the errors)
    const py::object own = value.attr("__dict__");
    if (own.contains("__reduce__") || own.contains("__reduce_ex__")) continue;
    const bool has_state = own.contains("__getstate__") && own.contains("__setstate__");
    value.attr("__reduce_ex__") =
        py::cpp_function(has_state ? reduce_with_state : refuse, py::name("__reduce_ex__"),
                         py::is_method(value), py::arg("protocol"));
  }
}

}  // namespace fastort::bindings
