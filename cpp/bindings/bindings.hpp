// Registration functions of the fastort._core areas, one per bindings file.
#pragma once

#include <pybind11/pybind11.h>

#include "fastort/error.hpp"

namespace fastort::bindings {

void register_errors(pybind11::module_& m);
void register_runtime(pybind11::module_& m);
void register_session(pybind11::module_& m);
void register_session_base(pybind11::module_& m);
void register_image(pybind11::module_& m);

// Sets the Python exception for `error` (the same mapping pybind11's translator uses).
void set_python_error(const Error& error);

}  // namespace fastort::bindings
