// BatchFuture, the Python face of a batcher's request: a CPython type of its own rather than a
// pybind11 class, since one is made per request and a pybind11 instance (a registered,
// separately allocated holder) costs a tenth of a quick request.
#pragma once

#include <pybind11/pybind11.h>

#include <cstdint>
#include <memory>

#include "fastort/batcher.hpp"

namespace fastort::bindings {

// Longer than any process lives, and about the most a clock's duration holds (in ns, 64-bit):
// a wait this long has no limit, a request's timeout may not be longer.
constexpr double kLongestSeconds = 1e9;

// A number of seconds as a double; an int too large for one is infinite.
double seconds_of(pybind11::handle value);

// concurrent.futures, whose CancelledError and TimeoutError the futures raise.
pybind11::object futures_module();

// What a BatchFuture holds: the request, and its Python-side state (the outputs once built, so
// result() always returns the same arrays; callbacks added before completion; what
// concurrent.futures.wait() and as_completed() use). Most futures never get the last three.
struct FutureHandle {
  std::shared_ptr<BatchRequest> request;
  pybind11::object outputs;
  pybind11::object error;      // a failed request's exception: every call raises this one
  pybind11::object callbacks;  // a list
  pybind11::object condition;  // a threading.Condition: _condition
  pybind11::object waiters;    // a list of concurrent.futures' waiters: _waiters
  bool hooked = false;         // the request's hook, which runs run_callbacks, is pending
  // The hook has told the waiters, under the condition. Until then _state says the request
  // runs, done or not: a wait() holding the condition reads the state twice, and adds its
  // waiter to every future, and each must find what the hook will tell it, or not tell it.
  bool told = false;
  uint64_t generation = 0;  // fork_generation() when it was made
};

// Waits until `request` is done or `seconds` pass (< 0: no limit), without the GIL; returns
// whether it is done. On Python's main thread the wait is cut into slices, between which the
// signal handlers run: Ctrl-C raises KeyboardInterrupt at once, as in concurrent.futures, not
// once the run ends.
bool wait_without_gil(const BatchRequest& request, double seconds);

// The outputs of a done request, as the list run() returns them (new arrays over the batch's
// memory); raises its error, or concurrent.futures.CancelledError.
pybind11::list request_outputs(const BatchRequest& request);

// A new BatchFuture of `request`; `outputs`, when given, are its result already.
pybind11::object make_future(std::shared_ptr<BatchRequest> request,
                             pybind11::object outputs = pybind11::object());

// The FutureHandle of a BatchFuture; raises InvalidTypeError for anything else.
FutureHandle& future_of(pybind11::handle object);

// Sets the future's run_callbacks (its waiters told, its callbacks called) to run once the
// request is done (at once if it is), unless it will already.
void hook_completion(pybind11::handle future);

// Sets `member` to make() unless it is set. Making one may run Python code (a constructor, the
// collector's finalizers), during which another thread may make and set its own: the first
// set stays, so that every thread uses the same object.
template <typename Make>
void made_once(pybind11::object& member, Make make) {
  if (member) return;
  pybind11::object made = make();
  if (!member) member = std::move(made);
}

// Adds the type to `m` as BatchFuture.
void register_batch_future(pybind11::module_& m);

}  // namespace fastort::bindings
