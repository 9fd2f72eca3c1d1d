// fastort._core: the private extension. The public API is re-exported by fastort/__init__.py.
#include "bindings.hpp"

PYBIND11_MODULE(_core, m) {
  m.doc() = "fastort native core (private; use the fastort package)";
  fastort::bindings::register_errors(m);
  fastort::bindings::register_runtime(m);
  fastort::bindings::register_session(m);
  fastort::bindings::register_run_options(m);
  fastort::bindings::register_session_handle(m);
  fastort::bindings::register_bound_run(m);
  fastort::bindings::register_image(m);
  fastort::bindings::register_serving(m);
  fastort::bindings::register_tensor_types(m);
}
