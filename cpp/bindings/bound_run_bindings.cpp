// BoundRun: one run's inputs, requested outputs and out arrays, viewed once and reused by every
// call: what fastort.onnxruntime's IOBinding runs. A call skips the conversions run() makes
// from its arguments; Model::run still checks everything before ONNX Runtime sees it.
#include <atomic>
#include <memory>
#include <vector>

#include "bindings.hpp"
#include "fastort/error.hpp"
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

struct BoundRun {
  std::shared_ptr<Model> model;
  bool strict = false;
  py::object output_names, input_feed, out;  // what it views, to view again
  std::unique_ptr<BorrowedCall> call;
  std::vector<ArrayState> arrays;  // every input and out array of `call`
  bool has_strings = false;        // string inputs are copied when viewed: view each call
  std::atomic<bool> busy{false};   // a call in progress (on another thread) uses `call`
};

std::unique_ptr<BorrowedCall> borrow(const BoundRun& bound) {
  auto call = std::make_unique<BorrowedCall>();
  borrow_inputs(*call, bound.input_feed);
  borrow_outputs(*call, *bound.model, bound.output_names, bound.out);
  call->request.allow_copy = !bound.strict;
  return call;
}

void view(BoundRun& bound) {
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
}

bool current(const BoundRun& bound) {
  if (bound.has_strings) return false;
  for (const ArrayState& array : bound.arrays) {
    if (!array.unchanged()) return false;
  }
  return true;
}

py::list run(BoundRun& bound, py::handle run_options) {
  const std::shared_ptr<RunOptions> options = run_options_arg(run_options);
  if (bound.busy.exchange(true)) {
    // Another thread is running these views: this call makes its own.
    std::unique_ptr<BorrowedCall> call = borrow(bound);
    std::vector<OwnedValue> results = run_stoppable(*bound.model, call->request, options);
    return results_to_python(*call, std::move(results), bound.model);
  }
  struct Release {
    std::atomic<bool>& busy;
    ~Release() { busy.store(false); }
  } release{bound.busy};
  if (!current(bound)) view(bound);
  std::vector<OwnedValue> results = run_stoppable(*bound.model, bound.call->request, options);
  return results_to_python(*bound.call, std::move(results), bound.model);
}

// run() as a METH_FASTCALL method, as SessionHandle.run: pybind11's dispatcher would cost more
// than what the views save.
PyObject* run_fastcall(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  try {
    if (nargs > 1 || (kwnames != nullptr && PyTuple_GET_SIZE(kwnames) > 0)) {
      throw Error(ErrorKind::kTypeMismatch, "BoundRun.run() takes one argument, run_options");
    }
    BoundRun& bound = initialized<BoundRun>(self, "BoundRun");
    return run(bound, nargs == 1 ? py::handle(args[0]) : py::none()).release().ptr();
  } catch (py::error_already_set& error) {
    error.restore();
  } catch (const Error& error) {
    set_python_error(error);
  } catch (const py::builtin_exception& error) {
    error.set_error();
  } catch (const std::bad_alloc&) {
    PyErr_NoMemory();
  } catch (const std::exception& error) {
    PyErr_SetObject(PyExc_RuntimeError, message_text(error.what()).ptr());
  }
  return nullptr;
}

PyMethodDef g_run_method = {
    "run", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&run_fastcall)),
    METH_FASTCALL | METH_KEYWORDS,
    "run(self, run_options=None) -> list\n\nRuns the model on the bound arrays, as\n"
    "SessionHandle.run(output_names, input_feed, run_options, out=out) would."};

}  // namespace

void register_bound_run(py::module_& m) {
  py::class_<BoundRun> cls(m, "BoundRun",
                           "A run's inputs, outputs and out arrays, viewed once for many runs.");
  cls.def(py::init([](std::shared_ptr<Model> model, bool strict, py::object output_names,
                      py::object input_feed, py::object out) {
            if (!model) throw Error(ErrorKind::kTypeMismatch, "BoundRun needs a Model, got None");
            auto bound = std::make_unique<BoundRun>();
            bound->model = std::move(model);
            bound->strict = strict;
            bound->output_names = std::move(output_names);
            bound->input_feed = std::move(input_feed);
            bound->out = std::move(out);
            view(*bound);
            return bound;
          }),
          py::arg("model"), py::arg("strict"), py::arg("output_names"), py::arg("input_feed"),
          py::arg("out"));
  PyObject* descriptor =
      PyDescr_NewMethod(reinterpret_cast<PyTypeObject*>(cls.ptr()), &g_run_method);
  if (descriptor == nullptr) throw py::error_already_set();
  cls.attr("run") = py::reinterpret_steal<py::object>(descriptor);
}

}  // namespace fastort::bindings
