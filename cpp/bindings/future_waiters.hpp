// concurrent.futures.wait() and as_completed() on BatchFutures (future_waiters.cpp).
#pragma once

#include <pybind11/pybind11.h>

namespace fastort::bindings {

// Tells the waiters of concurrent.futures.wait() and as_completed() that `future` is done,
// once, under its condition; `wait_for_lock` false: not if another thread holds it now.
// Returns whether they are told. With the GIL.
bool tell_waiters(PyObject* future, bool wait_for_lock);

// tell_waiters(future, false) for a caller that found the request done while its hook has yet
// to run (it may wait for the GIL on a worker).
void tell_waiters_if_done(pybind11::handle future);

// The future's request cancelled (true if it is, now or before), its waiters told by its
// hook on this thread; a signal handler's exception raised meanwhile is raised here.
bool cancel_telling_waiters(pybind11::handle future);

// _condition, _state and _waiters, for the type's Py_tp_getset.
PyGetSetDef* waiter_attributes();

}  // namespace fastort::bindings
