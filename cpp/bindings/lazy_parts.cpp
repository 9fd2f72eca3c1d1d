// The parts of fastort._core that a session does not need (images, the batcher, onnxruntime's
// enums) are registered on first use, not at import: registering bindings is most of what
// importing the extension costs, and `import fastort` must stay cheap. The module's
// __getattr__ (PEP 562) registers the part that defines a missing name, so `_core.X` works
// from any caller, pickle included; __dir__ and __all__ list every part's names.
#include <pybind11/gil_safe_call_once.h>

#include <string>
#include <string_view>

#include "bindings.hpp"

namespace py = pybind11;

namespace fastort::bindings {
namespace {

struct LazyPart {
  void (*register_part)(py::module_&);
  // Every name the part's registration adds to the module, then nullptr (tests/test_import.py
  // checks the list).
  const char* names[8];
};

void register_images(py::module_& m) {
  register_image(m);  // the transform takes DecodedImage values: one part
  register_decode(m);
}

const LazyPart kParts[] = {
    {register_images,
     {"ImageTransformSpec", "transform_images", "MAX_IMAGE_SIDE", "MAX_INPUT_SIDE", "DecodedImage",
      "decode_images", "jpeg_library"}},
    {register_serving, {"BatchFuture", "BatcherBase", "CompletionQueue"}},
    {register_onnxruntime_enums,
     {"GraphOptimizationLevel", "ExecutionMode", "graph_optimization_name"}},
};
constexpr size_t kPartCount = sizeof(kParts) / sizeof(kParts[0]);

// Once per part, whichever thread asks first; a thread that asks meanwhile waits without the
// GIL.
py::gil_safe_call_once_and_store<bool>& registered(size_t part) {
  PYBIND11_CONSTINIT static py::gil_safe_call_once_and_store<bool> once[kPartCount];
  return once[part];
}

// Keeps the cyclic garbage collector off while a part is registered: a collection could run
// finalizers (Python code), which could hand the GIL to another thread, or fork, in the
// middle of a registration. With no collection, no Python code runs until it is done.
class NoCollection {
 public:
#if PY_VERSION_HEX >= 0x030A0000
  NoCollection() : was_enabled_(PyGC_Disable() != 0) {}
  ~NoCollection() {
    if (was_enabled_) PyGC_Enable();
  }
#else  // Python 3.9: through the gc module
  NoCollection()
      : gc_(py::module_::import("gc")), was_enabled_(gc_.attr("isenabled")().cast<bool>()) {
    gc_.attr("disable")();
  }
  ~NoCollection() {
    if (!was_enabled_) return;
    try {
      gc_.attr("enable")();
    } catch (const py::error_already_set&) {
      PyErr_Clear();
    }
  }
#endif
  NoCollection(const NoCollection&) = delete;
  NoCollection& operator=(const NoCollection&) = delete;

 private:
#if PY_VERSION_HEX < 0x030A0000
  py::module_ gc_;
#endif
  bool was_enabled_;
};

// Registers the part into a module of its own, then moves its names into `target` at once:
// a registration that fails leaves `target` as it was, and a name the user has set on the
// module since import keeps the user's value, as it would have had the part been registered
// at import.
void register_part(const LazyPart& part, py::handle target) {
  const NoCollection no_collection;
  py::module_ scratch =
      py::reinterpret_steal<py::module_>(PyModule_NewObject(target.attr("__name__").ptr()));
  if (!scratch) throw py::error_already_set();
  part.register_part(scratch);
  make_pickling_safe(scratch);
  py::dict names = target.attr("__dict__");
  for (const char* const* name = part.names; *name != nullptr; ++name) {
    if (!names.contains(*name)) names[*name] = scratch.attr(*name);
  }
}

const LazyPart* part_defining(py::handle name, size_t* index) {
  Py_ssize_t size = 0;
  const char* text =
      PyUnicode_Check(name.ptr()) ? PyUnicode_AsUTF8AndSize(name.ptr(), &size) : nullptr;
  if (text == nullptr) {
    PyErr_Clear();  // not text (a lone surrogate has no UTF-8): no part defines it
    return nullptr;
  }
  const std::string_view wanted(text, static_cast<size_t>(size));
  for (size_t i = 0; i < kPartCount; ++i) {
    for (const char* const* defined = kParts[i].names; *defined != nullptr; ++defined) {
      if (wanted == *defined) {
        *index = i;
        return &kParts[i];
      }
    }
  }
  return nullptr;
}

// Appends every part's names that `names` lacks.
void append_lazy_names(py::list& names) {
  for (const LazyPart& part : kParts) {
    for (const char* const* name = part.names; *name != nullptr; ++name) {
      if (!names.contains(*name)) names.append(*name);
    }
  }
  names.attr("sort")();
}

}  // namespace

void register_lazy_parts(py::module_& m) {
  // A borrowed handle: the module owns these functions, so it outlives every call of them.
  py::handle module = m;
  m.def(
      "__getattr__",
      [module](py::handle name) -> py::object {
        size_t index = 0;
        const LazyPart* part = part_defining(name, &index);
        if (part != nullptr) {
          registered(index).call_once_and_store_result([&] {
            register_part(*part, module);
            return true;
          });
          // From the module's dict, not getattr: a name deleted since must not come back here.
          py::dict names = module.attr("__dict__");
          if (names.contains(name)) return names[name];
        }
        throw py::attribute_error("module 'fastort._core' has no attribute " +
                                  py::repr(name).cast<std::string>());
      },
      py::arg("name"));
  py::list all;
  for (const auto& item : m.attr("__dict__").cast<py::dict>()) {
    const std::string name = item.first.cast<std::string>();
    if (name.empty() || name[0] != '_') all.append(item.first);
  }
  append_lazy_names(all);
  // `from fastort._core import *` imports the lazy names too (and registers their parts).
  m.attr("__all__") = all;
  m.def("__dir__", [module] {
    py::list names = py::list(module.attr("__dict__"));
    append_lazy_names(names);
    return names;
  });
}

}  // namespace fastort::bindings
