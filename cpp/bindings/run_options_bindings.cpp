// RunOptions, and runs that Ctrl-C, signal handlers, timeouts and the terminate flag can stop.
#include <pybind11/gil_safe_call_once.h>
#include <pybind11/stl.h>

#include <chrono>
#include <cmath>
#include <ctime>

#include "bindings.hpp"
#include "fastort/error.hpp"
#include "fastort/run_control.hpp"
#include "fastort/runtime.hpp"
#include "gil.hpp"
#include "run_bindings.hpp"

namespace py = pybind11;

namespace fastort::bindings {
namespace {

using ConfigList = std::vector<std::pair<std::string, std::string>>;

// Arguments arrive type-checked by fastort/run_options.py.
std::shared_ptr<RunOptions> make_run_options(bool terminate, int log_severity_level,
                                             const std::string& tag, py::object timeout,
                                             const ConfigList& config) {
  RunOptions::Settings settings;
  settings.log_severity_level = log_severity_level;
  settings.tag = tag;
  settings.timeout_seconds = timeout.is_none() ? 0.0 : timeout.cast<double>();
  if (!timeout.is_none() && !(settings.timeout_seconds > 0)) {
    throw Error(ErrorKind::kInvalidArgument,
                "timeout must be a positive number of seconds or None, got " +
                    std::string(py::str(py::repr(timeout))));
  }
  settings.config = config;
  auto options = std::make_shared<RunOptions>(std::move(settings));
  if (terminate) options->set_terminate(true);
  return options;
}

RunOptions& options_of(py::handle self) { return initialized<RunOptions>(self, "RunOptions"); }

// Milliseconds of a monotonic clock, read cheaply: CLOCK_MONOTONIC_COARSE (a few ms of
// resolution) where there is one, which costs several times less than steady_clock on
// virtual machines.
int64_t coarse_monotonic_ms() {
#if defined(CLOCK_MONOTONIC_COARSE)
  timespec now{};
  if (clock_gettime(CLOCK_MONOTONIC_COARSE, &now) == 0) {
    return static_cast<int64_t>(now.tv_sec) * 1000 + now.tv_nsec / 1000000;
  }
#endif
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Whether signals reach the watchdog: Python's signal wakeup fd is pointed at it, unless
// another user of the wakeup fd (an asyncio loop with signal handlers) holds it, which is
// left alone. Setting it costs more than a small model's run, so it is set once and checked
// again about once a second (a loop may have taken it meanwhile, or let it go). Main thread
// only, with the GIL.
bool signals_reach_watchdog() {
  static int64_t next_check = 0;
  static bool installed = false;
  const int64_t now = coarse_monotonic_ms();
  if (now < next_check) return installed;
  next_check = now + 1000;
  installed = false;
  const int ours = interrupt_fd();
  if (ours < 0) return false;
  try {
    PYBIND11_CONSTINIT static py::gil_safe_call_once_and_store<py::object> storage;
    const py::object& set_wakeup_fd =
        storage
            .call_once_and_store_result(
                [] { return py::object(py::module_::import("signal").attr("set_wakeup_fd")); })
            .get_stored();
    const int previous = set_wakeup_fd(ours, py::arg("warn_on_full_buffer") = false).cast<int>();
    if (previous == -1 || previous == ours) {
      installed = true;
    } else {
      set_wakeup_fd(previous);  // someone else's: theirs again
    }
  } catch (py::error_already_set&) {
    // Not the main interpreter, or the fd was refused: runs are not interruptible.
  }
  return installed;
}

}  // namespace

// Asked on first use, and again in a fork()ed child, where the thread that forked is the main
// one.
bool on_main_thread() {
  static uint64_t generation = 0;
  static unsigned long main_ident = 0;
  if (main_ident == 0 || generation != fork_generation()) {
    main_ident =
        py::module_::import("threading").attr("main_thread")().attr("ident").cast<unsigned long>();
    generation = fork_generation();
  }
  return PyThread_get_thread_ident() == main_ident;
}

std::vector<OwnedValue> run_stoppable(const Model& model, uint64_t run_key, const StoppableRun& run,
                                      const std::shared_ptr<RunOptions>& options, RunStart start) {
  const auto logged = [&](RunControl* control) {
    return forwarding_ort_log([&] {
      return run_without_gil_unless_quick(
          model.quick_runs(), run_key, [&] { return run(control); }, start);
    });
  };
  const bool interruptible = on_main_thread() && signals_reach_watchdog();
  if (!interruptible && !options) return logged(nullptr);  // nothing can stop it
  for (;;) {
    try {
      // Watched before the check below, so no signal falls between the two.
      RunControl control(options, interruptible);
      if (interruptible && PyErr_CheckSignals() != 0) throw py::error_already_set();
      return logged(&control);
    } catch (const Error& error) {
      if (error.kind() != ErrorKind::kInterrupted) throw;
    }
    // Stopped by a signal: its handler runs now. If it raised (KeyboardInterrupt, a
    // TimeoutError from SIGALRM), that is the result; if it returned, the run starts again,
    // and that signal no longer stops runs (it may come again before any run ends).
    if (PyErr_CheckSignals() != 0) throw py::error_already_set();
    defer_signals_that_stopped_runs();
  }
}

std::vector<OwnedValue> run_stoppable(const Model& session, RunRequest& request, uint64_t key,
                                      const std::shared_ptr<RunOptions>& options, RunStart start,
                                      const std::vector<const OutputBuffer*>* buffers) {
  // A request may be run again (a bound run reuses it): it never keeps a control that is gone.
  struct ForgetControl {
    RunRequest& request;
    ~ForgetControl() { request.control = nullptr; }
  } forget{request};
  const auto run = [&](RunControl* control) {
    request.control = control;
    return buffers != nullptr ? session.run(request, *buffers) : session.run(request);
  };
  return run_stoppable(session, key, StoppableRun(run), options, start);
}

std::vector<OwnedValue> run_stoppable(const Model& session, RunRequest& request,
                                      const std::shared_ptr<RunOptions>& options) {
  return run_stoppable(session, request, run_key(request.inputs), options);
}

std::shared_ptr<RunOptions> run_options_arg(py::handle value) {
  if (value.is_none()) return nullptr;
  if (!py::isinstance<RunOptions>(value)) {
    throw Error(ErrorKind::kTypeMismatch,
                "run_options must be a fastort.RunOptions or None, got " +
                    std::string(py::str(value.get_type().attr("__name__"))));
  }
  options_of(value);  // raises for an object whose __init__ never ran
  return value.cast<std::shared_ptr<RunOptions>>();
}

void register_run_options(py::module_& m) {
  py::class_<RunOptions, std::shared_ptr<RunOptions>>(m, "RunOptionsBase",
                                                      "Options of runs; see fastort.RunOptions.")
      .def(py::init(&make_run_options), py::kw_only(), py::arg("terminate") = false,
           py::arg("log_severity_level") = -1, py::arg("tag") = "", py::arg("timeout") = py::none(),
           py::arg("config") = ConfigList{})
      .def_property(
          "terminate", [](py::handle self) { return options_of(self).terminate(); },
          [](py::handle self, bool value) { options_of(self).set_terminate(value); },
          "Set to True (from any thread) to stop the runs using these options;\n"
          "runs started while it is True fail at once.")
      .def_property_readonly(
          "log_severity_level",
          [](py::handle self) { return options_of(self).settings().log_severity_level; })
      .def_property_readonly("tag", [](py::handle self) { return options_of(self).settings().tag; })
      .def_property_readonly("timeout",
                             [](py::handle self) -> py::object {
                               const double seconds = options_of(self).settings().timeout_seconds;
                               if (seconds > 0) return py::float_(seconds);
                               return py::none();
                             })
      .def_property_readonly("config", [](py::handle self) {
        py::dict config;
        for (const auto& [key, value] : options_of(self).settings().config)
          config[py::str(key)] = value;
        return config;
      });
}

}  // namespace fastort::bindings
