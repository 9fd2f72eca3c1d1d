#include "repeated_run.hpp"

#include <pybind11/numpy.h>

#include <algorithm>
#include <cstring>

#include "fastort/debug_counters.hpp"
#include "fastort/element_type.hpp"
#include "fastort/quick_runs.hpp"

namespace py = pybind11;

namespace fastort::bindings {
namespace {

// numpy's first type number for user-defined dtypes (NPY_USERDEF): ml_dtypes' bfloat16, ...
constexpr int kFirstUserType = 256;

constexpr int kFlagsThatMatter = py::detail::npy_api::NPY_ARRAY_C_CONTIGUOUS_ |
                                 py::detail::npy_api::NPY_ARRAY_ALIGNED_ |
                                 py::detail::npy_api::NPY_ARRAY_WRITEABLE_;

}  // namespace

bool RepeatedRun::key_of(py::handle value, ArrayKey& key) {
  if (!py::detail::npy_api::get().PyArray_Check_(value.ptr())) return false;
  const auto* array = py::detail::array_proxy(value.ptr());
  if (array->nd < 0 || static_cast<size_t>(array->nd) > key.dims.size()) return false;
  const auto* descr = py::detail::array_descriptor_proxy(array->descr);
  key.data = array->data;
  key.type_num = descr->type_num;
  key.kind = descr->kind;
  key.type = descr->type;
  key.byteorder = descr->byteorder;
  key.flags = array->flags & kFlagsThatMatter;
  key.rank = array->nd;
  for (int i = 0; i < array->nd; ++i) key.dims[i] = array->dimensions[i];
  return true;
}

bool RepeatedRun::same_name(py::handle name, const std::string& recorded) {
  if (!PyUnicode_CheckExact(name.ptr())) return false;
  Py_ssize_t size = 0;
  const char* text = PyUnicode_AsUTF8AndSize(name.ptr(), &size);
  if (text == nullptr) {
    PyErr_Clear();  // not UTF-8 encodable: the full path reads it
    return false;
  }
  return static_cast<size_t>(size) == recorded.size() &&
         std::memcmp(text, recorded.data(), recorded.size()) == 0;
}

bool RepeatedRun::same_items(py::handle dict, const std::vector<Item>& items) const {
  if (!PyDict_CheckExact(dict.ptr()) ||
      static_cast<size_t>(PyDict_GET_SIZE(dict.ptr())) != items.size()) {
    return false;
  }
  Py_ssize_t position = 0;
  PyObject *name = nullptr, *value = nullptr;
  for (const Item& item : items) {
    if (!PyDict_Next(dict.ptr(), &position, &name, &value)) return false;
    if (!same_name(name, item.name)) return false;
    ArrayKey key;
    if (!key_of(value, key)) return false;
    const ArrayKey& was = item.array;
    if (key.data != was.data || key.type_num != was.type_num || key.kind != was.kind ||
        key.type != was.type || key.byteorder != was.byteorder || key.flags != was.flags ||
        key.rank != was.rank) {
      return false;
    }
    for (int i = 0; i < key.rank; ++i) {
      if (key.dims[i] != was.dims[i]) return false;
    }
  }
  return true;
}

bool RepeatedRun::same_output_names(py::handle output_names) const {
  if (output_names.is_none()) return all_outputs_;
  if (!PyList_CheckExact(output_names.ptr()) && !PyTuple_CheckExact(output_names.ptr())) {
    return false;
  }
  const Py_ssize_t count = PySequence_Fast_GET_SIZE(output_names.ptr());
  if (count == 0) return all_outputs_;
  if (all_outputs_ || static_cast<size_t>(count) != output_names_.size()) return false;
  PyObject** names = PySequence_Fast_ITEMS(output_names.ptr());
  for (Py_ssize_t i = 0; i < count; ++i) {
    if (!same_name(names[i], output_names_[static_cast<size_t>(i)])) return false;
  }
  return true;
}

bool RepeatedRun::matches(const Model& model, py::handle output_names, py::handle input_feed,
                          py::handle out, BorrowedCall& call) {
  if (!valid_ || model_ != &model || alive_.expired()) return false;
  if (out.is_none() == has_out_) return false;
  if (!same_output_names(output_names) || !same_items(input_feed, inputs_)) return false;
  if (has_out_ && !same_items(out, outs_)) return false;
  // The arrays stay referenced until the results are built: the run reads and writes them.
  Py_ssize_t position = 0;
  PyObject *name = nullptr, *value = nullptr;
  while (PyDict_Next(input_feed.ptr(), &position, &name, &value)) {
    call.references.push_back(py::reinterpret_borrow<py::object>(value));
  }
  call.request.outputs.assign(outputs_.begin(), outputs_.end());
  detail::count_repeated_run();
  if (has_out_) {
    call.out_objects.resize(outputs_.size());
    position = 0;
    for (const Item& item : outs_) {
      PyDict_Next(out.ptr(), &position, &name, &value);
      call.out_objects[item.output] = py::reinterpret_borrow<py::object>(value);
    }
  }
  return true;
}

bool RepeatedRun::record_item(py::handle name, py::handle value, const TensorView& view,
                              Item& item) {
  // Only arrays of numpy's own numeric dtypes: reading theirs runs no Python code (a user
  // dtype's name may), so nothing can change an array between its view and this.
  if (!PyUnicode_CheckExact(name.ptr()) || !key_of(value, item.array) ||
      item.array.type_num >= kFirstUserType || item.array.kind == 'O' || item.array.kind == 'U' ||
      item.array.kind == 'S' || item.array.kind == 'V') {
    return false;
  }
  // The view the run was prepared from is of this array as it is now.
  const ArrayKey& array = item.array;
  if (array.data != view.data || static_cast<size_t>(array.rank) != view.shape.size() ||
      !view.strides.empty() || view.type == ElementType::kString ||
      static_cast<size_t>(py::reinterpret_borrow<py::array>(value).itemsize()) !=
          element_size(view.type)) {
    return false;
  }
  for (int i = 0; i < array.rank; ++i) {
    if (array.dims[i] != view.shape[static_cast<size_t>(i)]) return false;
  }
  Py_ssize_t size = 0;
  const char* text = PyUnicode_AsUTF8AndSize(name.ptr(), &size);
  if (text == nullptr) {
    PyErr_Clear();
    return false;
  }
  item.name.assign(text, static_cast<size_t>(size));
  return true;
}

void RepeatedRun::record(const std::shared_ptr<Model>& model, py::handle output_names,
                         py::handle input_feed, py::handle out, const BorrowedCall& call) {
  valid_ = false;
  prepared_.clear();
  try {
    model->prepare_into(call.request, prepared_);
  } catch (...) {
    prepared_.clear();
    throw;
  }
  key_ = run_key(call.request.inputs);
  // Only what a run reads in place, from plain dicts, can be told apart by the arrays alone.
  if (!prepared_.reads_in_place() || !PyDict_CheckExact(input_feed.ptr()) ||
      (!out.is_none() && !PyDict_CheckExact(out.ptr()))) {
    return;
  }
  // What is recorded is what the run was prepared from: the dicts' items as borrow_inputs and
  // borrow_outputs took them (call.references, in order), never the dicts as they are now,
  // which Python code run since (an __array_interface__, another thread) may have changed.
  const std::vector<NamedInput>& inputs = call.request.inputs;
  if (call.references.size() < 2 * inputs.size()) return;
  inputs_.resize(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!record_item(call.references[2 * i], call.references[2 * i + 1], inputs[i].tensor,
                     inputs_[i]) ||
        inputs_[i].name != inputs[i].name) {
      return;
    }
  }
  has_out_ = !out.is_none();
  outs_.clear();
  if (has_out_) {
    // The snapshot's out items, in its order (matching reads the dict in order), each with
    // the requested output borrow_outputs placed its array at.
    const size_t items = static_cast<size_t>(
        std::count_if(call.out_objects.begin(), call.out_objects.end(),
                      [](const py::object& array) { return static_cast<bool>(array); }));
    if (call.references.size() < call.out_items + 2 * items) return;
    for (size_t j = call.out_items; j < call.out_items + 2 * items; j += 2) {
      // The output the item names, as borrow_outputs found it: by name, since one array may
      // be the out of two outputs (a zero-size one overlaps nothing).
      Py_ssize_t size = 0;
      const char* text = PyUnicode_Check(call.references[j].ptr())
                             ? PyUnicode_AsUTF8AndSize(call.references[j].ptr(), &size)
                             : nullptr;
      if (text == nullptr) {
        PyErr_Clear();
        return;
      }
      const size_t index = model->output_index(std::string_view(text, static_cast<size_t>(size)));
      size_t k = 0;
      while (k < call.request.outputs.size() && call.request.outputs[k] != index) ++k;
      Item item;
      if (k == call.request.outputs.size() || !call.request.out[k] ||
          call.out_objects[k].ptr() != call.references[j + 1].ptr() ||
          !record_item(call.references[j], call.references[j + 1], *call.request.out[k], item)) {
        return;
      }
      item.output = k;
      outs_.push_back(std::move(item));
    }
  }
  if (output_names.is_none()) {
    all_outputs_ = true;
  } else if (PyList_CheckExact(output_names.ptr()) || PyTuple_CheckExact(output_names.ptr())) {
    all_outputs_ = PySequence_Fast_GET_SIZE(output_names.ptr()) == 0;
  } else {
    return;  // another iterable of names: borrow_outputs listed it
  }
  output_names_.clear();
  if (!all_outputs_) {
    for (const size_t index : call.request.outputs) {
      output_names_.push_back(model->outputs()[index].name);
    }
  }
  outputs_.assign(call.request.outputs.begin(), call.request.outputs.end());
  model_ = model.get();
  alive_ = model;
  valid_ = true;
}

void RepeatedRun::forget_unrecorded() noexcept {
  if (!valid_) prepared_.clear();
}

RepeatedRun* RepeatedRuns::match(const Model& model, py::handle output_names, py::handle input_feed,
                                 py::handle out, BorrowedCall& call) {
  // The first value's memory, read once, rules out the records of other arrays; a first value
  // that is not an array matches none (null: an empty dict, as recorded for a model of none).
  const void* first = nullptr;
  if (PyDict_CheckExact(input_feed.ptr()) && PyDict_GET_SIZE(input_feed.ptr()) > 0) {
    Py_ssize_t position = 0;
    PyObject *name = nullptr, *value = nullptr;
    PyDict_Next(input_feed.ptr(), &position, &name, &value);
    if (!py::detail::npy_api::get().PyArray_Check_(value)) return nullptr;
    first = py::detail::array_proxy(value)->data;
  }
  for (size_t i = 0; i < runs_.size(); ++i) {
    if (runs_[i].first_data() == first &&
        runs_[i].matches(model, output_names, input_feed, out, call)) {
      used_[i] = ++clock_;
      return &runs_[i];
    }
  }
  return nullptr;
}

RepeatedRun& RepeatedRuns::record(const std::shared_ptr<Model>& model, py::handle output_names,
                                  py::handle input_feed, py::handle out, const BorrowedCall& call) {
  const size_t oldest =
      static_cast<size_t>(std::min_element(used_.begin(), used_.end()) - used_.begin());
  RepeatedRun& run = runs_[oldest];
  used_[oldest] = 0;  // until it holds a record
  run.record(model, output_names, input_feed, out, call);
  if (run.recorded()) used_[oldest] = ++clock_;
  return run;
}

}  // namespace fastort::bindings
