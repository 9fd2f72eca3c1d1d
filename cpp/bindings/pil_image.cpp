#include "pil_image.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace py = pybind11;

namespace fastort::bindings {
namespace {

// The Arrow C data interface's structs (a stable ABI: arrow.apache.org/docs/format/CDataInterface).
struct ArrowSchema {
  const char* format;
  const char* name;
  const char* metadata;
  int64_t flags;
  int64_t n_children;
  ArrowSchema** children;
  ArrowSchema* dictionary;
  void (*release)(ArrowSchema*);
  void* private_data;
};

struct ArrowArray {
  int64_t length;
  int64_t null_count;
  int64_t offset;
  int64_t n_buffers;
  int64_t n_children;
  const void** buffers;
  ArrowArray** children;
  ArrowArray* dictionary;
  void (*release)(ArrowArray*);
  void* private_data;
};

// Pillow's own storage object (its ImagingCore) of a loaded PIL image, or None for anything
// else standing in its place: what the in-place paths read comes only from a real one.
py::object pillow_core(py::handle image) {
  const py::object core = image.attr("im");
  const py::object image_module = py::module_::import("PIL.Image");
  static PyObject* core_type = nullptr;  // the class of Pillow's cores, found once
  if (core_type == nullptr) {
    const py::object probe = image_module.attr("core").attr("new")("L", py::make_tuple(1, 1));
    core_type = py::type::of(probe).inc_ref().ptr();
  }
  return Py_TYPE(core.ptr()) == reinterpret_cast<PyTypeObject*>(core_type) ? core : py::none();
}

// The bytes of an Arrow array of uint8 (format "C") at its offset, or null.
const uint8_t* arrow_bytes(const ArrowSchema& schema, const ArrowArray& array, int64_t length) {
  if (schema.format == nullptr || std::string_view(schema.format) != "C" ||
      array.length != length || array.null_count > 0 || array.offset != 0 || array.n_buffers != 2 ||
      array.buffers == nullptr || array.buffers[1] == nullptr) {
    return nullptr;
  }
  return static_cast<const uint8_t*>(array.buffers[1]) + array.offset;
}

// The head of Pillow's image struct (ImagingMemoryInstance in its Imaging.h, Pillow >= 12,
// whose first field is the ModeID enum), reached through `image.im.ptr`, the capsule Pillow
// gives C extensions. Read only after every field checked against what Python says of the
// image; any other layout fails the check and the image is copied instead.
struct PillowImageHead {
  int mode;
  int type;  // 0: IMAGING_TYPE_UINT8
  int depth;
  int bands;
  int xsize;
  int ysize;
  void* palette;
  uint8_t** image8;
  int32_t** image32;
  char** image;  // row pointers
  char* block;
  void* blocks;
  int pixelsize;
  int linesize;
};

// A PIL image whose rows Pillow keeps apart (several storage blocks), read in place through
// its row pointers. nullopt where the struct does not check out.
std::optional<ImageView> pil_rows_view(const py::object& core, int64_t width, int64_t height,
                                       int channels, int bands, std::list<py::object>& keep) {
  py::object capsule;
  try {
    capsule = core.attr("ptr");
  } catch (py::error_already_set&) {
    return std::nullopt;
  }
  if (!PyCapsule_IsValid(capsule.ptr(), "Pillow Imaging")) return std::nullopt;
  const auto* head =
      static_cast<const PillowImageHead*>(PyCapsule_GetPointer(capsule.ptr(), "Pillow Imaging"));
  if (head == nullptr || head->type != 0 || head->bands != bands || head->xsize != width ||
      head->ysize != height || head->pixelsize != channels || head->linesize != width * channels ||
      head->image == nullptr) {
    PyErr_Clear();
    return std::nullopt;
  }
  keep.push_back(core);  // the storage lives as long as Pillow's core object
  const auto* const* rows = reinterpret_cast<const uint8_t* const*>(head->image);
  return ImageView{rows[0],  static_cast<int>(height), static_cast<int>(width),
                   channels, width * channels,         rows};
}

}  // namespace

bool is_pil_image(py::handle value) {
  PyObject* module = PyImport_GetModule(py::str("PIL.Image").ptr());
  if (module == nullptr) {
    PyErr_Clear();
    return false;
  }
  const auto image_module = py::reinterpret_steal<py::object>(module);
  const py::object image_class = py::getattr(image_module, "Image", py::none());
  return !image_class.is_none() && py::isinstance(value, image_class);
}

std::optional<ImageView> pil_view(py::handle value, std::list<py::object>& keep) {
  if (!is_pil_image(value)) return std::nullopt;
  const std::string mode = py::str(value.attr("mode"));
  if (mode != "L" && mode != "RGB" && mode != "RGBA" && mode != "RGBX") return std::nullopt;
  // Pillow's errors stand: a lazy image of a truncated file, a closed image.
  value.attr("load")();
  const py::object core = pillow_core(value);
  if (core.is_none()) return std::nullopt;
  const py::tuple size = value.attr("size");
  const auto width = size[0].cast<int64_t>(), height = size[1].cast<int64_t>();
  if (width <= 0 || height <= 0 || width > kMaxInputSide || height > kMaxInputSide) {
    return std::nullopt;  // the copy path names the problem
  }
  const int channels = mode == "L" ? 1 : 4;
  const int bands = mode == "L" ? 1 : mode == "RGB" ? 3 : 4;
  if (!py::hasattr(core, "__arrow_c_array__")) return std::nullopt;  // Pillow < 11.2
  py::object schema_capsule, array_capsule;
  try {
    schema_capsule = core.attr("__arrow_c_schema__")();
    array_capsule = core.attr("__arrow_c_array__")();
  } catch (py::error_already_set& error) {
    // "Image rows are not contiguous in memory": stored in several blocks.
    if (!error.matches(PyExc_ValueError)) throw;
    return pil_rows_view(core, width, height, channels, bands, keep);
  }
  const auto* schema =
      static_cast<const ArrowSchema*>(PyCapsule_GetPointer(schema_capsule.ptr(), "arrow_schema"));
  const auto* array =
      static_cast<const ArrowArray*>(PyCapsule_GetPointer(array_capsule.ptr(), "arrow_array"));
  if (schema == nullptr || array == nullptr || schema->format == nullptr) {
    PyErr_Clear();
    return std::nullopt;
  }
  const int64_t pixels = width * height;
  const uint8_t* data = nullptr;
  if (channels == 1) {
    data = arrow_bytes(*schema, *array, pixels);
  } else if (std::string_view(schema->format) == "+w:4" && schema->n_children == 1 &&
             schema->children != nullptr && schema->children[0] != nullptr &&
             array->n_children == 1 && array->children != nullptr &&
             array->children[0] != nullptr && array->length == pixels && array->offset == 0 &&
             array->null_count <= 0) {
    data = arrow_bytes(*schema->children[0], *array->children[0], pixels * 4);
  }
  if (data == nullptr) return std::nullopt;
  keep.push_back(std::move(schema_capsule));
  keep.push_back(std::move(array_capsule));
  return ImageView{data, static_cast<int>(height), static_cast<int>(width), channels,
                   width * channels};
}

}  // namespace fastort::bindings
