// numpy <-> core conversions. Input arrays are viewed in place; outputs become arrays that view
// ORT's memory and own it through a capsule.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fastort/model.hpp"
#include "fastort/tensor.hpp"
#include "fastort/value.hpp"

namespace fastort::bindings {

// What a converted value is, for error messages: "input 'x'" or "out['z']". Only turned
// into a string when an error is raised, so the hot path allocates nothing for it.
struct Subject {
  const char* role;  // "input" or "out"
  std::string_view name;
  std::string text() const;
};

// An ndarray as is; an object with __dlpack__ or __array_interface__ (torch tensors on CPU,
// numpy scalars) as a zero-copy array; anything else raises InvalidTypeError.
pybind11::array as_array(pybind11::handle value, const Subject& subject);

// ONNX's element type for a numpy dtype (str, bytes, object and unstructured void: strings);
// InvalidTypeError naming `subject` for dtypes ONNX lacks.
ElementType element_type_of(const pybind11::dtype& dtype, const Subject& subject);

// A view of `array`'s memory. String arrays (str, bytes or object) are converted into
// `string_storage`, the one case that always copies. The shape is written into `shape`, an
// empty vector whose memory a caller may recycle.
TensorView view_of(const pybind11::array& array, const Subject& subject,
                   std::list<std::vector<std::string>>& string_storage,
                   std::vector<int64_t> shape = {});

// An array viewing a numeric tensor's memory, which `owner` keeps alive as long as the array
// (the array's base is a capsule holding it).
pybind11::array shared_view(const TensorView& view, std::shared_ptr<const void> owner);

// A new C-order array of `rank` dims that owns its memory (uninitialised), made with numpy's C
// API directly.
pybind11::array empty_array(ElementType type, size_t rank, const int64_t* dims);

// The numpy dtype for an element type (bfloat16 and float8 through ml_dtypes when installed,
// else as same-sized unsigned integers; strings as object).
pybind11::dtype dtype_of(ElementType type);

// An output as Python: a tensor as an ndarray viewing `value`'s memory (the capsule keeps the
// value and `owner` alive), string tensors as object arrays of str, sequences as lists, maps
// as dicts, an empty optional as None.
pybind11::object to_python(OwnedValue value, const ValueInfo& declared,
                           const std::shared_ptr<const Model>& owner);

}  // namespace fastort::bindings
