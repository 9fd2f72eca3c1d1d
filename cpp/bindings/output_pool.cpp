#include "output_pool.hpp"

#include <pybind11/numpy.h>

#include <algorithm>

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

// Whether output `index` may be bound to an array made before the run: a numeric tensor ORT
// writes into a buffer.
bool is_bindable(const Model& model, size_t index) {
  const ValueInfo& info = model.outputs()[index];
  return info.kind == ValueKind::kTensor && has_native_dtype(info.element_type) &&
         model.output_takes_buffer(index);
}

// Whether an array of `shape` is bound: rank >= 1 (ORT reports an output of unknown rank as
// rank 0), no empty or unknown dim, at most kBoundOutputBytes.
bool fits(ElementType type, const int64_t* dims, size_t rank) {
  if (rank == 0) return false;
  size_t bytes = element_size(type);
  for (size_t d = 0; d < rank; ++d) {
    // Divided, not multiplied: a declared dim of 2**62 must not wrap around.
    if (dims[d] <= 0 || static_cast<size_t>(dims[d]) > kBoundOutputBytes / bytes) return false;
    bytes *= static_cast<size_t>(dims[d]);
  }
  return true;
}

// Whether a result of `header`'s shape fits what `info` declares (a buffer must: a model may
// produce another shape than it declares, which ORT tolerates only in memory of its own).
bool declares(const ValueInfo& info, const TensorHeader& header) {
  if (info.shape.empty()) return true;  // unknown rank, which ORT reports as rank 0
  if (info.shape.size() != header.rank) return false;
  for (size_t d = 0; d < header.rank; ++d) {
    if (info.shape[d] >= 0 && info.shape[d] != header.dims[d]) return false;
  }
  return true;
}

// Whether output `index` is bound to an array of its declared shape.
bool is_fixed(const Model& model, size_t index) {
  const ValueInfo& info = model.outputs()[index];
  return is_bindable(model, index) && fits(info.element_type, info.shape.data(), info.shape.size());
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

OutputPool::Learned* OutputPool::learned(uint64_t key) noexcept {
  if (key == 0) return nullptr;
  for (Learned& entry : learned_) {
    if (entry.key == key) return &entry;
  }
  return nullptr;
}

void OutputPool::learn(const Model& model, uint64_t key, const std::vector<size_t>& outputs,
                       const std::vector<OwnedValue>& results) {
  // A run that bound every output (the usual one, once learned) has nothing to show.
  const auto made_by_ort = [](const OwnedValue& result) { return result.is_set(); };
  if (key == 0 || std::none_of(results.begin(), results.end(), made_by_ort)) return;
  // A key already known gains the outputs this run asked for that it had not bound.
  Learned* known = learned(key);
  if (known != nullptr && known->refused) return;
  Learned fresh;
  Learned& entry = known != nullptr ? *known : fresh;
  bool added = false;
  for (size_t k = 0; k < outputs.size() && k < results.size(); ++k) {
    const size_t index = outputs[k];
    // Bound results are empty; the fixed ones are bound by their declared shape.
    if (index >= kept_.size() || !results[k].is_set() || !is_bindable(model, index) ||
        is_fixed(model, index)) {
      continue;
    }
    TensorHeader header;
    const ValueInfo& info = model.outputs()[index];
    if (!results[k].tensor_header(header) || header.type != info.element_type ||
        !fits(header.type, header.dims, header.rank) || !declares(info, header)) {
      continue;
    }
    if (entry.shapes.empty()) entry.shapes.resize(kept_.size());
    entry.shapes[index].assign(header.dims, header.dims + header.rank);
    added = true;
  }
  if (!added || known != nullptr) return;  // a key with nothing to bind is not worth a slot
  fresh.key = key;
  learned_[next_learned_] = std::move(fresh);
  next_learned_ = (next_learned_ + 1) % kLearnedKeys;
}

void OutputPool::refuse(uint64_t key) {
  for (Learned& entry : learned_) {
    if (entry.key == key) {
      entry.refused = true;
      entry.shapes.clear();
    }
  }
}

bool OutputPool::as_made(const Kept& kept, const std::vector<int64_t>& shape, ElementType type) {
  const auto* proxy = py::detail::array_proxy(kept.array.ptr());
  if (kept.shape != shape || proxy->data != kept.data || proxy->descr != kept.descr ||
      proxy->flags != kept.flags || proxy->base != nullptr ||
      proxy->nd != static_cast<int>(shape.size())) {
    return false;
  }
  // C order, as made (assigning a.strides keeps the flags of an array with unit dims).
  Py_intptr_t stride = static_cast<Py_intptr_t>(element_size(type));
  for (int d = proxy->nd - 1; d >= 0; --d) {
    if (proxy->dimensions[d] != shape[d] || proxy->strides[d] != stride) return false;
    stride *= proxy->dimensions[d];
  }
  return true;
}

bool take_fixed_outputs(const Model& model, const std::vector<size_t>& outputs, uint64_t key,
                        OutputPool* pool, FixedOutputs& fixed, bool& learned) {
  learned = false;
  const OutputPool::Learned* shapes = pool != nullptr ? pool->learned(key) : nullptr;
  bool any = false;
  for (size_t k = 0; k < outputs.size(); ++k) {
    const size_t index = outputs[k];
    const ValueInfo& info = model.outputs()[index];
    const std::vector<int64_t>* shape = nullptr;
    if (is_fixed(model, index)) {
      shape = &info.shape;
    } else if (shapes != nullptr && index < shapes->shapes.size() &&
               !shapes->shapes[index].empty()) {
      shape = &shapes->shapes[index];
      learned = true;
    } else {
      continue;
    }
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
        if (OutputPool::as_made(kept, *shape, info.element_type)) {
          reused = &kept;
          break;
        }
        // Of another shape, or reshaped, retyped or resized in place, then let go: its slot
        // takes a new array.
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
    py::array array = empty_array(info.element_type, shape->size(), shape->data());
    TensorView view;
    view.data = array.mutable_data();
    view.type = info.element_type;
    view.shape = *shape;
    OutputBuffer buffer = model.output_buffer(index, view);
    if (free_slot != nullptr) {
      const auto* proxy = py::detail::array_proxy(array.ptr());
      free_slot->shape = *shape;
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
