"""Where onnxruntime keeps its native module: `capi.onnxruntime_pybind11_state` (and its alias
`capi._pybind_state`) holds the exception classes that code imports from there;
`capi.onnxruntime_inference_collection` (imported by `fastort.onnxruntime` once its own names
exist) the session classes."""

from . import _pybind_state, onnxruntime_pybind11_state

__all__ = ["_pybind_state", "onnxruntime_pybind11_state"]
