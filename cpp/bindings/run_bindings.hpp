// Session.run: the hot path from a Python call to Model::run and back.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <list>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bindings.hpp"
#include "fastort/error.hpp"
#include "fastort/model.hpp"
#include "fastort/run_control.hpp"
#include "numpy_interop.hpp"
#include "output_pool.hpp"

namespace fastort::bindings {

// Everything one run borrows from Python, kept alive until the results are built.
struct BorrowedCall {
  RunRequest request;
  // The dicts' keys and values, the arrays made from values, and the UTF-8 bytes of names
  // that needed encoding, held strongly: request's names and views point into them.
  std::vector<pybind11::object> references;
  size_t out_items = 0;  // where the out dict's keys and values begin in references
  std::vector<pybind11::object> out_objects;  // parallel to request.outputs; null: ORT allocates
  // A list: stable addresses, and no allocation when no input is a string tensor.
  std::list<std::vector<std::string>> strings;
  FixedOutputs fixed;  // when request.out is empty: small fixed-shape outputs' arrays
  // The shape vectors of the last call's views, emptied, for the next call's views: a call
  // on a thread's reused BorrowedCall then allocates none.
  std::vector<std::vector<int64_t>> spare_shapes;

  // A shape vector for a view: a spare one, else a new one.
  std::vector<int64_t> take_shape() noexcept;
  // Empty again (its references dropped; the GIL must be held), keeping the vectors' memory.
  void clear() noexcept;
};

// A list or tuple of arrays for a sequence input, a dict for a map input, None for an optional
// input, into call.request.inputs (the arrays referenced by `call`); false for a value of any
// other kind, or for an input the model declares as a tensor: that value is read as an array.
bool borrow_structured(BorrowedCall& call, const Subject& subject, pybind11::handle value,
                       const Model& model);

// Views every array of an input_feed dict into call.request.inputs; for inputs `model` declares
// as sequences, maps or optionals, also lists of arrays, dicts and None.
void borrow_inputs(BorrowedCall& call, pybind11::handle input_feed, const Model& model);

// The requested outputs (None or empty: all, in model order) into call.request.outputs, and
// the arrays of an `out` dict (or None) into call.request.out and call.out_objects.
void borrow_outputs(BorrowedCall& call, const Model& model, pybind11::handle output_names,
                    pybind11::handle out);

// A run's results as a list: the caller's out arrays themselves, other outputs converted.
pybind11::list results_to_python(const BorrowedCall& call, std::vector<OwnedValue> results,
                                 const std::shared_ptr<Model>& model);

// The rest of Session.run once `call` holds its inputs, outputs and out arrays (borrow_inputs,
// borrow_outputs): outputs of a fixed declared shape bound to arrays of `pool` (null: new
// arrays) while `bind_fixed_outputs` (cleared when the model turns out not to produce that
// shape), the run stoppable by `options`, the results as Python objects; `start` as for
// QuickRuns::record. With `prepared` (call.request prepared, or a run of the same arrays; its
// run_key `prepared_key`), that runs, and call.request.inputs are not read.
pybind11::list run_borrowed(BorrowedCall& call, const std::shared_ptr<Model>& model,
                            const std::shared_ptr<RunOptions>& options, bool& bind_fixed_outputs,
                            RunStart start = RunStart::kBusy, OutputPool* pool = nullptr,
                            const PreparedRun* prepared = nullptr, uint64_t prepared_key = 0);

// Runs `attempt`, a run with fixed outputs bound; false when it failed in a way the same run
// without them may not (kRuntime, kInvalidArgument), its ORT log records then dropped. Other
// exceptions propagate.
template <typename F>
bool attempt_with_fixed_outputs(const F& attempt) {
  HeldOrtLog held;
  try {
    attempt();
  } catch (const Error& error) {
    if (error.kind() != ErrorKind::kRuntime && error.kind() != ErrorKind::kInvalidArgument) {
      held.release();
      forward_ort_log();
      throw;
    }
    // ORT logged the failure as an error; the run that decides logs its own.
    held.discard();
    return false;
  } catch (...) {
    held.release();
    forward_ort_log();
    throw;
  }
  held.release();
  forward_ort_log();
  return true;
}

// Results parallel to `outputs`: the array of `arrays` (parallel, or empty) for a result ORT
// wrote there, others converted.
pybind11::list results_to_python(const std::vector<size_t>& outputs,
                                 std::vector<OwnedValue> results,
                                 const std::vector<pybind11::object>& arrays,
                                 const std::shared_ptr<Model>& model);

// The RunOptions behind a run_options argument (None: null); InvalidTypeError otherwise.
std::shared_ptr<RunOptions> run_options_arg(pybind11::handle value);

// A run given its control (null: nothing can stop it), called without the GIL: a reference to
// a callable, so that passing one allocates nothing.
class StoppableRun {
 public:
  template <typename F>
  explicit StoppableRun(const F& run)
      : object_(&run), call_([](const void* object, RunControl* control) {
          return (*static_cast<const F*>(object))(control);
        }) {}
  std::vector<OwnedValue> operator()(RunControl* control) const { return call_(object_, control); }

 private:
  const void* object_;
  std::vector<OwnedValue> (*call_)(const void*, RunControl*);
};

// Whether this is Python's main thread, the only one that runs signal handlers. With the GIL.
bool on_main_thread();

// run(control), a run of `model` over inputs of `run_key`, with the GIL released (unless it is
// expected quick: see run_without_gil_unless_quick), stoppable by `options` (terminate,
// timeout) and, on Python's main thread, by signals, as below.
std::vector<OwnedValue> run_stoppable(const Model& model, uint64_t run_key, const StoppableRun& run,
                                      const std::shared_ptr<RunOptions>& options,
                                      RunStart start = RunStart::kBusy);

// session.run(request) with the GIL released (unless quick, as above), stoppable by `options`
// (terminate, timeout) and, on Python's main thread, by signals: a signal stops the run and its
// handler runs; if the handler raises, that exception propagates, else the run starts again.
// `key` is run_key(request.inputs); `buffers` (where not null) as Model::run(request, buffers)
// takes them.
std::vector<OwnedValue> run_stoppable(const Model& session, RunRequest& request, uint64_t key,
                                      const std::shared_ptr<RunOptions>& options,
                                      RunStart start = RunStart::kBusy,
                                      const std::vector<const OutputBuffer*>* buffers = nullptr);
// The same, keyed here.
std::vector<OwnedValue> run_stoppable(const Model& session, RunRequest& request,
                                      const std::shared_ptr<RunOptions>& options);

}  // namespace fastort::bindings
