// fastort._core: the private extension. The public API is re-exported by fastort/__init__.py.
#include "bindings.hpp"
#include "fastort/runtime.hpp"

PYBIND11_MODULE(_core, m) {
  m.doc() = "fastort native core (private; use the fastort package)";
  // At import, not at the runtime's first load: a fork during that load must find the hooks.
  fastort::install_fork_handlers();
  fastort::bindings::register_errors(m);
  fastort::bindings::register_runtime(m);
  fastort::bindings::register_session(m);
  fastort::bindings::register_run_options(m);
  fastort::bindings::register_session_handle(m);
  fastort::bindings::register_bound_run(m);
  fastort::bindings::register_tensor_types(m);
  fastort::bindings::make_pickling_safe(m);
  // Images, the batcher and onnxruntime's enums: on first use (see lazy_parts.cpp).
  fastort::bindings::register_lazy_parts(m);
}
