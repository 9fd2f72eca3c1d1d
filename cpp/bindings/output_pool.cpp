#include "output_pool.hpp"

#include <pybind11/numpy.h>

#include "numpy_interop.hpp"

namespace py = pybind11;

namespace fastort::bindings {
namespace {

// Outputs of a fixed declared shape up to this size are bound to arrays made before the run,
// so ORT writes into them: no output allocated by ORT, no shape to ask for after the run, no
// capsule to make and release. Larger outputs are left to ORT's arena, which reuses its
// memory; for them the per-call cost is noise, and a pool would pin their memory.
constexpr size_t kBoundOutputBytes = 64 * 1024;

bool has_native_dtype(ElementType type) {
  switch (type) {
    case ElementType::kBool:
    case ElementType::kInt8:
    case ElementType::kUInt8:
    case ElementType::kInt16:
    case ElementType::kUInt16:
    case ElementType::kInt32:
    case ElementType::kUInt32:
    case ElementType::kInt64:
    case ElementType::kUInt64:
    case ElementType::kFloat16:
    case ElementType::kFloat32:
    case ElementType::kFloat64:
      return true;
    default:
      return false;
  }
}

// Whether output `index` is bound to an array made before the run.
bool is_fixed(const Model& model, size_t index) {
  const ValueInfo& info = model.outputs()[index];
  // Rank 0 is left out: ORT reports an output of unknown rank as one.
  if (info.kind != ValueKind::kTensor || !has_native_dtype(info.element_type) ||
      info.shape.empty() || !model.output_takes_buffer(index)) {
    return false;
  }
  size_t bytes = element_size(info.element_type);
  for (int64_t dim : info.shape) {
    // Divided, not multiplied: a declared dim of 2**62 must not wrap around.
    if (dim <= 0 || static_cast<size_t>(dim) > kBoundOutputBytes / bytes) return false;
    bytes *= static_cast<size_t>(dim);
  }
  return true;
}

bool has_weak_references(PyObject* object) {
  const Py_ssize_t offset = Py_TYPE(object)->tp_weaklistoffset;
  return offset > 0 &&
         *reinterpret_cast<PyObject**>(reinterpret_cast<char*>(object) + offset) != nullptr;
}

}  // namespace

void FixedOutputs::clear() noexcept {
  buffers.clear();
  arrays.clear();
  own.clear();
}

OutputPool::OutputPool(size_t outputs) : kept_(outputs) {}

bool take_fixed_outputs(const Model& model, const std::vector<size_t>& outputs, OutputPool* pool,
                        FixedOutputs& fixed) {
  bool any = false;
  for (size_t k = 0; k < outputs.size(); ++k) {
    const size_t index = outputs[k];
    if (!is_fixed(model, index)) continue;
    if (!any) {
      fixed.buffers.assign(outputs.size(), nullptr);
      fixed.arrays.resize(outputs.size());
      any = true;
    }
    OutputPool::Kept* free_slot = nullptr;
    OutputPool::Kept* reused = nullptr;
#ifndef Py_GIL_DISABLED  // without a GIL a reference count may change while it is read
    if (pool != nullptr && index < pool->kept_.size()) {
      for (OutputPool::Kept& kept : pool->kept_[index]) {
        if (!kept.array) {
          if (free_slot == nullptr) free_slot = &kept;
          continue;
        }
        PyObject* array = kept.array.ptr();
        if (Py_REFCNT(array) != 1 || has_weak_references(array)) continue;  // someone holds it
        const auto* proxy = py::detail::array_proxy(array);
        const ValueInfo& info = model.outputs()[index];
        bool unchanged = proxy->data == kept.data && proxy->descr == kept.descr &&
                         proxy->flags == kept.flags && proxy->base == nullptr &&
                         proxy->nd == static_cast<int>(info.shape.size());
        // C order, as made (assigning a.strides keeps the flags of an array with unit dims).
        Py_intptr_t stride = static_cast<Py_intptr_t>(element_size(info.element_type));
        for (int d = proxy->nd - 1; unchanged && d >= 0; --d) {
          unchanged = proxy->dimensions[d] == info.shape[d] && proxy->strides[d] == stride;
          stride *= proxy->dimensions[d];
        }
        if (unchanged) {
          reused = &kept;
          break;
        }
        // Reshaped, retyped or resized in place, then let go: its slot takes a new array.
        kept = OutputPool::Kept();
        if (free_slot == nullptr) free_slot = &kept;
      }
    }
#endif
    if (reused != nullptr) {
      fixed.buffers[k] = &reused->buffer;
      fixed.arrays[k] = reused->array;
      continue;
    }
    const ValueInfo& info = model.outputs()[index];
    py::array array = empty_array(info.element_type, info.shape.size(), info.shape.data());
    TensorView view;
    view.data = array.mutable_data();
    view.type = info.element_type;
    view.shape = info.shape;
    OutputBuffer buffer = model.output_buffer(index, view);
    if (free_slot != nullptr) {
      const auto* proxy = py::detail::array_proxy(array.ptr());
      free_slot->data = proxy->data;
      free_slot->descr = proxy->descr;
      free_slot->flags = proxy->flags;
      free_slot->buffer = std::move(buffer);
      free_slot->array = array;
      fixed.buffers[k] = &free_slot->buffer;
    } else {
      if (fixed.own.empty()) fixed.own.reserve(outputs.size());
      fixed.own.push_back(std::move(buffer));
      fixed.buffers[k] = &fixed.own.back();
    }
    fixed.arrays[k] = std::move(array);
  }
  return any;
}

}  // namespace fastort::bindings
