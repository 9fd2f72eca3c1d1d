#include "run_bindings.hpp"

#include <algorithm>

#include "bindings.hpp"
#include "fastort/error.hpp"
#include "fastort/reused_per_thread.hpp"
#include "gil.hpp"
#include "numpy_interop.hpp"
#include "repeated_run.hpp"
#include "text.hpp"

namespace py = pybind11;

namespace fastort::bindings {
namespace {

// A name as UTF-8 bytes; `keep` holds what the view points into when it is not `name` itself.
std::string_view name_view(py::handle name, const char* role, py::object& keep) {
  std::string_view bytes;
  if (!utf8_bytes(name, bytes, keep)) {
    throw Error(ErrorKind::kTypeMismatch,
                std::string(role) + " names must be str, got " + type_name(name));
  }
  return bytes;
}

// Strong references to a dict's items, taken before any conversion: converting a value may
// run Python code (__dlpack__, __array_interface__) that changes the dict, and a borrowed
// reference would then point at a freed object.
void snapshot_items(py::handle dict, std::vector<py::object>& items) {
  Py_ssize_t position = 0;
  PyObject *key = nullptr, *value = nullptr;
  while (PyDict_Next(dict.ptr(), &position, &key, &value)) {
    items.push_back(py::reinterpret_borrow<py::object>(key));
    items.push_back(py::reinterpret_borrow<py::object>(value));
  }
}

}  // namespace

std::vector<int64_t> BorrowedCall::take_shape() noexcept {
  if (spare_shapes.empty()) return {};
  std::vector<int64_t> shape = std::move(spare_shapes.back());
  spare_shapes.pop_back();
  return shape;
}

void BorrowedCall::clear() noexcept {
  const auto keep = [&](std::vector<int64_t>& shape) {
    // Never grows spare_shapes here (clear() cannot fail): borrow_inputs made room.
    if (shape.capacity() == 0 || spare_shapes.size() == spare_shapes.capacity()) return;
    shape.clear();
    spare_shapes.push_back(std::move(shape));
  };
  for (NamedInput& input : request.inputs) keep(input.tensor.shape);
  for (std::optional<TensorView>& out : request.out) {
    if (out) keep(out->shape);
  }
  request.inputs.clear();
  request.outputs.clear();
  request.out.clear();
  request.allow_copy = true;
  request.control = nullptr;
  out_objects.clear();
  references.clear();
  out_items = 0;
  strings.clear();
  fixed.clear();
  let_go_if_huge(request.inputs);
  let_go_if_huge(request.outputs);
  let_go_if_huge(request.out);
  let_go_if_huge(out_objects);
  let_go_if_huge(references);
  let_go_if_huge(spare_shapes);
}

void borrow_inputs(BorrowedCall& call, py::handle input_feed, const Model& model) {
  if (!PyDict_Check(input_feed.ptr())) {
    // Another mapping (UserDict, MappingProxyType, transformers' BatchEncoding) is read into a
    // dict of its own, as onnxruntime reads any mapping's items.
    if (!PyMapping_Check(input_feed.ptr()) || !py::hasattr(input_feed, "keys")) {
      throw Error(ErrorKind::kTypeMismatch,
                  "input_feed must be a dict (or another mapping) of input name -> array, got " +
                      type_name(input_feed));
    }
    py::dict copied;
    if (PyDict_Merge(copied.ptr(), input_feed.ptr(), 1) != 0) throw py::error_already_set();
    input_feed = copied;
    call.references.push_back(std::move(copied));
  }
  const size_t first = call.references.size();
  snapshot_items(input_feed, call.references);
  const size_t last = call.references.size();
  call.request.inputs.reserve((last - first) / 2);
  for (size_t i = first; i < last; i += 2) {
    py::object keep;
    const Subject subject{"input", name_view(call.references[i], "input", keep)};
    if (keep) call.references.push_back(std::move(keep));
    if (!py::isinstance<py::array>(call.references[i + 1]) &&
        borrow_structured(call, subject, call.references[i + 1], model)) {
      continue;
    }
    py::array array = as_array(call.references[i + 1], subject);
    call.request.inputs.push_back(
        {subject.name, view_of(array, subject, call.strings, call.take_shape())});
    // An array made from the value (not the value itself) must live as long.
    if (array.ptr() != call.references[i + 1].ptr()) call.references.push_back(std::move(array));
  }
}

void borrow_outputs(BorrowedCall& call, const Model& session, py::handle output_names,
                    py::handle out) {
  if (!output_names.is_none() && !PyList_Check(output_names.ptr()) &&
      !PyTuple_Check(output_names.ptr())) {
    if (PyUnicode_Check(output_names.ptr())) {
      throw Error(ErrorKind::kTypeMismatch, "output_names must be a list of names, not a str");
    }
    // Any other iterable of names (a generator, dict keys), listed once.
    PyObject* listed = PySequence_List(output_names.ptr());
    if (listed == nullptr) {
      if (!PyErr_ExceptionMatches(PyExc_TypeError)) throw py::error_already_set();
      PyErr_Clear();  // not iterable
      throw Error(ErrorKind::kTypeMismatch,
                  "output_names must be a list of names or None, got " + type_name(output_names));
    }
    call.references.push_back(py::reinterpret_steal<py::object>(listed));
    output_names = listed;
  }
  if (output_names.is_none() || PySequence_Fast_GET_SIZE(output_names.ptr()) == 0) {
    for (size_t i = 0; i < session.outputs().size(); ++i) call.request.outputs.push_back(i);
  } else {
    for (py::handle name : output_names) {
      py::object keep;
      call.request.outputs.push_back(session.output_index(name_view(name, "output", keep)));
    }
  }
  if (out.is_none()) return;
  if (!PyDict_Check(out.ptr())) {
    throw Error(ErrorKind::kTypeMismatch, "out must be a dict of output name -> numpy array");
  }
  call.request.out.resize(call.request.outputs.size());
  call.out_objects.resize(call.request.outputs.size());
  const size_t first = call.references.size();
  call.out_items = first;
  snapshot_items(out, call.references);
  const size_t last = call.references.size();
  for (size_t i = first; i < last; i += 2) {
    py::object keep;
    const std::string_view name = name_view(call.references[i], "output", keep);
    if (keep) call.references.push_back(std::move(keep));
    const py::handle value = call.references[i + 1];
    const size_t index = session.output_index(name);
    size_t k = 0;
    while (k < call.request.outputs.size() && call.request.outputs[k] != index) ++k;
    if (k == call.request.outputs.size()) {
      throw Error(ErrorKind::kInvalidArgument,
                  "out names output '" + std::string(name) + "', which is not requested");
    }
    const Subject subject{"out", name};
    if (!py::isinstance<py::array>(value)) {
      throw Error(ErrorKind::kTypeMismatch,
                  subject.text() + " must be a numpy array, got " + type_name(value));
    }
    call.request.out[k] =
        view_of(py::reinterpret_borrow<py::array>(value), subject, call.strings, call.take_shape());
    call.out_objects[k] = py::reinterpret_borrow<py::object>(value);
  }
}

py::list results_to_python(const BorrowedCall& call, std::vector<OwnedValue> results,
                           const std::shared_ptr<Model>& model) {
  py::list converted(results.size());
  for (size_t k = 0; k < results.size(); ++k) {
    if (!call.out_objects.empty() && call.out_objects[k]) {
      converted[k] = call.out_objects[k];
    } else {
      const ValueInfo& declared = model->outputs()[call.request.outputs[k]];
      converted[k] = to_python(std::move(results[k]), declared, model);
    }
  }
  return converted;
}

py::list results_to_python(const std::vector<size_t>& outputs, std::vector<OwnedValue> results,
                           const std::vector<py::object>& arrays,
                           const std::shared_ptr<Model>& model) {
  py::list converted(results.size());
  for (size_t k = 0; k < results.size(); ++k) {
    if (!results[k].is_set() && !arrays.empty() && arrays[k]) {
      converted[k] = arrays[k];
    } else {
      converted[k] = to_python(std::move(results[k]), model->outputs()[outputs[k]], model);
    }
  }
  return converted;
}

namespace {

// What a Python fastort.Session holds: the (possibly shared, cached) loaded Model and the
// per-object choices. Python's Session subclasses it so that run() is one C++ call.
struct SessionHandle {
  std::shared_ptr<Model> model;
  bool strict = false;
  // Cleared (with the GIL held) when a run with bound outputs failed and the same run without
  // them did not: the model's declared output shapes are not what it produces.
  mutable bool bind_fixed_outputs = true;
  std::unique_ptr<OutputPool> outputs;  // the arrays its small outputs are written into
};

}  // namespace

py::list run_borrowed(BorrowedCall& call, const std::shared_ptr<Model>& model,
                      const std::shared_ptr<RunOptions>& options, bool& bind_fixed_outputs,
                      RunStart start, OutputPool* pool, const PreparedRun* prepared,
                      uint64_t prepared_key) {
  const uint64_t key = prepared != nullptr ? prepared_key : run_key(call.request.inputs);
  const std::vector<size_t>& outputs = call.request.outputs;
  const bool has_out = !call.out_objects.empty();
  bool learned = false;
  const bool bound = !has_out && bind_fixed_outputs &&
                     take_fixed_outputs(*model, outputs, key, pool, call.fixed, learned);
  // Every pointer ORT needs is gathered; the arrays stay referenced by `call`.
  const auto run = [&](const std::vector<const OutputBuffer*>* buffers) {
    if (prepared == nullptr)
      return run_stoppable(*model, call.request, key, options, start, buffers);
    const auto run_prepared = [&](RunControl* control) {
      return buffers != nullptr ? model->run(*prepared, control, *buffers)
                                : model->run(*prepared, control);
    };
    return run_stoppable(*model, key, StoppableRun(run_prepared), options, start);
  };
  // Outputs left to ORT in a quick run show their shapes for the next runs of this key.
  const auto learn = [&](const std::vector<OwnedValue>& results) {
    if (pool != nullptr && !has_out && bind_fixed_outputs && model->quick_runs().expected(key)) {
      pool->learn(*model, key, outputs, results);
    }
  };
  if (!bound) {
    std::vector<OwnedValue> results = run(nullptr);
    learn(results);
    return results_to_python(call, std::move(results), model);
  }
  std::vector<OwnedValue> results;
  if (attempt_with_fixed_outputs([&] { results = run(&call.fixed.buffers); })) {
    learn(results);
    return results_to_python(outputs, std::move(results), call.fixed.arrays, model);
  }
  // An output does not have the shape it was bound with, which ORT tolerates unless the output
  // is bound: the same run, unbound, decides (its error, if any, is the one raised).
  call.fixed.clear();
  results = run(nullptr);
  // A learned shape may follow the input values; a declared one is the model's mistake.
  if (learned) {
    pool->refuse(key);
  } else {
    bind_fixed_outputs = false;
  }
  return results_to_python(call, std::move(results), model);
}

namespace {

py::list run(const SessionHandle& self, py::handle output_names, py::handle input_feed,
             py::handle run_options, py::handle out) {
  const std::shared_ptr<RunOptions> options = run_options_arg(run_options);
  const std::shared_ptr<Model>& model = self.model;
  // The thread's BorrowedCall, emptied (with the GIL held) before the call returns, so no
  // Python reference outlives the call or the thread; its vectors keep their memory.
  ReusedPerThread<BorrowedCall> scratch;
  BorrowedCall& call = scratch.get();
  // Room for every dict item at once: the hot path allocates this vector once.
  const auto items = [](py::handle dict) -> size_t {
    return PyDict_Check(dict.ptr()) ? 2 * static_cast<size_t>(PyDict_GET_SIZE(dict.ptr())) : 0;
  };
  call.references.reserve(items(input_feed) + items(out));
  const ThreadRepeatedRuns<SessionRuns> thread_records;
  RepeatedRuns* const records = thread_records.get();
  if (RepeatedRun* const repeated =
          records != nullptr ? records->match(*model, output_names, input_feed, out, call)
                             : nullptr) {
    return run_borrowed(call, model, options, self.bind_fixed_outputs, RunStart::kBusy,
                        self.outputs.get(), &repeated->prepared(), repeated->key());
  }
  call.spare_shapes.reserve(std::min<size_t>(items(input_feed) / 2 + items(out) / 2, 1024));
  borrow_inputs(call, input_feed, *model);
  borrow_outputs(call, *model, output_names, out);
  call.request.allow_copy = !self.strict;
  if (records == nullptr) {
    return run_borrowed(call, model, options, self.bind_fixed_outputs, RunStart::kBusy,
                        self.outputs.get());
  }
  // Prepared where the next call can find it; what cannot be recorded is let go after the run.
  RepeatedRun& repeated = records->record(model, output_names, input_feed, out, call);
  const ForgetUnrecorded forget{&repeated};
  return run_borrowed(call, model, options, self.bind_fixed_outputs, RunStart::kBusy,
                      self.outputs.get(), &repeated.prepared(), repeated.key());
}

py::dict call(py::handle self_object, const py::kwargs& inputs) {
  const SessionHandle& self = initialized<SessionHandle>(self_object, "Session");
  py::list values = run(self, py::none(), inputs, py::none(), py::none());
  py::dict named;
  for (size_t i = 0; i < values.size(); ++i) {
    named[model_text(self.model->outputs()[i].name)] = values[i];
  }
  return named;
}

constexpr const char* kRunDoc =
    R"doc(run($self, output_names, input_feed, run_options=None, *, out=None)
--

Run the model; returns outputs in the order of `output_names` (None or []: all outputs).

`input_feed` maps every input name to an array (for sequence inputs a list of arrays, for
maps a dict, for optionals None or an array). Inputs are checked before ONNX Runtime runs:
a wrong name, dtype, rank or fixed dimension raises ValueError/TypeError naming the input.
`out={name: array}` writes those outputs into your arrays (exact dtype and shape,
C-contiguous, writable) and returns the same array objects, so a steady loop allocates no
output memory. `run_options` (a fastort.RunOptions) sets ORT's run log level, tag and config
entries, a timeout, and a terminate flag another thread may set. On the main thread, Ctrl-C
and Python signal handlers stop a run that takes long: the handler's exception propagates.
)doc";
// Positions of run()'s parameters.
enum RunArg { kOutputNames, kInputFeed, kRunOptions, kOut, kRunArgCount };
constexpr const char* kRunArgNames[kRunArgCount] = {"output_names", "input_feed", "run_options",
                                                    "out"};

void parse_run_args(PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames,
                    py::handle (&slots)[kRunArgCount]) {
  if (nargs > kOut) {
    throw Error(ErrorKind::kTypeMismatch,
                "run() takes at most 3 positional arguments; out= is keyword-only");
  }
  for (Py_ssize_t i = 0; i < nargs; ++i) slots[i] = args[i];
  const Py_ssize_t nkw = kwnames == nullptr ? 0 : PyTuple_GET_SIZE(kwnames);
  for (Py_ssize_t k = 0; k < nkw; ++k) {
    py::object keep;
    const std::string_view name = name_view(PyTuple_GET_ITEM(kwnames, k), "keyword", keep);
    int slot = 0;
    while (slot < kRunArgCount && name != kRunArgNames[slot]) ++slot;
    if (slot == kRunArgCount) {
      throw Error(ErrorKind::kTypeMismatch,
                  "run() got an unexpected keyword argument '" + std::string(name) + "'");
    }
    if (slots[slot]) {
      throw Error(ErrorKind::kTypeMismatch,
                  "run() got multiple values for argument '" + std::string(name) + "'");
    }
    slots[slot] = args[nargs + k];
  }
  for (int slot : {kOutputNames, kInputFeed}) {
    if (!slots[slot]) {
      throw Error(ErrorKind::kTypeMismatch,
                  std::string("run() missing required argument '") + kRunArgNames[slot] + "'");
    }
  }
}

// run() as a METH_FASTCALL method: pybind11's dispatcher costs more than the rest of the
// binding on a tiny model, and several times more when a keyword (out=) is passed.
PyObject* run_fastcall(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  return called_from_python([&] {
    py::handle slots[kRunArgCount] = {};
    parse_run_args(args, nargs, kwnames, slots);
    const auto& handle = initialized<SessionHandle>(self, "Session");
    const py::handle none = py::none();
    return run(handle, slots[kOutputNames], slots[kInputFeed],
               slots[kRunOptions] ? slots[kRunOptions] : none, slots[kOut] ? slots[kOut] : none);
  });
}

PyMethodDef g_run_method = {
    "run", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&run_fastcall)),
    METH_FASTCALL | METH_KEYWORDS, kRunDoc};

}  // namespace

void register_session_handle(py::module_& m) {
  py::class_<SessionHandle> cls(m, "SessionHandle",
                                "The native part of fastort.Session: a loaded Model and the "
                                "object's own choices.");
  cls.def(py::init([](std::shared_ptr<Model> model, bool strict) {
            if (!model)
              throw Error(ErrorKind::kTypeMismatch, "SessionHandle needs a Model, got None");
            const size_t outputs = model->outputs().size();
            return SessionHandle{std::move(model), strict, true,
                                 std::make_unique<OutputPool>(outputs)};
          }),
          py::arg("model"), py::arg("strict"))
      .def_property_readonly(
          "_model",
          [](py::handle self) { return initialized<SessionHandle>(self, "Session").model; })
      .def("__call__", &call, "session(**inputs) -> {output name: value} for all outputs.");
  add_method(cls, &g_run_method);
}

}  // namespace fastort::bindings
