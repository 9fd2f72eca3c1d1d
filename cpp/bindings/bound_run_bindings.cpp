// BoundRun and PreparedCall: one run's inputs, requested outputs and out arrays, viewed and
// checked once and wrapped in ONNX Runtime values that every call reuses. BoundRun is what
// fastort.onnxruntime's IOBinding runs: it views its arrays again when one changed.
// PreparedCall is Session.prepare's: a changed or replaced array is an error, since the
// caller was promised a call over the arrays it gave.
#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "bindings.hpp"
#include "fastort/error.hpp"
#include "fastort/reused_per_thread.hpp"
#include "output_pool.hpp"
#include "run_bindings.hpp"
#include "text.hpp"

namespace py = pybind11;

namespace fastort::bindings {
namespace {

// What a view of an array depends on. An array object can change in place (a.shape = ...,
// a.dtype = ..., a.resize(refcheck=False)); a call then views it again instead of handing ONNX
// Runtime a stale pointer.
class ArrayState {
 public:
  explicit ArrayState(py::handle array) : array_(py::reinterpret_borrow<py::object>(array)) {
    const auto* proxy = py::detail::array_proxy(array.ptr());
    data_ = proxy->data;
    descr_ = proxy->descr;
    flags_ = proxy->flags;
    dims_.assign(proxy->dimensions, proxy->dimensions + proxy->nd);
    strides_.assign(proxy->strides, proxy->strides + proxy->nd);
  }

  bool unchanged() const {
    const auto* proxy = py::detail::array_proxy(array_.ptr());
    if (proxy->data != data_ || proxy->descr != descr_ || proxy->flags != flags_ ||
        proxy->nd != static_cast<int>(dims_.size())) {
      return false;
    }
    for (size_t i = 0; i < dims_.size(); ++i) {
      if (proxy->dimensions[i] != dims_[i] || proxy->strides[i] != strides_[i]) return false;
    }
    return true;
  }

 private:
  py::object array_;
  char* data_;
  PyObject* descr_;
  int flags_;
  std::vector<Py_intptr_t> dims_, strides_;
};

enum class OnChange { kViewAgain, kRaise };

struct BoundRun {
  std::shared_ptr<Model> model;
  bool strict = false;
  OnChange on_change = OnChange::kViewAgain;
  py::object output_names, input_feed, out;  // what it views, to view again
  std::unique_ptr<BorrowedCall> call;
  PreparedRun prepared;            // values over call's arrays
  std::vector<ArrayState> arrays;  // every input and out array of `call`
  size_t feed_items = 0;           // the size of input_feed and out when viewed
  size_t out_items = 0;
  bool has_strings = false;       // string inputs are copied when viewed: view each call
  bool ready = false;             // the views are complete (a failed view is made again)
  std::atomic<bool> busy{false};  // a call in progress (on another thread) uses `call`
  // A prepared call without out arrays binds arrays of its pool to its small fixed-shape
  // outputs, as Session.run does, until a run shows the model's declared shapes wrong.
  std::atomic<bool> bind_fixed_outputs{true};
  std::unique_ptr<OutputPool> outputs;
};

std::unique_ptr<BorrowedCall> borrow(const BoundRun& bound) {
  auto call = std::make_unique<BorrowedCall>();
  borrow_inputs(*call, bound.input_feed, *bound.model);
  borrow_outputs(*call, *bound.model, bound.output_names, bound.out);
  call->request.allow_copy = !bound.strict;
  return call;
}

const char* kPrepareAgain =
    "; a prepared call runs on the arrays it was given: call prepare() again";

// A prepared call reads its arrays in place at every run: a copy made now would never see
// later changes, so an input that needs one is refused.
void check_in_place(const BorrowedCall& call) {
  for (size_t i = 0; i < call.request.inputs.size(); ++i) {
    const NamedInput& input = call.request.inputs[i];
    const std::string name(input.name);
    if (input.tensor.type == ElementType::kString) {
      throw Error(ErrorKind::kInvalidArgument,
                  "input '" + name +
                      "' is a string tensor, which is copied at every call; prepare() takes "
                      "numeric arrays only: use run() for this model");
    }
    const auto* proxy = py::detail::array_proxy(call.references[2 * i + 1].ptr());
    if (!input.tensor.is_c_contiguous() ||
        !(proxy->flags & py::detail::npy_api::NPY_ARRAY_ALIGNED_)) {
      throw Error(ErrorKind::kInvalidArgument,
                  "input '" + name +
                      "' is not a C-contiguous, aligned array; a prepared call reads its "
                      "arrays in place at every run(): pass numpy.ascontiguousarray(value)");
    }
  }
}

void view(BoundRun& bound) {
  // The old values point into the old call's arrays: gone before the call is.
  bound.ready = false;
  bound.prepared = PreparedRun();
  bound.call = borrow(bound);
  bound.arrays.clear();
  bound.has_strings = false;
  const BorrowedCall& call = *bound.call;
  // Values are the odd items of the input dict's snapshot, in the order of request.inputs.
  for (size_t i = 0; i < call.request.inputs.size(); ++i) {
    const py::handle value = call.references[2 * i + 1];
    if (!py::isinstance<py::array>(value)) {
      throw Error(ErrorKind::kTypeMismatch, "bound input '" +
                                                std::string(call.request.inputs[i].name) +
                                                "' must be a numpy array, got " + type_name(value));
    }
    bound.arrays.emplace_back(value);
    bound.has_strings |= call.request.inputs[i].tensor.type == ElementType::kString;
  }
  for (const py::object& out : call.out_objects) {
    if (out) bound.arrays.emplace_back(out);
  }
  if (bound.on_change == OnChange::kRaise) check_in_place(call);
  bound.feed_items = static_cast<size_t>(PyDict_GET_SIZE(bound.input_feed.ptr()));
  bound.out_items = bound.out.is_none() ? 0 : static_cast<size_t>(PyDict_GET_SIZE(bound.out.ptr()));
  bound.prepared = bound.model->prepare(bound.call->request);
  bound.ready = true;
}

bool current(const BoundRun& bound) {
  if (bound.has_strings || !bound.ready) return false;
  for (const ArrayState& array : bound.arrays) {
    if (!array.unchanged()) return false;
  }
  return true;
}

// What changed in `dict` since its snapshot: "" when nothing, else a description. A dict
// nobody else holds cannot have changed: then nothing is looked up.
std::string changed_items(py::handle dict, size_t items, const std::vector<py::object>& snapshot,
                          size_t first, size_t last, const char* role) {
  if (Py_REFCNT(dict.ptr()) == 1) return {};
  for (size_t i = first; i < last; i += 2) {
    PyObject* now = PyDict_GetItemWithError(dict.ptr(), snapshot[i].ptr());
    if (now == nullptr && PyErr_Occurred()) throw py::error_already_set();
    if (now != snapshot[i + 1].ptr()) {
      const std::string name = py::str(snapshot[i]);
      return std::string(role) + " '" + name + "' was " + (now ? "replaced" : "removed") +
             " in its dict since prepare()";
    }
  }
  if (static_cast<size_t>(PyDict_GET_SIZE(dict.ptr())) != items) {
    return std::string("an entry was added to the ") + role + " dict since prepare()";
  }
  return {};
}

// Before a prepared call runs: what changed since prepare(), as an error naming it.
void check_unchanged(const BoundRun& bound) {
  const BorrowedCall& call = *bound.call;
  const size_t inputs = call.request.inputs.size();
  std::string changed =
      changed_items(bound.input_feed, bound.feed_items, call.references, 0, 2 * inputs, "input");
  if (changed.empty() && !bound.out.is_none()) {
    changed = changed_items(bound.out, bound.out_items, call.references, call.out_items,
                            call.out_items + 2 * bound.out_items, "out");
  }
  if (!changed.empty()) throw Error(ErrorKind::kInvalidArgument, changed + kPrepareAgain);
  size_t a = 0;
  for (; a < inputs; ++a) {
    if (!bound.arrays[a].unchanged()) {
      throw Error(ErrorKind::kInvalidArgument,
                  "input '" + std::string(call.request.inputs[a].name) +
                      "' was resized, reshaped or given other memory since prepare()" +
                      kPrepareAgain);
    }
  }
  for (size_t k = 0; k < call.out_objects.size(); ++k) {
    if (!call.out_objects[k]) continue;
    if (!bound.arrays[a++].unchanged()) {
      const ValueInfo& output = bound.model->outputs()[call.request.outputs[k]];
      throw Error(ErrorKind::kInvalidArgument,
                  "out['" + output.name +
                      "'] was resized, reshaped or given other memory since prepare()" +
                      kPrepareAgain);
    }
  }
}

// Session.prepare's call: a BoundRun that raises when its arrays change.
struct PreparedCall : BoundRun {};

struct Release {
  std::atomic<bool>& busy;
  ~Release() { busy.store(false); }
};

// A prepared call without out arrays, its fixed-shape outputs bound to arrays of its pool.
// Empty when no output qualifies, or when the run failed (`failed`): then the same run without
// them decides.
std::optional<py::list> run_with_fixed_outputs(BoundRun& bound,
                                               const std::shared_ptr<RunOptions>& options,
                                               bool& failed, bool& learned) {
  const Model& model = *bound.model;
  const std::vector<size_t>& outputs = bound.call->request.outputs;
  ReusedPerThread<FixedOutputs> scratch;
  FixedOutputs& fixed = scratch.get();
  const uint64_t key = bound.prepared.run_key();
  if (!take_fixed_outputs(model, outputs, key, bound.outputs.get(), fixed, learned)) {
    return std::nullopt;
  }
  const auto run = [&](RunControl* control) {
    return model.run(bound.prepared, control, fixed.buffers);
  };
  std::vector<OwnedValue> results;
  // As in Session.run: the model may not produce the shape it declares.
  const auto attempt = [&] {
    results = run_stoppable(model, bound.prepared.run_key(), StoppableRun(run), options);
  };
  if (!attempt_with_fixed_outputs(attempt)) {
    failed = true;
    return std::nullopt;
  }
  // Outputs left to ORT in a quick run show their shapes for the next runs.
  if (model.quick_runs().expected(key)) bound.outputs->learn(model, key, outputs, results);
  return results_to_python(outputs, std::move(results), fixed.arrays, bound.model);
}

py::list run_prepared(BoundRun& bound, const std::shared_ptr<RunOptions>& options) {
  const Model& model = *bound.model;
  const PreparedRun& prepared = bound.prepared;
  const bool binds =
      bound.on_change == OnChange::kRaise && !prepared.has_out() && bound.bind_fixed_outputs.load();
  bool failed = false, learned = false;
  if (binds) {
    if (std::optional<py::list> results = run_with_fixed_outputs(bound, options, failed, learned)) {
      return std::move(*results);
    }
  }
  const auto run = [&](RunControl* control) { return model.run(prepared, control); };
  std::vector<OwnedValue> results =
      run_stoppable(model, prepared.run_key(), StoppableRun(run), options);
  // It ran without them: a learned shape may follow the input values, a declared one is the
  // model's mistake.
  if (failed && learned) bound.outputs->refuse(prepared.run_key());
  if (failed && !learned) bound.bind_fixed_outputs.store(false);
  if (binds && !failed && model.quick_runs().expected(prepared.run_key())) {
    bound.outputs->learn(model, prepared.run_key(), bound.call->request.outputs, results);
  }
  return results_to_python(*bound.call, std::move(results), bound.model);
}

py::list run(BoundRun& bound, py::handle run_options) {
  const std::shared_ptr<RunOptions> options = run_options_arg(run_options);
  if (bound.on_change == OnChange::kRaise) {
    check_unchanged(bound);
    // Without out arrays a run only reads the prepared values: runs may overlap.
    if (!bound.prepared.has_out()) return run_prepared(bound, options);
    if (bound.busy.exchange(true)) {
      throw Error(ErrorKind::kRuntime,
                  "this prepared call is running on another thread and writes into its out "
                  "arrays; prepare one call per thread");
    }
    const Release release{bound.busy};
    return run_prepared(bound, options);
  }
  if (bound.busy.exchange(true)) {
    // Another thread is running these views: this call makes its own.
    std::unique_ptr<BorrowedCall> call = borrow(bound);
    std::vector<OwnedValue> results = run_stoppable(*bound.model, call->request, options);
    return results_to_python(*call, std::move(results), bound.model);
  }
  const Release release{bound.busy};
  if (!current(bound)) view(bound);
  return run_prepared(bound, options);
}

// run() as a METH_FASTCALL method, as SessionHandle.run: pybind11's dispatcher would cost more
// than what the views save.
template <typename T>
PyObject* run_fastcall(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  return called_from_python([&] {
    py::handle run_options = nargs == 1 ? py::handle(args[0]) : py::none();
    const Py_ssize_t nkw = kwnames == nullptr ? 0 : PyTuple_GET_SIZE(kwnames);
    if (nargs == 0 && nkw == 1 &&
        PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(kwnames, 0), "run_options") == 0) {
      run_options = args[0];
    } else if (nargs > 1 || nkw > 0) {
      throw Error(ErrorKind::kTypeMismatch, "run() takes one argument, run_options");
    }
    constexpr bool kPrepared = std::is_same_v<T, PreparedCall>;
    T& bound = initialized<T>(self, kPrepared ? "PreparedCall" : "BoundRun");
    return run(bound, run_options);
  });
}

PyMethodDef g_run_method = {
    "run", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&run_fastcall<BoundRun>)),
    METH_FASTCALL | METH_KEYWORDS,
    "run($self, run_options=None)\n--\n\nRuns the model on the bound arrays, as\n"
    "SessionHandle.run(output_names, input_feed, run_options, out=out) would."};

constexpr const char* kPreparedRunDoc =
    R"doc(run($self, run_options=None)
--

Runs the model on what the prepared arrays hold now; returns the outputs in the order of
`output_names` (the out arrays themselves for outputs given in `out`, new arrays for the
others). Raises InvalidArgumentError, before anything runs, when an array was replaced in
its dict, resized, reshaped or given other memory since prepare(). Calls without out arrays
may overlap on several threads; with out arrays a second concurrent call raises
FastortError.
)doc";

PyMethodDef g_prepared_run_method = {
    "run", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&run_fastcall<PreparedCall>)),
    METH_FASTCALL | METH_KEYWORDS, kPreparedRunDoc};

template <typename T>
std::unique_ptr<T> make_bound(std::shared_ptr<Model> model, bool strict, OnChange on_change,
                              py::object output_names, py::object input_feed, py::object out) {
  // The feed is read again at each call to see replaced arrays: it must be a dict itself.
  if (!PyDict_Check(input_feed.ptr())) {
    throw Error(ErrorKind::kTypeMismatch,
                "prepare() takes input_feed as a dict of input name -> array, got " +
                    type_name(input_feed));
  }
  auto bound = std::make_unique<T>();
  bound->model = std::move(model);
  bound->strict = strict;
  bound->on_change = on_change;
  bound->output_names = std::move(output_names);
  bound->input_feed = std::move(input_feed);
  bound->out = std::move(out);
  bound->outputs = std::make_unique<OutputPool>(bound->model->outputs().size());
  view(*bound);
  return bound;
}

}  // namespace

void register_bound_run(py::module_& m) {
  py::class_<BoundRun> cls(m, "BoundRun",
                           "A run's inputs, outputs and out arrays, viewed once for many runs.");
  cls.def(py::init([](std::shared_ptr<Model> model, bool strict, py::object output_names,
                      py::object input_feed, py::object out) {
            if (!model) throw Error(ErrorKind::kTypeMismatch, "BoundRun needs a Model, got None");
            return make_bound<BoundRun>(std::move(model), strict, OnChange::kViewAgain,
                                        std::move(output_names), std::move(input_feed),
                                        std::move(out));
          }),
          py::arg("model"), py::arg("strict"), py::arg("output_names"), py::arg("input_feed"),
          py::arg("out"));
  add_method(cls, &g_run_method);

  py::class_<PreparedCall> prepared(
      m, "PreparedCall",
      "A run checked once over the caller's arrays (Session.prepare): run() reads them in place.");
  prepared
      .def(py::init([](std::shared_ptr<Model> model, py::object output_names, py::object input_feed,
                       py::object out) {
             if (!model) {
               throw Error(ErrorKind::kTypeMismatch, "PreparedCall needs a Model, got None");
             }
             return make_bound<PreparedCall>(std::move(model), true, OnChange::kRaise,
                                             std::move(output_names), std::move(input_feed),
                                             std::move(out));
           }),
           py::arg("model"), py::arg("output_names"), py::arg("input_feed"), py::arg("out"))
      .def_property_readonly(
          "output_names",
          [](py::handle self) {
            const PreparedCall& call = initialized<PreparedCall>(self, "PreparedCall");
            py::list names;
            for (size_t index : call.call->request.outputs) {
              names.append(model_text(call.model->outputs()[index].name));
            }
            return names;
          },
          "The names of run()'s results, in order.")
      .def_property_readonly("_model", [](py::handle self) {
        return initialized<PreparedCall>(self, "PreparedCall").model;
      });
  add_method(prepared, &g_prepared_run_method);
}

}  // namespace fastort::bindings
