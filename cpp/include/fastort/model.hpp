// A loaded model: ONNX Runtime's session of it, its signature and metadata. Immutable after
// construction, so run() may be called from many threads. Held through std::shared_ptr by the
// cache, every Python fastort.Session over it and every live output. (fastort.Session is the
// Python object; its native part is the bindings' SessionHandle; this is what both point to.)
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fastort/ort.hpp"
#include "fastort/quick_runs.hpp"
#include "fastort/run_control.hpp"
#include "fastort/session_options.hpp"
#include "fastort/tensor.hpp"
#include "fastort/type_info.hpp"
#include "fastort/value.hpp"

namespace fastort {

class Model;

struct ModelMetadata {
  std::string producer_name;
  std::string graph_name;
  std::string domain;
  std::string description;
  std::string graph_description;
  int64_t version = 0;
  std::map<std::string, std::string> custom_metadata_map;
};

// A file of external data a model reads its weights from, and the file's stamp when the model
// was loaded (see ModelCache).
struct ExternalFile {
  std::string path;
  std::string stamp;
};

struct NamedInput {
  std::string_view name;
  TensorView tensor;  // a tensor input (also an optional's tensor)
  // kSequence: `parts` are the elements (tensors of one type; none for an empty sequence).
  // kMap: `parts` are the keys and the values, two 1-D tensors of equal length.
  // kOptional: None, an optional input without a value (as if not fed).
  ValueKind kind = ValueKind::kTensor;
  std::vector<TensorView> parts;
};

struct RunRequest {
  // Every model input exactly once, any order, and any overridable initializers to replace.
  std::vector<NamedInput> inputs;
  std::vector<size_t> outputs;  // output indices, in the order results are wanted
  // Parallel to outputs: a caller buffer to write that output into, or nullopt to let ORT
  // allocate. Caller buffers must be C-contiguous, writable, of the exact type and shape.
  std::vector<std::optional<TensorView>> out;
  // A strided or misaligned input is copied once when true, rejected when false.
  bool allow_copy = true;
  // Lets the run be stopped from outside (terminate flag, timeout, signal); may be null.
  RunControl* control = nullptr;
};

// An ONNX Runtime value over a caller's buffer for one output of one model, checked once by
// Model::output_buffer, for runs to write that output into: a buffer kept from run to run costs
// no checks and no ORT value per run. The buffer must outlive it; one run at a time may use it.
class OutputBuffer {
 public:
  OutputBuffer() = default;
  OutputBuffer(OutputBuffer&&) noexcept = default;
  OutputBuffer& operator=(OutputBuffer&&) noexcept = default;
  OutputBuffer(const OutputBuffer&) = delete;
  OutputBuffer& operator=(const OutputBuffer&) = delete;
  ~OutputBuffer() = default;

  // The output's index in its model's outputs.
  size_t output() const noexcept { return output_; }
  ByteRange memory() const noexcept { return memory_; }

 private:
  friend class Model;

  const Model* model_ = nullptr;
  size_t output_ = 0;
  ByteRange memory_;
  Ort::Value value_{nullptr};
};

// A run checked once: ONNX Runtime values over the caller's input and out buffers, made by
// Model::prepare and reused by every Model::run(prepared). The buffers are read and written in
// place at each run, so they must stay allocated, with the shape and type they had, as long as
// the PreparedRun is run (the Python bindings check that before each run). Inputs that needed
// a copy (strided, misaligned, strings) hold that copy: later changes to the caller's array do
// not reach it (copied_inputs() tells).
class PreparedRun {
 public:
  PreparedRun() = default;
  PreparedRun(PreparedRun&&) noexcept = default;
  PreparedRun& operator=(PreparedRun&&) noexcept = default;
  PreparedRun(const PreparedRun&) = delete;
  PreparedRun& operator=(const PreparedRun&) = delete;
  ~PreparedRun() = default;

  // The number of inputs fed from a copy rather than from the caller's memory.
  size_t copied_inputs() const noexcept { return copies_.size(); }
  // True when every input is a numeric tensor read in place from the caller's memory (none
  // copied, no sequences, maps or optionals).
  bool reads_in_place() const noexcept { return in_place_ && copies_.empty(); }
  // True when some output is written into a caller buffer.
  bool has_out() const noexcept { return has_out_; }
  // Its inputs' kinds, types and shapes as QuickRuns tells runs apart (fastort::run_key); set
  // by Model::prepare, 0 after prepare_into.
  uint64_t run_key() const noexcept { return run_key_; }
  // Empty again (its ORT values released), keeping the vectors' memory for the next use.
  void clear() noexcept;

 private:
  friend class Model;

  std::vector<Ort::Value> inputs_;            // fed order
  std::vector<const char*> fed_names_;        // parallel to inputs_ when not the model's own
  const char* const* input_names_ = nullptr;  // fed_names_ or the model's input names
  std::vector<std::unique_ptr<std::byte[]>> copies_;
  std::vector<size_t> outputs_;                    // output indices, in result order
  std::vector<const char*> output_names_;          // parallel to outputs_, unless the model's own
  const char* const* output_name_list_ = nullptr;  // output_names_ or the model's output names
  std::vector<Ort::Value> out_;                    // parallel to outputs_; null: ORT allocates
  std::vector<size_t> passthrough_source_;         // parallel to outputs_: the position in inputs_
  std::vector<const NamedInput*> by_index_;        // prepare_into's, kept for its memory
  // The caller memory of each fed tensor (and part) and its feed index: what a buffer given
  // at run time must not overlap.
  std::vector<std::pair<ByteRange, size_t>> input_memory_;
  uint64_t run_key_ = 0;
  bool in_place_ = true;
  bool has_out_ = false;
  bool has_passthrough_ = false;
};

class Model {
 public:
  // Throws Error: kFileNotFound, kIsADirectory, kInvalidModel (also for a model given as
  // bytes that references external data without options.external_data_dir),
  // kInvalidArgument (options, a path with a NUL byte).
  static std::shared_ptr<Model> load_file(const std::string& path, const SessionOptions& options);
  static std::shared_ptr<Model> load_bytes(std::string_view model, const SessionOptions& options);

  const std::vector<ValueInfo>& inputs() const noexcept { return inputs_; }
  const std::vector<ValueInfo>& outputs() const noexcept { return outputs_; }
  // Initializers that a run may replace by feeding a tensor of the same name, as an input:
  // those the model also lists among its graph inputs (older exporters list them all).
  const std::vector<ValueInfo>& overridable_initializers() const noexcept { return overridable_; }
  const ModelMetadata& metadata() const noexcept { return metadata_; }
  const SessionOptions& options() const noexcept { return options_; }
  // The external data files the model read (ORT may keep them memory-mapped).
  const std::vector<ExternalFile>& external_data() const noexcept { return external_data_; }
  // Which of this model's runs are quick; thread-safe, shared by every caller.
  QuickRuns& quick_runs() const noexcept { return quick_runs_; }
  // Providers in priority order, CPUExecutionProvider last.
  std::vector<std::string> providers() const;

  // Throws Error(kInvalidArgument) listing the valid names.
  size_t output_index(std::string_view name) const;
  // Whether ORT writes output `index` into a buffer bound to it: not for an output that passes
  // an input or an overridable initializer through, or that the model lists more than once.
  bool output_takes_buffer(size_t index) const noexcept {
    return index < takes_buffer_.size() && takes_buffer_[index];
  }

  // The inputs in model order, then the overridable initializers (null where not fed), each
  // checked like run() checks them (every input exactly once, optionals aside; the right
  // element type and shape). Throws kInvalidArgument or kTypeMismatch naming it.
  std::vector<const NamedInput*> match_inputs(const std::vector<NamedInput>& inputs) const;
  // The same into `by_index`, whose memory is reused.
  void match_inputs(const std::vector<NamedInput>& inputs,
                    std::vector<const NamedInput*>& by_index) const;

  // Validates every input and out buffer, then runs. Results are parallel to
  // request.outputs; a result bound to a caller buffer views that buffer.
  std::vector<OwnedValue> run(const RunRequest& request) const;
  // The same with, for this run, `buffers[k]` (parallel to request.outputs, null where not set)
  // as the buffer of output k in place of request.out: ORT writes into it and the result is
  // empty, except for an output that passes an input through (a value of its own). Throws
  // kInvalidArgument for a buffer made for another output or model, or that overlaps an input.
  std::vector<OwnedValue> run(const RunRequest& request,
                              const std::vector<const OutputBuffer*>& buffers) const;

  // A buffer for output `index`: `view` is C-contiguous, aligned, writable memory of the
  // output's type and declared shape (kTypeMismatch, kInvalidArgument as for run's out
  // buffers), for an output ORT writes into a buffer.
  OutputBuffer output_buffer(size_t index, const TensorView& view) const;

  // Validates like run(request) and wraps every buffer once (request.control is ignored).
  // Tensor inputs only: sequences and optionals are fed from copies (kInvalidArgument).
  // The views' memory must outlive the PreparedRun; see PreparedRun.
  PreparedRun prepare(const RunRequest& request) const;
  // prepare() into `prepared`, which must be empty.
  void prepare_into(const RunRequest& request, PreparedRun& prepared) const;
  // Runs on whatever the prepared buffers hold now. Results are parallel to the prepared
  // outputs; one written into a caller buffer is an empty value (the caller has the buffer).
  // Safe to call from many threads at once, but runs with out buffers then write them all.
  std::vector<OwnedValue> run(const PreparedRun& prepared, RunControl* control) const;
  // The same with, for this run alone, `buffers[k]` (where set) as the buffer of output k,
  // which the prepared run must not already write into a buffer. ORT writes into it and the
  // result is empty, except for an output that passes an input through, which ORT returns as
  // a value of its own. Throws kInvalidArgument for a buffer made for another output or model,
  // kRuntime for one ORT rejects.
  std::vector<OwnedValue> run(const PreparedRun& prepared, RunControl* control,
                              const std::vector<const OutputBuffer*>& buffers) const;

  // Ends profiling (SessionOptions::enable_profiling) and returns the JSON trace's file name;
  // "" when the session is not profiling or has ended it already. Later runs are not traced.
  std::string end_profiling() const;
  // When profiling started, in nanoseconds since the epoch; 0 without profiling.
  uint64_t profiling_start_ns() const;

  Model(Ort::Session session, SessionOptions options, std::vector<ExternalFile> external = {});
  // In a fork()ed child, a session loaded by the parent is left undestroyed: destroying it
  // would join ORT thread-pool threads that exist only in the parent.
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

 private:
  // The position of a fed name: a model input's index, or inputs_.size() + the index of an
  // overridable initializer. Throws Error(kInvalidArgument) listing the inputs.
  size_t feed_index(std::string_view name) const;
  const ValueInfo& fed(size_t index) const noexcept {
    return index < inputs_.size() ? inputs_[index] : overridable_[index - inputs_.size()];
  }
  void validate_input(const ValueInfo& info, const NamedInput& input) const;
  void validate_tensor(const ValueInfo& info, const TensorView& view, ElementType expected) const;
  // An ORT value over the caller's memory (or a copy of it, kept in `prepared`, for a strided
  // or misaligned tensor; strings are copied into ORT's memory).
  Ort::Value tensor_value(const TensorView& view, const ValueInfo& fed, bool allow_copy,
                          PreparedRun& prepared) const;
  // The value fed for `input`: a tensor as tensor_value(); a sequence or optional built from
  // copies of its tensors; a map from its keys and values.
  Ort::Value input_value(const NamedInput& input, const ValueInfo& fed, bool allow_copy,
                         PreparedRun& prepared) const;
  void validate_out(const ValueInfo& info, const TensorView& view) const;
  // Throws kInvalidArgument for an output whose bound buffer ORT would leave unwritten (an
  // overridable initializer passed through, an output listed twice).
  void check_buffer_reaches(size_t index) const;
  // Out buffers may not overlap inputs or each other; one for a passed-through input must
  // have that input's shape. `inputs` is indexed like feed_index(); null where not fed.
  void check_out_memory(const RunRequest& request,
                        const std::vector<const NamedInput*>& inputs) const;
  // ORT's Run over the prepared values; `outputs` parallel to prepared.outputs_, null where
  // ORT allocates (it then stores the values it made there).
  void ort_run(const PreparedRun& prepared, RunControl* control, OrtValue** outputs) const;
  // run(prepared, control), with `fresh` (parallel to the prepared outputs, or null) bound
  // where the prepared run has no buffer of its own.
  std::vector<OwnedValue> run_with(const PreparedRun& prepared, RunControl* control,
                                   OrtValue* const* fresh) const;
  // `buffers` as run(prepared, control, buffers) takes them, as ORT values (null where none),
  // in `values` (sized like the prepared outputs); kInvalidArgument for a foreign buffer.
  void check_buffers(const PreparedRun& prepared, const std::vector<const OutputBuffer*>& buffers,
                     OrtValue** values) const;
  // After Run: passed-through inputs are copied, into their out buffers or memory of their own.
  void keep_outputs_apart(const PreparedRun& prepared, std::vector<Ort::Value>& results) const;

  static constexpr size_t kNoInput = static_cast<size_t>(-1);

  mutable Ort::Session session_;  // ORT's Run is const in spirit but not in its C++ API
  SessionOptions options_;
  std::vector<ExternalFile> external_data_;
  std::vector<ValueInfo> inputs_;
  std::vector<ValueInfo> outputs_;
  std::vector<ValueInfo> overridable_;
  // Point into inputs_[i].name, then overridable_[i].name.
  std::vector<const char*> input_names_;
  std::vector<const char*> output_names_;
  // Per output: the index of the input it passes through (a graph output that is also a
  // graph input), or kNoInput.
  std::vector<size_t> passthrough_;
  bool has_passthrough_ = false;
  std::vector<bool> takes_buffer_;  // per output: see output_takes_buffer
  ModelMetadata metadata_;
  Ort::MemoryInfo cpu_memory_;
  mutable QuickRuns quick_runs_;
  uint64_t generation_;  // fork_generation() when loaded
};

}  // namespace fastort
