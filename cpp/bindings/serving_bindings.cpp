// The batcher, its futures, and their hand-off to threads (a result() that waits without the
// GIL) and to asyncio (a completion queue the event loop watches).
#include <pybind11/stl.h>

#include <atomic>
#include <chrono>
#include <optional>

#include "batch_future.hpp"
#include "bindings.hpp"
#include "fastort/batcher.hpp"
#include "fastort/completion_queue.hpp"
#include "fastort/reused_per_thread.hpp"
#include "gil.hpp"
#include "numpy_interop.hpp"
#include "repeated_run.hpp"
#include "run_bindings.hpp"
#include "text.hpp"

namespace py = pybind11;

namespace fastort::bindings {
namespace {

py::dict stats_of(const Batcher& batcher) {
  const BatcherStats stats = batcher.stats();
  py::dict histogram;
  for (const auto& [rows, count] : stats.batch_rows) histogram[py::int_(rows)] = count;
  py::dict result;
  result["requests"] = stats.requests;
  result["batches"] = stats.batches;
  result["rejected"] = stats.rejected;
  result["cancelled"] = stats.cancelled;
  result["timed_out"] = stats.timed_out;
  result["batch_rows"] = histogram;
  result["queue_delay_ms"] = stats.queue_delay_ms;
  result["run_ms"] = stats.run_ms;
  return result;
}

// What a Python Batcher holds: the core's Batcher, and the arrays its requests run on the
// caller's thread write small outputs into, as a Session's runs do (OutputPool; GIL held).
struct BatcherHandle : Batcher {
  BatcherHandle(std::shared_ptr<const Model> model, const BatcherOptions& options)
      : Batcher(std::move(model), options),
        outputs(std::make_unique<OutputPool>(this->model().outputs().size())) {}
  std::unique_ptr<OutputPool> outputs;
};

// Destroyed without the GIL: destruction closes the batcher and joins its workers, which may
// be waiting for the GIL to run a future's callbacks. Its arrays are let go first, with it.
std::shared_ptr<Batcher> make_batcher(std::shared_ptr<Model> model, int64_t max_batch_size,
                                      double max_delay_ms, int64_t max_queue, int64_t workers) {
  auto* batcher =
      new BatcherHandle(std::move(model), {max_batch_size, max_delay_ms, max_queue, workers});
  return std::shared_ptr<Batcher>(batcher, [](Batcher* owned) {
    auto* handle = static_cast<BatcherHandle*>(owned);
    if (PyGILState_Check()) {
      handle->outputs.reset();
      without_gil([handle] { delete handle; });
    } else {
      // Only Python's object owns a batcher, and it is freed with the GIL: not reached, but
      // arrays cannot be let go without it.
      (void)handle->outputs.release();
      delete handle;
    }
  });
}

Batcher& batcher_of(py::handle self) { return initialized<Batcher>(self, "Batcher"); }

// Every Batcher is made by make_batcher.
OutputPool* outputs_of(Batcher& batcher) {
  return static_cast<BatcherHandle&>(batcher).outputs.get();
}

// A request's timeout: None (no limit) or positive seconds.
double timeout_seconds(py::handle timeout) {
  if (timeout.is_none()) return 0;
  if (PyBool_Check(timeout.ptr()) ||
      !(PyFloat_Check(timeout.ptr()) || PyLong_Check(timeout.ptr()))) {
    throw Error(ErrorKind::kTypeMismatch,
                "timeout must be seconds or None, got " + std::string(py::str(py::repr(timeout))));
  }
  const double seconds = seconds_of(timeout);
  if (!(seconds > 0) || seconds > kLongestSeconds) {
    throw Error(ErrorKind::kInvalidArgument,
                "timeout must be a positive number of seconds (at most 1e9), got " +
                    std::string(py::str(py::repr(timeout))));
  }
  return seconds;
}

// The request of every future whose request succeeded in submit(): done, with no outputs of
// its own (the future holds them), it is only ever read, and saves making one per request.
// Leaked: futures may outlive the module's teardown.
const std::shared_ptr<BatchRequest>& done_request() {
  static const auto* done = [] {
    auto request = std::make_shared<BatchRequest>(0, std::nullopt);
    request->start();
    request->finish({});
    return new std::shared_ptr<BatchRequest>(std::move(request));
  }();
  return *done;
}

// A request as its caller's thread sees it before deciding where it runs: either the arrays of
// one of the thread's recent quick requests through a batcher of this model (one of the
// thread's RepeatedRuns matched them, and the Batcher checked them then), or borrowed from
// `feed` here.
class ThreadRequest {
 public:
  ThreadRequest(const Batcher& batcher, py::handle feed)
      : feed_(feed), records_(thread_records_.get()) {
    if (records_ != nullptr) {
      repeated_ = records_->match(batcher.model(), py::none(), feed, py::none(), call());
    }
    matched_ = repeated_ != nullptr;
    if (!matched_) borrow_inputs(call(), feed, batcher.model());
  }

  BorrowedCall& call() noexcept { return scratch_.get(); }
  uint64_t key() noexcept { return matched_ ? repeated_->key() : run_key(call().request.inputs); }
  // Counted as running on this thread: checked now, or when recorded.
  Batcher::HereRun run_here(Batcher& batcher) {
    return matched_ ? batcher.run_here(repeated_->leading_dim())
                    : batcher.run_here(call().request.inputs);
  }
  std::optional<Batcher::HereRun> run_here_if_idle(Batcher& batcher) {
    return matched_ ? batcher.run_here_if_idle(repeated_->leading_dim())
                    : batcher.run_here_if_idle(call().request.inputs);
  }
  // The inputs, for a request that is queued after all.
  const std::vector<NamedInput>& inputs(const Batcher& batcher) {
    if (matched_) {
      matched_ = false;
      call().clear();
      borrow_inputs(call(), feed_, batcher.model());
    }
    return call().request.inputs;
  }

  // The run, on this thread: a quick one keeping the GIL, as handing it, or the rows, to
  // another thread would cost more than the run (QuickRuns); a trial (Batcher::trial_here,
  // `start` kWoken) releasing it, timed to teach QuickRuns. `here` has checked it and counts
  // it like the batcher's own runs. The run is the one recorded, or one prepared into one of
  // the thread's records (recorded when its arrays are read in place), so that the thread's
  // later requests of the same arrays are neither borrowed, checked nor prepared again.
  py::list run(Batcher& batcher, Batcher::HereRun& here, RunStart start = RunStart::kBusy) {
    BorrowedCall& call = this->call();
    // Session.run's path wants the model as its sessions hold it; the Batcher only reads it.
    const std::shared_ptr<Model> model = std::const_pointer_cast<Model>(batcher.shared_model());
    if (!matched_) {
      for (size_t k = 0; k < model->outputs().size(); ++k) call.request.outputs.push_back(k);
      if (records_ != nullptr) {
        repeated_ = &records_->record(model, py::none(), feed_, py::none(), call);
      }
    }
    const ForgetUnrecorded forget{repeated_};
    bool bind_fixed_outputs = true;
    const auto began = std::chrono::steady_clock::now();
    const auto took_ms = [&] {
      const double ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - began)
              .count();
      if (start == RunStart::kWoken) batcher.trial_finished(ms);
      return ms;
    };
    py::list outputs;
    try {
      // A nested call (no records) runs the full path.
      outputs = run_borrowed(call, model, nullptr, bind_fixed_outputs, start, outputs_of(batcher),
                             repeated_ != nullptr ? &repeated_->prepared() : nullptr,
                             repeated_ != nullptr ? repeated_->key() : 0);
    } catch (...) {
      took_ms();
      throw;
    }
    here.finished(took_ms());
    return outputs;
  }

 private:
  py::handle feed_;
  // The thread's BorrowedCall and records, as in Session.run; the records are the batchers'.
  ReusedPerThread<BorrowedCall> scratch_;
  ThreadRepeatedRuns<BatcherRuns> thread_records_;
  RepeatedRuns* records_;
  RepeatedRun* repeated_ = nullptr;  // the record matched, or the one this run is prepared into
  bool matched_ = false;
};

// How submit() runs a request on its caller's thread, if it does: a quick one (kBusy, as
// Session.run's), or one to time there (Batcher::trial_here), which may show that it is quick;
// inputs too large to be quick (key 0) are never tried. Empty: queue it.
std::optional<RunStart> run_on_caller(Batcher& batcher, uint64_t key) {
  if (batcher.model().quick_runs().expected(key)) return RunStart::kBusy;
  if (key != 0 && batcher.trial_here()) return RunStart::kWoken;
  return std::nullopt;
}

// submit(); with `done_as_outputs`, a request run on the caller's thread returns its outputs
// (its run's error raised) instead of a future that is done already: run_async's way.
py::object submit(py::handle self, py::handle feed, py::handle timeout,
                  bool done_as_outputs = false) {
  Batcher& batcher = batcher_of(self);
  const double seconds = timeout_seconds(timeout);
  ThreadRequest request(batcher, feed);
  if (const std::optional<RunStart> start = run_on_caller(batcher, request.key())) {
    // Its future is done when submit() returns. A bad request raises here (in Batcher::run_here),
    // as submit() checks every request; a run that fails gives the future its error, as a queued
    // request's run does.
    Batcher::HereRun here = request.run_here(batcher);
    if (done_as_outputs) return request.run(batcher, here, *start);
    try {
      return make_future(done_request(), request.run(batcher, here, *start));
    } catch (const Error& error) {
      auto failed = std::make_shared<BatchRequest>(0, std::nullopt);
      failed->start();
      failed->fail(error);
      return make_future(std::move(failed));
    }
  }
  // The rows are copied during submit: the arrays need not outlive it.
  auto queued = batcher.submit(request.inputs(batcher), seconds);
  return make_future(std::move(queued));
}

// submit() and result() in one call: a quick run happens here (ThreadRequest::run), and so does
// a run on an idle batcher where that pays (Batcher::run_here_if_idle), with the GIL released
// as Session.run releases it; otherwise the request is queued and waited for without the GIL.
py::list run(py::handle self, py::handle feed, py::handle timeout) {
  Batcher& batcher = batcher_of(self);
  const double seconds = timeout_seconds(timeout);
  ThreadRequest request(batcher, feed);
  if (batcher.model().quick_runs().expected(request.key())) {
    Batcher::HereRun here = request.run_here(batcher);
    return request.run(batcher, here);
  }
  if (std::optional<Batcher::HereRun> here = request.run_here_if_idle(batcher)) {
    return request.run(batcher, *here);
  }
  const std::vector<NamedInput>& inputs = request.inputs(batcher);
  // Queued and waited for in one release of the GIL, but on the main thread, where the wait
  // lets signal handlers run (wait_without_gil).
  const bool signals_run_here = on_main_thread();
  const std::shared_ptr<BatchRequest> queued = without_gil([&] {
    std::shared_ptr<BatchRequest> started = batcher.run(inputs, seconds);
    if (!signals_run_here) started->wait(-1);
    return started;
  });
  try {
    wait_without_gil(*queued, -1);
  } catch (py::error_already_set&) {
    queued->cancel();  // a signal handler raised: the request is dropped unless it runs already
    throw;
  }
  return request_outputs(*queued);
}

// The arguments of submit() and run() called as METH_FASTCALL methods, as Session.run is: on
// a quick model pybind11's dispatcher would cost a tenth of the call. One request, `feed`
// (positional or by name), and a keyword-only `timeout`.
struct RequestArgs {
  py::handle feed;
  py::handle timeout = py::none();
};

RequestArgs request_args(const char* method, PyObject* const* args, Py_ssize_t nargs,
                         PyObject* kwnames) {
  RequestArgs parsed;
  parsed.feed = nargs >= 1 ? py::handle(args[0]) : py::handle();
  const Py_ssize_t keywords = kwnames == nullptr ? 0 : PyTuple_GET_SIZE(kwnames);
  for (Py_ssize_t i = 0; i < keywords; ++i) {
    PyObject* name = PyTuple_GET_ITEM(kwnames, i);
    if (PyUnicode_CompareWithASCIIString(name, "timeout") == 0) {
      parsed.timeout = args[nargs + i];
    } else if (PyUnicode_CompareWithASCIIString(name, "feed") == 0) {
      if (parsed.feed) {
        throw Error(ErrorKind::kTypeMismatch,
                    std::string(method) + "() got multiple values for feed");
      }
      parsed.feed = args[nargs + i];
    } else {
      throw Error(ErrorKind::kTypeMismatch, std::string(method) +
                                                "() got an unexpected keyword argument " +
                                                std::string(py::str(name)));
    }
  }
  if (nargs > 1 || !parsed.feed) {
    throw Error(ErrorKind::kTypeMismatch,
                std::string(method) + "() takes one request, feed, and timeout=");
  }
  return parsed;
}

PyObject* run_fastcall(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  return called_from_python([&] {
    const RequestArgs parsed = request_args("run", args, nargs, kwnames);
    return run(self, parsed.feed, parsed.timeout);
  });
}

PyObject* submit_fastcall(PyObject* self, PyObject* const* args, Py_ssize_t nargs,
                          PyObject* kwnames) {
  return called_from_python([&] {
    const RequestArgs parsed = request_args("submit", args, nargs, kwnames);
    return submit(self, parsed.feed, parsed.timeout);
  });
}

PyObject* submit_or_run_fastcall(PyObject* self, PyObject* const* args, Py_ssize_t nargs,
                                 PyObject* kwnames) {
  return called_from_python([&] {
    const RequestArgs parsed = request_args("_submit_or_run", args, nargs, kwnames);
    return submit(self, parsed.feed, parsed.timeout, true);
  });
}

PyMethodDef g_submit_method = {
    "submit", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&submit_fastcall)),
    METH_FASTCALL | METH_KEYWORDS,
    "submit($self, feed, *, timeout=None)\n--\n\n"
    "Queues one request: `feed` maps every input name to its rows (first axis: rows).\n"
    "Returns a BatchFuture whose result() is the list run(None, feed) would return.\n"
    "With `timeout` (seconds), a request not started by then fails with\n"
    "RunTimeoutError."};

PyMethodDef g_submit_or_run_method = {
    "_submit_or_run",
    reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&submit_or_run_fastcall)),
    METH_FASTCALL | METH_KEYWORDS,
    "_submit_or_run($self, feed, *, timeout=None)\n--\n\n"
    "submit(), but a request run at once on this thread returns its outputs (a list),\n"
    "or raises its run's error, instead of a future that is done already."};

PyMethodDef g_run_method = {
    "run", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&run_fastcall)),
    METH_FASTCALL | METH_KEYWORDS,
    "run($self, feed, *, timeout=None)\n--\n\n"
    "submit(feed).result() in one call: the outputs of this request's rows. When the\n"
    "batcher is idle, or the model's runs are quick, the request runs at once on this\n"
    "thread, without a copy."};

// Keys of the futures a CompletionQueue watches, unique in the process.
std::atomic<uint64_t> g_next_key{1};

}  // namespace

void register_serving(py::module_& m) {
  register_batch_future(m);

  py::class_<Batcher, std::shared_ptr<Batcher>> batcher(m, "BatcherBase", "See fastort.Batcher.");
  batcher
      .def(py::init(&make_batcher), py::arg("model"), py::kw_only(), py::arg("max_batch_size") = 32,
           py::arg("max_delay_ms") = 2.0, py::arg("max_queue") = 1024, py::arg("workers") = 1)
      .def("close",
           [](py::handle self) {
             Batcher& batcher = batcher_of(self);  // with the GIL: it asks Python
             without_gil([&] { batcher.close(); });
           })
      .def("_stats", [](py::handle self) { return stats_of(batcher_of(self)); })
      .def_property_readonly(
          "max_batch_size",
          [](py::handle self) { return batcher_of(self).options().max_batch_size; })
      .def_property_readonly(
          "max_delay_ms", [](py::handle self) { return batcher_of(self).options().max_delay_ms; })
      .def_property_readonly("max_queue",
                             [](py::handle self) { return batcher_of(self).options().max_queue; })
      .def_property_readonly("workers",
                             [](py::handle self) { return batcher_of(self).options().workers; });
  add_method(batcher, &g_submit_method);
  add_method(batcher, &g_submit_or_run_method);
  add_method(batcher, &g_run_method);

  py::class_<CompletionQueue, std::shared_ptr<CompletionQueue>>(
      m, "CompletionQueue", "Futures' completions for an event loop to read (add_reader(fd)).")
      .def(py::init<>())
      .def_property_readonly("fd", [](const CompletionQueue& queue) { return queue.fd(); })
      .def(
          "watch",
          [](const std::shared_ptr<CompletionQueue>& queue, py::handle future) {
            const uint64_t key = g_next_key++;
            // No GIL on the worker: only the key crosses, into the queue.
            future_of(future).request->on_done(
                [queue, key](const std::shared_ptr<BatchRequest>&) { queue->push(key); });
            return key;
          },
          py::arg("future"), "Pushes a key when `future` is done; returns the key.")
      .def("take", [](CompletionQueue& queue) { return queue.take(); });
}

}  // namespace fastort::bindings
