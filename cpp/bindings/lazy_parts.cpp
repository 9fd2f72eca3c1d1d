// The parts of fastort._core that a session does not need (images, the batcher, onnxruntime's
// enums) are registered on first use, not at import: registering bindings is most of what
// importing the extension costs, and `import fastort` must stay cheap. The module's
// __getattr__ (PEP 562) registers the part that defines a missing name, so `_core.X` works
// from any caller, pickle included; __dir__ lists every part's names.
#include <pybind11/gil_safe_call_once.h>

#include <string>

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
// GIL, which the registering thread may need back (a collection during it can run Python code).
py::gil_safe_call_once_and_store<bool>& registered(size_t part) {
  PYBIND11_CONSTINIT static py::gil_safe_call_once_and_store<bool> once[kPartCount];
  return once[part];
}

// Set while this thread registers a part. pybind11 asks the module whether each name it adds
// exists (hasattr); those lookups must find nothing rather than register the part again.
thread_local bool t_registering = false;

struct Registering {
  Registering() { t_registering = true; }
  ~Registering() { t_registering = false; }
  Registering(const Registering&) = delete;
  Registering& operator=(const Registering&) = delete;
};

const LazyPart* part_defining(const std::string& name, size_t* index) {
  for (size_t i = 0; i < kPartCount; ++i) {
    for (const char* const* defined = kParts[i].names; *defined != nullptr; ++defined) {
      if (name == *defined) {
        *index = i;
        return &kParts[i];
      }
    }
  }
  return nullptr;
}

}  // namespace

void register_lazy_parts(py::module_& m) {
  // A borrowed handle: the module owns these functions, so it outlives every call of them.
  py::handle module = m;
  m.def(
      "__getattr__",
      [module](const std::string& name) -> py::object {
        size_t index = 0;
        const LazyPart* part = t_registering ? nullptr : part_defining(name, &index);
        if (part != nullptr) {
          registered(index).call_once_and_store_result([&] {
            const Registering registering;
            py::module_ target = py::reinterpret_borrow<py::module_>(module);
            part->register_part(target);
            return true;
          });
          // From the module's dict, not getattr: a name the part failed to define must not come
          // back here.
          py::dict names = module.attr("__dict__");
          if (names.contains(name.c_str())) return names[name.c_str()];
        }
        throw py::attribute_error("module 'fastort._core' has no attribute '" + name + "'");
      },
      py::arg("name"));
  m.def("__dir__", [module] {
    py::list names = py::list(module.attr("__dict__"));
    for (const LazyPart& part : kParts) {
      for (const char* const* name = part.names; *name != nullptr; ++name) {
        if (!names.contains(*name)) names.append(*name);
      }
    }
    names.attr("sort")();
    return names;
  });
}

}  // namespace fastort::bindings
