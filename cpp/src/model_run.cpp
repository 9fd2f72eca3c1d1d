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
#include "tensor_checks.hpp"

namespace fastort {

namespace {

using detail::byte_size;
using detail::is_aligned;
using detail::mismatch;
using detail::shape_matches;

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

bool overlaps(const ByteRange& memory, const NamedInput& input) {
  if (memory.overlaps(input.tensor.byte_range())) return true;
  for (const TensorView& part : input.parts) {
    if (memory.overlaps(part.byte_range())) return true;
  }
  return false;
}

}  // namespace

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

void PreparedRun::clear() noexcept {
  by_index_.clear();
  input_memory_.clear();
  inputs_.clear();
  fed_names_.clear();
  input_names_ = nullptr;
  copies_.clear();
  outputs_.clear();
  output_names_.clear();
  output_name_list_ = nullptr;
  out_.clear();
  passthrough_source_.clear();
  run_key_ = 0;
  in_place_ = true;
  has_out_ = false;
  has_passthrough_ = false;
  let_go_if_huge(by_index_);
  let_go_if_huge(input_memory_);
  let_go_if_huge(inputs_);
  let_go_if_huge(fed_names_);
  let_go_if_huge(copies_);
  let_go_if_huge(outputs_);
  let_go_if_huge(output_names_);
  let_go_if_huge(out_);
  let_go_if_huge(passthrough_source_);
}

PreparedRun Model::prepare(const RunRequest& request) const {
  // A prepared run reads its arrays in place at every run; sequences and optionals are fed
  // from copies made now, which would never see later changes.
  for (const NamedInput& input : request.inputs) {
    const ValueInfo& info = fed(feed_index(input.name));
    if (info.kind != ValueKind::kTensor) {
      throw Error(ErrorKind::kInvalidArgument,
                  "input '" + info.name + "' is " + info.type_string +
                      ", which a run copies: a prepared run takes tensor inputs only; use run()");
    }
  }
  PreparedRun prepared;
  prepare_into(request, prepared);
  // Only a prepared call that outlives this needs its key: Session.run keys its request itself.
  prepared.run_key_ = run_key(request.inputs);
  return prepared;
}

void Model::prepare_into(const RunRequest& request, PreparedRun& prepared) const {
  std::vector<const NamedInput*>& by_index = prepared.by_index_;  // during this call only
  match_inputs(request.inputs, by_index);
  const auto is_fed = [&](size_t i) {
    return by_index[i] != nullptr && by_index[i]->kind != ValueKind::kOptional;
  };
  size_t fed_count = 0, fed_inputs = 0;
  for (size_t i = 0; i < by_index.size(); ++i) {
    if (!is_fed(i)) continue;
    ++fed_count;
    if (i < inputs_.size()) ++fed_inputs;
  }
  // The model's own name list serves when exactly its inputs are fed, the usual run; names are
  // listed when initializers are fed too or an optional input is left without a value.
  const bool model_inputs_only = fed_count == inputs_.size() && fed_inputs == inputs_.size();
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

  prepared.inputs_.reserve(fed_count);
  if (!model_inputs_only) prepared.fed_names_.reserve(fed_count);
  prepared.out_.reserve(request.outputs.size());
  detail::call_ort(ErrorKind::kRuntime, "cannot create tensors", [&] {
    for (size_t i = 0; i < by_index.size(); ++i) {
      if (!is_fed(i)) continue;
      if (!model_inputs_only) prepared.fed_names_.push_back(input_names_[i]);
      const NamedInput& input = *by_index[i];
      prepared.input_memory_.emplace_back(input.tensor.byte_range(), i);
      for (const TensorView& part : input.parts) {
        prepared.input_memory_.emplace_back(part.byte_range(), i);
      }
      prepared.in_place_ &= fed(i).kind == ValueKind::kTensor && input.kind == ValueKind::kTensor &&
                            input.tensor.type != ElementType::kString;
      prepared.inputs_.push_back(input_value(input, fed(i), request.allow_copy, prepared));
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
  prepared.input_names_ = model_inputs_only ? input_names_.data() : prepared.fed_names_.data();
  if (has_passthrough_) {
    // Model inputs are fed in model order, ahead of any initializer: a model input's position
    // among the fed values is its index less the optional inputs left out before it.
    const auto position = [&](size_t input) {
      if (input == kNoInput || !is_fed(input)) return kNoInput;
      size_t left_out = 0;
      for (size_t i = 0; i < input; ++i) left_out += is_fed(i) ? 0 : 1;
      return input - left_out;
    };
    prepared.passthrough_source_.reserve(request.outputs.size());
    for (size_t index : request.outputs) {
      prepared.passthrough_source_.push_back(position(passthrough_[index]));
      prepared.has_passthrough_ |= prepared.passthrough_source_.back() != kNoInput;
    }
  }
  by_index.clear();  // it points into the request, which a kept PreparedRun outlives
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

OutputBuffer Model::output_buffer(size_t index, const TensorView& view) const {
  if (index >= outputs_.size())
    throw Error(ErrorKind::kInvalidArgument, "output index out of range");
  check_buffer_reaches(index);
  validate_out(outputs_[index], view);
  OutputBuffer buffer;
  buffer.model_ = this;
  buffer.output_ = index;
  buffer.memory_ = view.byte_range();
  buffer.value_ = detail::call_ort(ErrorKind::kRuntime, "cannot create tensors", [&] {
    return Ort::Value::CreateTensor(cpu_memory_, view.data, byte_size(view), view.shape.data(),
                                    view.shape.size(),
                                    static_cast<ONNXTensorElementDataType>(view.type));
  });
  return buffer;
}

void Model::check_buffers(const PreparedRun& prepared,
                          const std::vector<const OutputBuffer*>& buffers,
                          OrtValue** values) const {
  if (buffers.size() != prepared.outputs_.size()) {
    throw Error(ErrorKind::kInvalidArgument, "buffers do not match the requested outputs");
  }
  for (size_t k = 0; k < buffers.size(); ++k) {
    values[k] = nullptr;
    const OutputBuffer* buffer = buffers[k];
    if (buffer == nullptr) continue;
    const ValueInfo& output = outputs_[prepared.outputs_[k]];
    if (buffer->model_ != this || buffer->output_ != prepared.outputs_[k]) {
      throw Error(ErrorKind::kInvalidArgument,
                  "the buffer for output '" + output.name + "' was made for another output");
    }
    if (prepared.out_[k]) {
      throw Error(ErrorKind::kInvalidArgument, "output '" + output.name + "' already has a buffer");
    }
    // ORT reads inputs while it writes outputs; in place, results would be wrong. Memory
    // reached only by raw pointers (ctypes) may alias a buffer nothing else references.
    for (const auto& [memory, input] : prepared.input_memory_) {
      if (memory.overlaps(buffer->memory_)) {
        throw Error(ErrorKind::kInvalidArgument, "the buffer for output '" + output.name +
                                                     "' shares memory with input '" +
                                                     fed(input).name + "'");
      }
    }
    values[k] = static_cast<OrtValue*>(const_cast<Ort::Value&>(buffer->value_));
  }
}

std::vector<OwnedValue> Model::run(const PreparedRun& prepared, RunControl* control,
                                   const std::vector<const OutputBuffer*>& buffers) const {
  // On the stack for the usual few outputs, as in run_with.
  constexpr size_t kInline = 8;
  OrtValue* inline_values[kInline];
  std::vector<OrtValue*> heap_values(buffers.size() > kInline ? buffers.size() : 0);
  OrtValue** values = buffers.size() > kInline ? heap_values.data() : inline_values;
  check_buffers(prepared, buffers, values);
  return run_with(prepared, control, values);
}

std::vector<OwnedValue> Model::run(const RunRequest& request,
                                   const std::vector<const OutputBuffer*>& buffers) const {
  // Buffers that overlap an input are refused by check_buffers, from what prepare_into keeps.
  ReusedPerThread<PreparedRun> scratch;
  PreparedRun& prepared = scratch.get();
  prepare_into(request, prepared);
  std::vector<OwnedValue> results = run(prepared, request.control, buffers);
  for (size_t k = 0; k < results.size(); ++k) {
    if (prepared.out_[k]) results[k] = OwnedValue(std::move(prepared.out_[k]));
  }
  return results;
}

std::vector<OwnedValue> Model::run_with(const PreparedRun& prepared, RunControl* control,
                                        OrtValue* const* fresh) const {
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
    return fresh != nullptr ? fresh[k] : nullptr;
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
                             const std::vector<const NamedInput*>& inputs) const {
  for (size_t k = 0; k < request.out.size(); ++k) {
    if (!request.out[k]) continue;
    const TensorView& out = *request.out[k];
    const ValueInfo& output = outputs_[request.outputs[k]];
    const ByteRange memory = out.byte_range();
    // ORT reads inputs while it writes outputs; in place, results would be wrong.
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (inputs[i] != nullptr && overlaps(memory, *inputs[i])) {
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
    if (source != kNoInput && inputs[source] != nullptr &&
        inputs[source]->kind == ValueKind::kTensor && out.shape != inputs[source]->tensor.shape) {
      throw Error(ErrorKind::kInvalidArgument,
                  "out['" + output.name + "']: output '" + output.name + "' is input '" +
                      inputs_[source].name + "' passed through, so expected " +
                      describe_tensor(out.type, inputs[source]->tensor.shape) + ", got " +
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
    // Strings, sequences and optionals are ORT's own copies, shared by reference counting.
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
