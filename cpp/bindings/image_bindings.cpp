// Image preprocessing: numpy images in, the core's fused transform, a caller's array out.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>
#include <pybind11/typing.h>

#include <cstdint>
#include <list>
#include <new>
#include <optional>
#include <string>

#include "bindings.hpp"
#include "fastort/debug_counters.hpp"
#include "fastort/error.hpp"
#include "fastort/image.hpp"
#include "fastort/thread_pool.hpp"
#include "gil.hpp"
#include "numpy_interop.hpp"

namespace py = pybind11;

namespace fastort::bindings {
namespace {

using OutputShape = py::typing::Tuple<py::int_, py::int_, py::int_, py::int_>;

// Arguments arrive type-checked by fastort/image.py.
ImageTransformSpec make_spec(const py::dict& fields) {
  ImageTransformSpec spec;
  const int resize_height = fields["resize_height"].cast<int>();
  const int resize_width = fields["resize_width"].cast<int>();
  if (resize_height == 0) {
    spec.resize = std::nullopt;
  } else if (resize_width == 0) {
    spec.resize = ShortSide{resize_height};
  } else {
    spec.resize = ImageSize{resize_height, resize_width};
  }
  const int crop_height = fields["crop_height"].cast<int>();
  spec.crop =
      crop_height == 0
          ? std::nullopt
          : std::optional<ImageSize>(ImageSize{crop_height, fields["crop_width"].cast<int>()});
  spec.interpolation = parse_interpolation(fields["interpolation"].cast<std::string>());
  spec.antialias = fields["antialias"].cast<bool>();
  spec.mean = fields["mean"].cast<std::array<double, 3>>();
  spec.stddev = fields["std"].cast<std::array<double, 3>>();
  spec.layout = parse_layout(fields["layout"].cast<std::string>());
  spec.channel_order = fields["bgr"].cast<bool>() ? ChannelOrder::kBGR : ChannelOrder::kRGB;
  spec.pass_order = parse_pass_order(fields["pass_order"].cast<std::string>());
  spec.validate();
  return spec;
}

std::string describe(const py::array& array) {
  return std::string(py::str(array.dtype())) + std::string(py::str(py::tuple(array.attr("shape"))));
}

// A view of one uint8 image; column-strided arrays are made contiguous (one copy) into
// `copies`, which the caller keeps alive.
ImageView image_view(py::handle value, size_t index, std::list<py::array>& keep) {
  const Subject subject{"image", std::to_string(index)};
  py::array array = as_array(value, subject);
  if (array.dtype().kind() != 'u' || array.dtype().itemsize() != 1) {
    throw Error(ErrorKind::kTypeMismatch, "image " + std::to_string(index) +
                                              ": expected a uint8 array, got " + describe(array));
  }
  const auto ndim = array.ndim();
  if (ndim != 2 && ndim != 3) {
    throw Error(ErrorKind::kInvalidArgument,
                "image " + std::to_string(index) + ": expected HxW or HxWxC, got shape " +
                    std::string(py::str(py::tuple(array.attr("shape")))) +
                    (ndim == 4 ? "; pass a batch as a list of images" : ""));
  }
  const int channels = ndim == 2 ? 1 : static_cast<int>(array.shape(2));
  const bool packed = (ndim == 2 || array.strides(2) == 1) && array.strides(1) == channels;
  if (!packed || array.strides(0) < 0) {
    array = py::array::ensure(array, py::array::c_style);  // the one documented copy
    if (!array) throw std::bad_alloc();  // ensure() returns null only when allocating failed
    detail::count_image_copy(static_cast<uint64_t>(array.nbytes()));
  }
  keep.push_back(array);
  ImageView view;
  view.data = static_cast<const uint8_t*>(array.data());
  view.height = static_cast<int>(array.shape(0));
  view.width = static_cast<int>(array.shape(1));
  view.channels = channels;
  view.row_stride = array.strides(0);
  return view;
}

void transform(const py::list& images, py::handle spec_object, const py::array& out, int threads) {
  ImageTransformSpec spec = initialized<ImageTransformSpec>(spec_object, "ImageSpec");
  spec.threads = threads;
  check_threads("threads", threads);
  std::list<py::array> keep;
  std::vector<ImageView> views;
  views.reserve(images.size());
  for (size_t i = 0; i < images.size(); ++i) views.push_back(image_view(images[i], i, keep));
  std::list<std::vector<std::string>> no_strings;
  const TensorView target = view_of(out, Subject{"out", "out"}, no_strings);
  spec.output_type = target.type;  // the dtype was checked against the transform's
  without_gil([&] { transform_images(views, spec, target); });
}

}  // namespace

void register_image(py::module_& m) {
  // Parsed and validated once per ImageTransform, not per call.
  py::class_<ImageTransformSpec>(m, "ImageSpec")
      .def(py::init(&make_spec), py::arg("fields"))
      .def(
          "output_shape",
          [](py::handle self, int64_t count, int height, int width,
             const std::optional<std::string>& new_dtype) {
            const auto shape = output_shape(initialized<ImageTransformSpec>(self, "ImageSpec"),
                                            count, height, width);
            if (new_dtype) check_output_fits(parse_image_output_type(*new_dtype), shape);
            return OutputShape(py::make_tuple(shape[0], shape[1], shape[2], shape[3]));
          },
          py::arg("count"), py::arg("height"), py::arg("width"), py::arg("new_dtype") = py::none(),
          "The output's shape; with new_dtype, also checks that a new array of it fits in "
          "memory.")
      // Without this, pickle protocols 0 and 1 call pybind11's base type on the object, which
      // aborts the process.
      .def("__reduce_ex__", [](py::handle, py::handle) -> py::object {
        throw Error(ErrorKind::kTypeMismatch,
                    "ImageSpec cannot be pickled or copied; ImageTransform can (it rebuilds "
                    "its spec)");
      });
  m.def("transform_images", &transform, py::arg("images"), py::arg("spec"), py::arg("out"),
        py::arg("threads"));
  m.def("hardware_threads", &hardware_threads);
  // Any Python int reaches the core's check: those beyond int64 saturate, still out of range.
  m.def(
      "check_threads",
      [](const std::string& option, const py::int_& value) {
        int overflow = 0;
        const long long number = PyLong_AsLongLongAndOverflow(value.ptr(), &overflow);
        check_threads(option.c_str(), overflow > 0   ? INT64_MAX
                                      : overflow < 0 ? INT64_MIN
                                                     : static_cast<int64_t>(number));
      },
      py::arg("option"), py::arg("value"));
}

}  // namespace fastort::bindings
