// Image preprocessing: the core's ImageTransformSpec as a Python value, numpy images in, the
// core's fused transform, an output array out.
#include <pybind11/numpy.h>
#include <pybind11/typing.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <functional>
#include <list>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "bindings.hpp"
#include "fastort/debug_counters.hpp"
#include "fastort/error.hpp"
#include "fastort/image.hpp"
#include "fastort/image_decode.hpp"
#include "fastort/thread_pool.hpp"
#include "gil.hpp"
#include "numpy_interop.hpp"
#include "pil_image.hpp"
#include "text.hpp"

namespace py = pybind11;

namespace fastort::bindings {
namespace {

// Arguments that take any object, shown as T in signatures: they are converted here, so that a
// wrong value raises fastort's errors naming the argument rather than pybind11's TypeError.
template <typename T>
using Any = py::typing::Union<T>;
using Pair = py::typing::Tuple<py::int_, py::int_>;
using Triple = py::typing::Tuple<py::float_, py::float_, py::float_>;
using ResizeArg = py::typing::Optional<py::typing::Union<py::int_, Pair>>;
using CropArg = py::typing::Optional<py::typing::Union<py::int_, Pair>>;
using FloatsArg = Any<py::typing::Iterable<py::float_>>;
using OutputShape = py::typing::Tuple<py::int_, py::int_, py::int_, py::int_>;

std::string repr_text(py::handle value) {
  const py::object text = py::repr(value);
  std::string_view bytes;
  py::object keep;
  return utf8_bytes(text, bytes, keep) ? std::string(bytes) : type_name(value);
}

// An int or an object with __index__ (numpy's integers), but not a bool; nullopt for anything
// else. Values beyond int saturate, which keeps them outside every range the core accepts.
std::optional<int> as_int(py::handle value) {
  if (PyBool_Check(value.ptr()) || !PyIndex_Check(value.ptr())) return std::nullopt;
  const auto number = py::reinterpret_steal<py::object>(PyNumber_Index(value.ptr()));
  if (!number) {
    PyErr_Clear();  // numpy's bool has __index__, which refuses
    return std::nullopt;
  }
  int overflow = 0;
  const long long result = PyLong_AsLongLongAndOverflow(number.ptr(), &overflow);
  if (overflow > 0 || result > INT_MAX) return INT_MAX;
  if (overflow < 0 || result < INT_MIN) return INT_MIN;
  return static_cast<int>(result);
}

bool is_text(py::handle value) {
  return PyUnicode_Check(value.ptr()) || PyBytes_Check(value.ptr()) ||
         PyByteArray_Check(value.ptr());
}

// An int, a (height, width) pair, or nullopt for None.
std::optional<std::variant<int, ImageSize>> size_argument(py::handle value, const char* option) {
  if (value.is_none()) return std::nullopt;
  if (const auto side = as_int(value)) return *side;
  const std::string expected = std::string(option) + " must be an int or a (height, width) pair";
  if (is_text(value) || !PySequence_Check(value.ptr())) {
    throw Error(ErrorKind::kTypeMismatch, std::string(option) +
                                              " must be an int, a (height, width) pair or None, "
                                              "got " +
                                              repr_text(value));
  }
  const auto items = py::reinterpret_borrow<py::sequence>(value);
  if (items.size() != 2) {
    throw Error(ErrorKind::kInvalidArgument, expected + ", got " + std::to_string(items.size()) +
                                                 " values: " + repr_text(value));
  }
  const auto height = as_int(items[0]), width = as_int(items[1]);
  if (!height || !width)
    throw Error(ErrorKind::kTypeMismatch, expected + ", got " + repr_text(value));
  return ImageSize{*height, *width};
}

std::optional<Resize> resize_argument(py::handle value) {
  const auto size = size_argument(value, "resize");
  if (!size) return std::nullopt;
  if (const int* side = std::get_if<int>(&*size)) return ShortSide{*side};
  return std::get<ImageSize>(*size);
}

// torchvision's CenterCrop(int) is square.
std::optional<ImageSize> crop_argument(py::handle value) {
  const auto size = size_argument(value, "crop");
  if (!size) return std::nullopt;
  if (const int* side = std::get_if<int>(&*size)) return ImageSize{*side, *side};
  return std::get<ImageSize>(*size);
}

// Three numbers from any iterable but text (float("1") works, so "123" would read as 1, 2, 3).
std::array<double, 3> triple_argument(py::handle value, const char* option) {
  const auto wrong_type = [&] {
    return Error(
        ErrorKind::kTypeMismatch,
        std::string(option) + " must be 3 numbers (one per RGB channel), got " + repr_text(value));
  };
  if (is_text(value) || !py::isinstance<py::iterable>(value)) throw wrong_type();
  std::array<double, 3> numbers{};
  size_t count = 0;
  for (py::handle item : py::reinterpret_borrow<py::iterable>(value)) {
    const double number = is_text(item) ? -1.0 : PyFloat_AsDouble(item.ptr());
    if (is_text(item) || (number == -1.0 && PyErr_Occurred())) {
      PyErr_Clear();
      throw wrong_type();
    }
    if (count < 3) numbers[count] = number;
    ++count;
  }
  if (count != 3) {
    throw Error(ErrorKind::kInvalidArgument, std::string(option) +
                                                 " must have 3 values (one per RGB channel), got " +
                                                 std::to_string(count));
  }
  return numbers;
}

// A name parsed by the core; anything but a str is refused with the core's message too, which
// lists the valid names.
template <typename Parse>
auto name_argument(py::handle value, Parse parse) {
  std::string_view name;
  py::object keep;
  if (utf8_bytes(value, name, keep)) return parse(name);
  return parse(repr_text(value));
}

ImageTransformSpec make_spec(const ResizeArg& resize, const CropArg& crop, const FloatsArg& mean,
                             const FloatsArg& std, const Any<py::str>& interpolation,
                             const Any<py::bool_>& antialias, const Any<py::str>& layout,
                             const Any<py::str>& channel_order, const Any<py::int_>& threads,
                             const Any<py::str>& dtype, const Any<py::str>& pass_order) {
  ImageTransformSpec spec;
  spec.resize = resize_argument(resize);
  spec.crop = crop_argument(crop);
  spec.mean = triple_argument(mean, "mean");
  spec.stddev = triple_argument(std, "std");
  spec.interpolation = name_argument(interpolation, parse_interpolation);
  if (!PyBool_Check(antialias.ptr())) {
    throw Error(ErrorKind::kTypeMismatch, "antialias must be a bool, got " + repr_text(antialias));
  }
  spec.antialias = antialias.ptr() == Py_True;
  spec.layout = name_argument(layout, parse_layout);
  spec.channel_order = name_argument(channel_order, parse_channel_order);
  const auto thread_count = as_int(threads);
  if (!thread_count) {
    throw Error(ErrorKind::kTypeMismatch,
                "threads must be an int (0: one per hardware thread), got " + repr_text(threads));
  }
  spec.threads = *thread_count;
  spec.output_type = name_argument(dtype, parse_image_output_type);
  spec.pass_order = name_argument(pass_order, parse_pass_order);
  spec.validate();
  return spec;
}

py::object pair(const ImageSize& size) { return Pair(py::make_tuple(size.height, size.width)); }

py::object resize_value(const ImageTransformSpec& spec) {
  if (!spec.resize) return py::none();
  if (const auto* side = std::get_if<ShortSide>(&*spec.resize)) return py::int_(side->side);
  return pair(std::get<ImageSize>(*spec.resize));
}

py::object crop_value(const ImageTransformSpec& spec) {
  return spec.crop ? pair(*spec.crop) : py::none();
}

Triple triple(const std::array<double, 3>& values) {
  return Triple(py::make_tuple(values[0], values[1], values[2]));
}

// Every field by keyword, as the constructor takes them.
py::dict fields(const ImageTransformSpec& spec) {
  py::dict result;
  result["resize"] = resize_value(spec);
  result["crop"] = crop_value(spec);
  result["mean"] = triple(spec.mean);
  result["std"] = triple(spec.stddev);
  result["interpolation"] = interpolation_name(spec.interpolation);
  result["antialias"] = spec.antialias;
  result["layout"] = layout_name(spec.layout);
  result["channel_order"] = channel_order_name(spec.channel_order);
  result["threads"] = spec.threads;
  result["dtype"] = element_type_name(spec.output_type);
  result["pass_order"] = pass_order_name(spec.pass_order);
  return result;
}

const ImageTransformSpec& spec_of(py::handle self) {
  return initialized<ImageTransformSpec>(self, "ImageTransformSpec");
}

// A property reading one field of the spec.
template <typename Get>
auto field(Get get) {
  return [get](py::handle self) { return get(spec_of(self)); };
}

// A view of one uint8 image; images whose pixels are not packed within a row, or whose rows
// run backwards or overlap (a broadcast image), are copied once into `keep`, which also keeps
// every array alive. Strides along an axis of length 1 are never followed, so they copy
// nothing. PIL images are read in place where Pillow exports their storage (pil_view), else
// copied once through numpy.
ImageView image_view(py::handle value, size_t index, std::list<py::object>& keep) {
  if (py::isinstance<DecodedImage>(value)) {
    keep.push_back(py::reinterpret_borrow<py::object>(value));
    return py::cast<const DecodedImage&>(value).view();
  }
  if (const auto view = pil_view(value, keep)) return *view;
  const std::string name = std::to_string(index);
  const bool pil = is_pil_image(value);
  py::array array = as_array(value, Subject{"image", name});
  if (pil) detail::count_image_copy(static_cast<uint64_t>(array.nbytes()));
  const auto describe = [&array] {
    return std::string(py::str(array.dtype())) +
           std::string(py::str(py::tuple(array.attr("shape"))));
  };
  if (array.dtype().kind() != 'u' || array.dtype().itemsize() != 1) {
    throw Error(ErrorKind::kTypeMismatch,
                "image " + name + ": expected a uint8 array, got " + describe());
  }
  const auto ndim = array.ndim();
  if (ndim != 2 && ndim != 3) {
    throw Error(ErrorKind::kInvalidArgument,
                "image " + name + ": expected HxW or HxWxC, got shape " +
                    std::string(py::str(py::tuple(array.attr("shape")))) +
                    (ndim == 4 ? "; pass a batch as a list of images" : ""));
  }
  // Sizes beyond int saturate, so that the core's checks name them.
  const auto size = [&array](int axis) {
    return static_cast<int>(std::min<py::ssize_t>(array.shape(axis), INT_MAX));
  };
  const int channels = ndim == 2 ? 1 : size(2);
  const py::ssize_t row_bytes = array.shape(1) * channels;
  const auto steps_by = [&array](int axis, py::ssize_t bytes) {
    return array.shape(axis) == 1 || array.strides(axis) == bytes;
  };
  const bool packed = (ndim == 2 || steps_by(2, 1)) && steps_by(1, channels);
  const bool rows_apart = array.shape(0) == 1 || array.strides(0) >= row_bytes;
  if (!packed || !rows_apart) {
    py::array dense = py::array::ensure(array, py::array::c_style);  // the one documented copy
    if (!dense) throw std::bad_alloc();  // ensure() returns null only when allocating failed
    if (!dense.is(array)) detail::count_image_copy(static_cast<uint64_t>(dense.nbytes()));
    array = dense;
  }
  keep.push_back(array);
  ImageView view;
  view.data = static_cast<const uint8_t*>(array.data());
  view.height = size(0);
  view.width = size(1);
  view.channels = channels;
  view.row_stride = array.shape(0) == 1 ? row_bytes : array.strides(0);
  return view;
}

// The images sized once by the core; `out` checked by it, or allocated here after the core
// has checked that a new array of the shape fits in memory.
py::array transform(const py::list& images, const Any<ImageTransformSpec>& spec_object,
                    const py::typing::Optional<py::array>& out) {
  const ImageTransformSpec& spec = spec_of(spec_object);
  std::list<py::object> keep;
  std::vector<ImageView> views;
  views.reserve(images.size());
  for (size_t i = 0; i < images.size(); ++i) views.push_back(image_view(images[i], i, keep));
  const ImageBatch batch(spec, std::move(views));
  py::array target;
  if (out.is_none()) {
    batch.check_new_output();
    const auto& shape = batch.output_shape();
    target =
        py::array(dtype_of(batch.output_type()), std::vector<int64_t>(shape.begin(), shape.end()));
  } else if (py::isinstance<py::array>(out)) {
    target = py::reinterpret_borrow<py::array>(out);
  } else {
    throw Error(ErrorKind::kTypeMismatch, "out must be a numpy array, got " + type_name(out));
  }
  std::list<std::vector<std::string>> no_strings;
  const TensorView view = view_of(target, Subject{"out", "out"}, no_strings);
  without_gil([&] { batch.run(view); });
  return target;
}

void register_spec(py::module_& m) {
  const ImageTransformSpec defaults;
  py::class_<ImageTransformSpec>(m, "ImageTransformSpec",
                                 "What an image transform does, checked once by the core:\n"
                                 "immutable, equal and hashed by value, picklable.")
      .def(py::init(&make_spec), py::kw_only(), py::arg("resize") = resize_value(defaults),
           py::arg("crop") = crop_value(defaults), py::arg("mean") = triple(defaults.mean),
           py::arg("std") = triple(defaults.stddev),
           py::arg("interpolation") = interpolation_name(defaults.interpolation),
           py::arg("antialias") = defaults.antialias,
           py::arg("layout") = layout_name(defaults.layout),
           py::arg("channel_order") = channel_order_name(defaults.channel_order),
           py::arg("threads") = defaults.threads,
           py::arg("dtype") = element_type_name(defaults.output_type),
           py::arg("pass_order") = pass_order_name(defaults.pass_order))
      .def_property_readonly("resize",
                             [](py::handle self) { return ResizeArg(resize_value(spec_of(self))); })
      .def_property_readonly(
          "crop",
          [](py::handle self) { return py::typing::Optional<Pair>(crop_value(spec_of(self))); })
      .def_property_readonly("mean",
                             field([](const ImageTransformSpec& s) { return triple(s.mean); }))
      .def_property_readonly("std",
                             field([](const ImageTransformSpec& s) { return triple(s.stddev); }))
      .def_property_readonly("interpolation", field([](const ImageTransformSpec& s) {
                               return std::string(interpolation_name(s.interpolation));
                             }))
      .def_property_readonly("antialias",
                             field([](const ImageTransformSpec& s) { return s.antialias; }))
      .def_property_readonly("layout", field([](const ImageTransformSpec& s) {
                               return std::string(layout_name(s.layout));
                             }))
      .def_property_readonly("channel_order", field([](const ImageTransformSpec& s) {
                               return std::string(channel_order_name(s.channel_order));
                             }))
      .def_property_readonly("pass_order", field([](const ImageTransformSpec& s) {
                               return std::string(pass_order_name(s.pass_order));
                             }))
      .def_property_readonly("dtype", field([](const ImageTransformSpec& s) {
                               return std::string(element_type_name(s.output_type));
                             }))
      .def_property_readonly("threads",
                             field([](const ImageTransformSpec& s) { return s.threads; }))
      .def(
          "output_shape",
          [](py::handle self, int64_t count, int height, int width) {
            const auto shape = output_shape(spec_of(self), count, height, width);
            return OutputShape(py::make_tuple(shape[0], shape[1], shape[2], shape[3]));
          },
          py::arg("count"), py::arg("height"), py::arg("width"),
          "The output's shape for `count` images of height x width.")
      .def(
          "__eq__",
          [](py::handle self, py::handle other) -> Any<py::bool_> {
            if (!py::isinstance<ImageTransformSpec>(other)) {
              return py::reinterpret_borrow<py::object>(Py_NotImplemented);
            }
            return py::bool_(spec_of(self) == spec_of(other));
          },
          py::arg("other"))
      .def("__hash__",
           [](py::handle self) { return std::hash<ImageTransformSpec>()(spec_of(self)); })
      .def("__repr__",
           [](py::handle self) {
             std::string text = "ImageTransformSpec(";
             for (const auto& [name, value] : fields(spec_of(self))) {
               if (text.back() != '(') text += ", ";
               text += std::string(py::str(name)) + "=" + repr_text(value);
             }
             return text + ")";
           })
      // By keyword, with every field. Defined for every protocol: without it, protocols 0 and 1
      // call pybind11's base type on the object, which aborts the process.
      .def(
          "__reduce_ex__",
          [](py::handle self, int) {
            const py::object partial = py::module_::import("functools").attr("partial");
            return py::typing::Tuple<py::object, py::typing::Tuple<>>(
                py::make_tuple(partial(py::type::of(self), **fields(spec_of(self))), py::tuple()));
          },
          py::arg("protocol"))
      .def("__copy__",
           [](py::handle self) {
             return Any<ImageTransformSpec>(py::reinterpret_borrow<py::object>(self));
           })
      .def(
          "__deepcopy__",
          [](py::handle self, py::handle) {
            return Any<ImageTransformSpec>(py::reinterpret_borrow<py::object>(self));
          },
          py::arg("memo"));
}

}  // namespace

void register_image(py::module_& m) {
  register_spec(m);
  m.def("transform_images", &transform, py::arg("images"), py::arg("spec"),
        py::arg("out") = py::none(),
        "Transforms `images` (uint8 arrays) into one batch: `out`, or a new array.");
  m.attr("MAX_IMAGE_SIDE") = kMaxImageSide;
  m.attr("MAX_INPUT_SIDE") = kMaxInputSide;
}

}  // namespace fastort::bindings
