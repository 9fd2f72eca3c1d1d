// Encoded images (paths, bytes) decoded natively on the thread pool, handed to numpy without a
// copy, and what the linked libjpeg-turbo is.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>
#include <pybind11/typing.h>

#include <list>
#include <optional>
#include <string>
#include <vector>

#include "bindings.hpp"
#include "fastort/error.hpp"
#include "fastort/image_decode.hpp"
#include "fastort/thread_pool.hpp"
#include "gil.hpp"
#include "text.hpp"

namespace py = pybind11;

namespace fastort::bindings {
namespace {

// A buffer of bytes held for the whole decode: the exporter (bytes, bytearray, memoryview,
// mmap...) cannot resize or free it while the view is held.
struct HeldBuffer {
  Py_buffer view{};
  bool held = false;
  HeldBuffer() = default;
  HeldBuffer(const HeldBuffer&) = delete;
  HeldBuffer& operator=(const HeldBuffer&) = delete;
  ~HeldBuffer() {
    if (held) PyBuffer_Release(&view);
  }
};

// One source as the core reads it: a buffer of bytes, or a path (os.fspath, then encoded
// like os.fsencode, so that any file name the system allows round-trips).
EncodedImage encoded_image(py::handle source, size_t index, std::list<HeldBuffer>& buffers) {
  EncodedImage image;
  image.index = index;
  if (PyObject_CheckBuffer(source.ptr()) && !PyUnicode_Check(source.ptr())) {
    HeldBuffer& held = buffers.emplace_back();
    if (PyObject_GetBuffer(source.ptr(), &held.view, PyBUF_C_CONTIGUOUS) != 0) {
      PyErr_Clear();
      throw Error(ErrorKind::kInvalidArgument,
                  "image " + std::to_string(index) +
                      ": encoded bytes must be a contiguous buffer (bytes, bytearray, memoryview)");
    }
    held.held = true;
    image.data = static_cast<const uint8_t*>(held.view.buf);
    image.size = static_cast<size_t>(held.view.len);
    return image;
  }
  const py::object os = py::module_::import("os");
  const py::bytes path = os.attr("fsencode")(os.attr("fspath")(source));
  image.path = std::string(path);
  if (image.path.find('\0') != std::string::npos) {
    throw Error(ErrorKind::kInvalidArgument,
                "image " + std::to_string(index) + ": the path contains a NUL character");
  }
  return image;
}

// The pixels as an H x W (grey) or H x W x 3 uint8 array that owns them: no copy.
py::array to_array(DecodedImage image) {
  std::vector<py::ssize_t> shape{image.stored_height, image.stored_width};
  if (image.channels != 1) shape.push_back(image.channels);
  uint8_t* pixels = image.pixels.release();
  const py::capsule owner(pixels, [](void* p) { FreePixels()(static_cast<uint8_t*>(p)); });
  return py::array(py::dtype::of<uint8_t>(), shape, {}, pixels, owner);
}

py::list decode(const py::list& sources, const py::list& indexes, int threads,
                const py::typing::Optional<py::typing::Tuple<py::int_, py::int_>>& draft,
                int64_t max_pixels, bool rgb, const py::typing::Optional<ImageTransformSpec>& spec,
                bool fallback) {
  if (indexes.size() != sources.size()) {
    throw Error(ErrorKind::kInvalidArgument, "indexes must give one index per source");
  }
  check_threads("threads", threads);
  DecodeOptions options;
  options.max_pixels = max_pixels;
  options.rgb = rgb;
  options.end_of_data_to_fallback = fallback;
  if (!draft.is_none()) {
    const auto size = py::reinterpret_borrow<py::tuple>(draft);
    options.draft = ImageSize{size[1].cast<int>(), size[0].cast<int>()};  // Pillow's (w, h)
  }
  if (!spec.is_none()) options.read_by = py::cast<const ImageTransformSpec&>(spec);
  std::list<HeldBuffer> buffers;
  std::vector<EncodedImage> images;
  images.reserve(sources.size());
  for (size_t i = 0; i < sources.size(); ++i) {
    images.push_back(encoded_image(sources[i], indexes[i].cast<size_t>(), buffers));
  }
  auto decoded = without_gil([&] { return decode_images(images, options, threads); });
  py::list result;
  for (auto& image : decoded) {
    if (image && options.read_by) {
      result.append(py::cast(std::move(*image)));
    } else if (image) {
      result.append(to_array(std::move(*image)));
    } else {
      result.append(py::none());
    }
  }
  return result;
}

}  // namespace

void register_decode(py::module_& m) {
  py::class_<DecodedImage>(m, "DecodedImage",
                           "Pixels decoded for one transform (possibly only the window it\n"
                           "reads); transform_images takes it like an image.")
      .def_property_readonly("shape",
                             [](const DecodedImage& image) {
                               return py::typing::Tuple<py::int_, py::int_, py::int_>(
                                   py::make_tuple(image.height, image.width, image.channels));
                             })
      .def_property_readonly("window", [](const DecodedImage& image) {
        return py::typing::Tuple<py::int_, py::int_, py::int_, py::int_>(py::make_tuple(
            image.first_row, image.first_column, image.stored_height, image.stored_width));
      });
  m.def("decode_images", &decode, py::arg("sources"), py::arg("indexes"), py::arg("threads"),
        py::arg("draft") = py::none(), py::arg("max_pixels") = kDefaultMaxImagePixels,
        py::arg("rgb") = false, py::arg("spec") = py::none(), py::arg("fallback") = false,
        "Decodes encoded images (bytes-like or paths) on up to `threads` threads: one uint8\n"
        "array per source, or None where Pillow must decode it (not a JPEG, or a JPEG of a\n"
        "colour space decoded only by Pillow; with `fallback`, also a JPEG whose data ends\n"
        "before the decoder is done with it). With `spec`, JPEGs come back as DecodedImage\n"
        "holding only what that transform reads. Errors name indexes[i].");
  m.def(
      "jpeg_library",
      [] {
        const JpegLibraryInfo info = jpeg_library_info();
        return py::typing::Dict<py::str, py::str>(
            py::dict(py::arg("version") = info.version, py::arg("simd") = info.simd));
      },
      "The linked libjpeg-turbo: its version and the SIMD kernels its decoder uses here.");
}

}  // namespace fastort::bindings
