// Model::run: validation of every input and out buffer (ORT crashes or misreads memory on
// some mismatches, so nothing reaches it unchecked), then one call to ORT's Run.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

#include "fastort/debug_counters.hpp"
#include "fastort/error.hpp"
#include "fastort/model.hpp"
#include "fastort/reused_per_thread.hpp"
#include "messages.hpp"
#include "ort_error.hpp"

namespace fastort {

namespace {

std::string mismatch(const char* role, const ValueInfo& info, const TensorView& view) {
  return std::string(role) + " '" + info.name + "': expected " + info.describe() + ", got " +
         describe_tensor(view.type, view.shape);
}

bool shape_matches(const ValueInfo& info, const std::vector<int64_t>& shape) {
  // ONNX Runtime reports a value of unknown rank as one of rank 0, like a scalar, and checks
  // neither: the run decides (onnxruntime feeds such inputs any shape).
  if (info.shape.empty()) return true;
  if (info.shape.size() != shape.size()) return false;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (info.shape[i] >= 0 && info.shape[i] != shape[i]) return false;
  }
  return true;
}

bool is_aligned(const TensorView& view) {
  const size_t size = element_size(view.type);
  const size_t alignment = size > 8 ? 8 : (size == 0 ? 1 : size);
  return reinterpret_cast<uintptr_t>(view.data) % alignment == 0;
}

size_t byte_size(const TensorView& view) {
  return static_cast<size_t>(view.element_count()) * element_size(view.type);
}

// A tensor with memory of its own holding `value`'s elements.
Ort::Value copy_value(const Ort::Value& value) {
  const auto info = value.GetTensorTypeAndShapeInfo();
  const std::vector<int64_t> shape = info.GetShape();
  const ONNXTensorElementDataType type = info.GetElementType();
  Ort::AllocatorWithDefaultOptions allocator;
  Ort::Value copy = Ort::Value::CreateTensor(allocator, shape.data(), shape.size(), type);
  const size_t bytes = info.GetElementCount() * element_size(static_cast<ElementType>(type));
  if (bytes > 0) std::memcpy(copy.GetTensorMutableRawData(), value.GetTensorRawData(), bytes);
  detail::count_output_copy(bytes);
  return copy;
}

ErrorKind stop_error_kind(RunControl::Stop stop) {
  switch (stop) {
    case RunControl::Stop::kTimedOut:
      return ErrorKind::kTimedOut;
    case RunControl::Stop::kInterrupted:
      return ErrorKind::kInterrupted;
    default:
      return ErrorKind::kTerminated;
  }
}

}  // namespace

void Model::validate_input(const ValueInfo& info, const TensorView& view) const {
  if (info.kind != ValueKind::kTensor) {
    throw Error(ErrorKind::kInvalidArgument, "input '" + info.name + "' is " + info.type_string +
                                                 "; fastort accepts tensor inputs only");
  }
  if (view.type != info.element_type) {
    throw Error(ErrorKind::kTypeMismatch, mismatch("input", info, view));
  }
  if (!shape_matches(info, view.shape)) {
    throw Error(ErrorKind::kInvalidArgument, mismatch("input", info, view));
  }
  if (view.type == ElementType::kString && view.strings == nullptr) {
    throw Error(ErrorKind::kTypeMismatch, "input '" + info.name + "': expected strings");
  }
  if (view.type != ElementType::kString && element_size(view.type) == 0) {
    throw Error(ErrorKind::kTypeMismatch, "input '" + info.name + "': element type " +
                                              element_type_name(view.type) + " is not supported");
  }
}

void Model::check_buffer_reaches(size_t index) const {
  // A passed-through input is copied into its buffer after the run; these are not.
  if (!takes_buffer_[index] && passthrough_[index] == kNoInput) {
    throw Error(ErrorKind::kInvalidArgument,
                "out['" + outputs_[index].name + "']: output '" + outputs_[index].name +
                    "' is an initializer a run may replace, or listed twice by the model; "
                    "ONNX Runtime does not write it into a buffer: leave it out of out");
  }
}

void Model::validate_out(const ValueInfo& info, const TensorView& view) const {
  if (info.kind != ValueKind::kTensor || info.element_type == ElementType::kString ||
      element_size(info.element_type) == 0) {
    throw Error(ErrorKind::kInvalidArgument, "output '" + info.name + "' is " + info.describe() +
                                                 "; out= takes numeric tensor outputs only");
  }
  if (view.type != info.element_type) {
    throw Error(ErrorKind::kTypeMismatch, "out " + mismatch("output", info, view));
  }
  if (!shape_matches(info, view.shape)) {
    throw Error(ErrorKind::kInvalidArgument, "out " + mismatch("output", info, view));
  }
  if (!view.is_c_contiguous() || !is_aligned(view) || !view.writable) {
    throw Error(ErrorKind::kInvalidArgument,
                "out array for output '" + info.name +
                    "' must be C-contiguous, aligned and writable (ORT writes into it)");
  }
}

size_t Model::feed_index(std::string_view name) const {
  for (size_t i = 0; i < inputs_.size(); ++i) {
    if (inputs_[i].name == name) return i;
  }
  for (size_t i = 0; i < overridable_.size(); ++i) {
    if (overridable_[i].name == name) return inputs_.size() + i;
  }
  throw Error(ErrorKind::kInvalidArgument, "unknown input '" + std::string(name) +
                                               "'; model inputs: " + detail::quoted_names(inputs_));
}

std::vector<const TensorView*> Model::match_inputs(const std::vector<NamedInput>& inputs) const {
  // Model inputs, then overridable initializers (fed only when given). ORT crashes if the
  // count is wrong, so everything is checked here.
  std::vector<const TensorView*> by_index(inputs_.size() + overridable_.size(), nullptr);
  for (const NamedInput& input : inputs) {
    const size_t index = feed_index(input.name);
    if (by_index[index] != nullptr) {
      throw Error(ErrorKind::kInvalidArgument, "input '" + fed(index).name + "' given twice");
    }
    by_index[index] = &input.tensor;
  }
  for (size_t i = 0; i < by_index.size(); ++i) {
    if (by_index[i] == nullptr && i < inputs_.size()) {
      throw Error(ErrorKind::kInvalidArgument,
                  "missing input '" + inputs_[i].name + "' (" + inputs_[i].describe() + ")");
    }
    if (by_index[i] != nullptr) validate_input(fed(i), *by_index[i]);
  }
  return by_index;
}

void PreparedRun::clear() noexcept {
  inputs_.clear();
  fed_names_.clear();
  input_names_ = nullptr;
  copies_.clear();
  outputs_.clear();
  output_names_.clear();
  output_name_list_ = nullptr;
  out_.clear();
  passthrough_source_.clear();
  has_out_ = false;
  has_passthrough_ = false;
}

PreparedRun Model::prepare(const RunRequest& request) const {
  PreparedRun prepared;
  prepare_into(request, prepared);
  return prepared;
}

void Model::prepare_into(const RunRequest& request, PreparedRun& prepared) const {
  const std::vector<const TensorView*> by_index = match_inputs(request.inputs);
  const size_t overrides = static_cast<size_t>(
      std::count_if(by_index.begin() + static_cast<std::ptrdiff_t>(inputs_.size()), by_index.end(),
                    [](const TensorView* view) { return view != nullptr; }));
  if (request.out.size() != request.outputs.size() && !request.out.empty()) {
    throw Error(ErrorKind::kInvalidArgument, "out buffers do not match the requested outputs");
  }
  prepared.outputs_.assign(request.outputs.begin(), request.outputs.end());
  // Every output in model order (the usual request) names them with the model's own list.
  bool model_order = request.outputs.size() == outputs_.size();
  for (size_t k = 0; model_order && k < request.outputs.size(); ++k) {
    model_order = request.outputs[k] == k;
  }
  if (!model_order) prepared.output_names_.reserve(request.outputs.size());
  for (size_t k = 0; k < request.outputs.size(); ++k) {
    const size_t index = request.outputs[k];
    if (index >= outputs_.size()) {
      throw Error(ErrorKind::kInvalidArgument, "output index out of range");
    }
    for (size_t j = 0; j < k; ++j) {
      if (request.outputs[j] == index) {
        throw Error(ErrorKind::kInvalidArgument,
                    "output '" + outputs_[index].name + "' requested twice");
      }
    }
    if (!request.out.empty() && request.out[k]) {
      validate_out(outputs_[index], *request.out[k]);
      check_buffer_reaches(index);
    }
    if (!model_order) prepared.output_names_.push_back(output_names_[index]);
  }
  prepared.output_name_list_ = model_order ? output_names_.data() : prepared.output_names_.data();
  if (!request.out.empty()) check_out_memory(request, by_index);

  prepared.inputs_.reserve(inputs_.size() + overrides);
  if (overrides > 0) prepared.fed_names_.reserve(inputs_.size() + overrides);
  prepared.out_.reserve(request.outputs.size());
  detail::call_ort(ErrorKind::kRuntime, "cannot create tensors", [&] {
    for (size_t i = 0; i < by_index.size(); ++i) {
      if (by_index[i] == nullptr) continue;
      if (overrides > 0) prepared.fed_names_.push_back(input_names_[i]);
      const TensorView& view = *by_index[i];
      if (view.type == ElementType::kString) {
        Ort::AllocatorWithDefaultOptions allocator;
        Ort::Value value = Ort::Value::CreateTensor(allocator, view.shape.data(), view.shape.size(),
                                                    ONNX_TENSOR_ELEMENT_DATA_TYPE_STRING);
        // By length, not as C strings: an element may contain NUL bytes.
        for (size_t k = 0; k < view.strings->size(); ++k) {
          const std::string& item = (*view.strings)[k];
          char* buffer = value.GetResizedStringTensorElementBuffer(k, item.size());
          if (!item.empty()) std::memcpy(buffer, item.data(), item.size());
        }
        prepared.inputs_.push_back(std::move(value));
        continue;
      }
      void* data = view.data;
      const size_t bytes = byte_size(view);
      if (!view.is_c_contiguous() || !is_aligned(view)) {
        if (!request.allow_copy) {
          throw Error(ErrorKind::kInvalidArgument,
                      "input '" + fed(i).name +
                          "' is not a C-contiguous, aligned array and strict mode forbids a "
                          "copy; pass numpy.ascontiguousarray(value)");
        }
        prepared.copies_.emplace_back(new std::byte[bytes == 0 ? 1 : bytes]);
        view.copy_to(prepared.copies_.back().get());
        detail::count_input_copy(bytes);
        data = prepared.copies_.back().get();
      }
      prepared.inputs_.push_back(
          Ort::Value::CreateTensor(cpu_memory_, data, bytes, view.shape.data(), view.shape.size(),
                                   static_cast<ONNXTensorElementDataType>(view.type)));
    }
    for (size_t k = 0; k < request.outputs.size(); ++k) {
      if (request.out.empty() || !request.out[k]) {
        prepared.out_.emplace_back(nullptr);
        continue;
      }
      const TensorView& out = *request.out[k];
      prepared.out_.push_back(Ort::Value::CreateTensor(
          cpu_memory_, out.data, byte_size(out), out.shape.data(), out.shape.size(),
          static_cast<ONNXTensorElementDataType>(out.type)));
      prepared.has_out_ = true;
    }
  });
  prepared.input_names_ = overrides > 0 ? prepared.fed_names_.data() : input_names_.data();
  if (has_passthrough_) {
    // Every model input is fed, in model order, ahead of any initializer: a model input's
    // index is its position in inputs_.
    prepared.passthrough_source_.reserve(request.outputs.size());
    for (size_t index : request.outputs) {
      prepared.passthrough_source_.push_back(passthrough_[index]);
      prepared.has_passthrough_ |= passthrough_[index] != kNoInput;
    }
  }
}

std::vector<OwnedValue> Model::run(const RunRequest& request) const {
  // The thread's PreparedRun, emptied after the run (the caller's buffers are not referenced
  // once run() returns) but keeping its vectors: a run allocates none of them again.
  ReusedPerThread<PreparedRun> scratch;
  PreparedRun& prepared = scratch.get();
  prepare_into(request, prepared);
  std::vector<OwnedValue> results = run(prepared, request.control);
  // A result bound to a caller buffer views that buffer: the prepared value, used once.
  for (size_t k = 0; k < results.size(); ++k) {
    if (prepared.out_[k]) results[k] = OwnedValue(std::move(prepared.out_[k]));
  }
  return results;
}

std::vector<OwnedValue> Model::run(const PreparedRun& prepared, RunControl* control) const {
  return run_with(prepared, control, nullptr);
}

std::vector<OwnedValue> Model::run(const PreparedRun& prepared, RunControl* control,
                                   const std::vector<std::optional<TensorView>>& fresh) const {
  const size_t count = prepared.outputs_.size();
  if (fresh.size() != count) {
    throw Error(ErrorKind::kInvalidArgument, "fresh buffers do not match the prepared outputs");
  }
  std::vector<Ort::Value> values;
  values.reserve(count);
  for (size_t k = 0; k < count; ++k) {
    if (!fresh[k]) {
      values.emplace_back(nullptr);
      continue;
    }
    if (prepared.out_[k]) {
      throw Error(ErrorKind::kInvalidArgument,
                  "output '" + outputs_[prepared.outputs_[k]].name + "' already has a buffer");
    }
    const size_t index = prepared.outputs_[k];
    check_buffer_reaches(index);
    const TensorView& view = *fresh[k];
    validate_out(outputs_[index], view);
    values.push_back(detail::call_ort(ErrorKind::kRuntime, "cannot create tensors", [&] {
      return Ort::Value::CreateTensor(cpu_memory_, view.data, byte_size(view), view.shape.data(),
                                      view.shape.size(),
                                      static_cast<ONNXTensorElementDataType>(view.type));
    }));
  }
  return run_with(prepared, control, values.data());
}

std::vector<OwnedValue> Model::run_with(const PreparedRun& prepared, RunControl* control,
                                        const Ort::Value* fresh) const {
  const size_t count = prepared.outputs_.size();
  // ORT writes the values it allocates here: on the stack for the usual few outputs.
  constexpr size_t kInline = 8;
  OrtValue* inline_outputs[kInline] = {};
  std::vector<OrtValue*> heap_outputs(count > kInline ? count : 0, nullptr);
  OrtValue** outputs = count > kInline ? heap_outputs.data() : inline_outputs;
  const auto passed_through = [&](size_t k) {
    return prepared.has_passthrough_ && prepared.passthrough_source_[k] != kNoInput;
  };
  // The buffer bound to output k: the prepared run's own, else a fresh one, else none.
  const auto buffer = [&](size_t k) -> OrtValue* {
    if (prepared.out_[k]) return static_cast<OrtValue*>(prepared.out_[k]);
    return fresh != nullptr ? static_cast<OrtValue*>(fresh[k]) : nullptr;
  };
  for (size_t k = 0; k < count; ++k) {
    // ORT ignores a buffer bound to a passed-through input: it is filled after the run.
    if (!passed_through(k)) outputs[k] = buffer(k);
  }
  ort_run(prepared, control, outputs);
  std::vector<OwnedValue> owned;
  owned.reserve(count);
  if (!prepared.has_passthrough_) {
    // Only the values ORT made are ours; a bound buffer stays its owner's.
    for (size_t k = 0; k < count; ++k) {
      owned.emplace_back(Ort::Value(buffer(k) != nullptr ? nullptr : outputs[k]));
    }
    return owned;
  }
  std::vector<Ort::Value> results;
  results.reserve(count);
  for (size_t k = 0; k < count; ++k) {
    const bool bound = buffer(k) != nullptr && !passed_through(k);
    results.emplace_back(bound ? nullptr : outputs[k]);
  }
  detail::call_ort(ErrorKind::kRuntime, "copying passed-through inputs",
                   [&] { keep_outputs_apart(prepared, results); });
  for (auto& value : results) owned.emplace_back(std::move(value));
  return owned;
}

void Model::ort_run(const PreparedRun& prepared, RunControl* control, OrtValue** outputs) const {
  OrtRunOptions* options = control ? static_cast<OrtRunOptions*>(control->ort()) : nullptr;
  // Ort::Value is one OrtValue pointer, as the C++ API's own Run relies on.
  static_assert(sizeof(Ort::Value) == sizeof(OrtValue*), "Ort::Value is not a bare pointer");
  OrtStatus* status = Ort::GetApi().Run(
      static_cast<OrtSession*>(session_), options, prepared.input_names_,
      reinterpret_cast<const OrtValue* const*>(prepared.inputs_.data()), prepared.inputs_.size(),
      prepared.output_name_list_, prepared.outputs_.size(), outputs);
  if (status == nullptr) return;
  const Ort::Status error(status);
  const int code = static_cast<int>(error.GetErrorCode());
  if (control && control->stopped() != RunControl::Stop::kNone) {
    throw Error(stop_error_kind(control->stopped()), "the run was " + control->describe_stop(),
                code);
  }
  throw Error(ErrorKind::kRuntime,
              "ONNX Runtime failed to run the model: " + error.GetErrorMessage(), code);
}

void Model::check_out_memory(const RunRequest& request,
                             const std::vector<const TensorView*>& inputs) const {
  for (size_t k = 0; k < request.out.size(); ++k) {
    if (!request.out[k]) continue;
    const TensorView& out = *request.out[k];
    const ValueInfo& output = outputs_[request.outputs[k]];
    const ByteRange memory = out.byte_range();
    // ORT reads inputs while it writes outputs; in place, results would be wrong.
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (inputs[i] != nullptr && memory.overlaps(inputs[i]->byte_range())) {
        throw Error(ErrorKind::kInvalidArgument,
                    "out['" + output.name + "'] shares memory with input '" + fed(i).name +
                        "'; pass an array that does not overlap the inputs");
      }
    }
    for (size_t j = 0; j < k; ++j) {
      if (request.out[j] && memory.overlaps(request.out[j]->byte_range())) {
        throw Error(ErrorKind::kInvalidArgument,
                    "out['" + output.name + "'] and out['" + outputs_[request.outputs[j]].name +
                        "'] share memory; give each output its own array");
      }
    }
    // An output that is a graph input comes back with the input's shape, whatever the out.
    const size_t source = passthrough_[request.outputs[k]];
    if (source != kNoInput && out.shape != inputs[source]->shape) {
      throw Error(ErrorKind::kInvalidArgument,
                  "out['" + output.name + "']: output '" + output.name + "' is input '" +
                      inputs_[source].name + "' passed through, so expected " +
                      describe_tensor(out.type, inputs[source]->shape) + ", got " +
                      describe_tensor(out.type, out.shape));
    }
  }
}

void Model::keep_outputs_apart(const PreparedRun& prepared,
                               std::vector<Ort::Value>& results) const {
  // ORT hands back a graph output that is also a graph input as that input's own value, in
  // the caller's buffer (or in the copy of a strided input, which the prepared run owns); it
  // ignores a buffer bound for it. No other output shares an input's memory: ORT's planner
  // never reuses memory it was lent.
  for (size_t k = 0; k < results.size(); ++k) {
    const size_t source = prepared.passthrough_source_[k];
    if (source == kNoInput) continue;
    const ValueInfo& output = outputs_[prepared.outputs_[k]];
    // Strings are ORT's own copies, shared by reference counting: nothing to do.
    if (output.kind != ValueKind::kTensor || element_size(output.element_type) == 0) continue;
    if (!prepared.out_[k]) {
      results[k] = copy_value(results[k]);
      continue;
    }
    const Ort::Value& out = prepared.out_[k];
    const auto info = out.GetTensorTypeAndShapeInfo();
    const size_t bytes =
        info.GetElementCount() * element_size(static_cast<ElementType>(info.GetElementType()));
    const void* data = prepared.inputs_[source].GetTensorRawData();
    // Shapes were checked when prepared; the cast is ORT's const-less accessor.
    if (bytes > 0) {
      std::memcpy(const_cast<Ort::Value&>(out).GetTensorMutableRawData(), data, bytes);
    }
    detail::count_output_copy(bytes);
    results[k] = Ort::Value{nullptr};  // ORT's value of the input is released
  }
}

}  // namespace fastort
