// Registration functions of the fastort._core areas, one per bindings file.
#pragma once

#include <pybind11/pybind11.h>

namespace fastort::bindings {

void register_errors(pybind11::module_& m);
void register_runtime(pybind11::module_& m);
void register_session(pybind11::module_& m);

}  // namespace fastort::bindings
