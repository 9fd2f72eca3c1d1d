"""The names code imports from `onnxruntime.capi.onnxruntime_pybind11_state` (exception
classes above all), from `fastort.onnxruntime`. onnxruntime's native `OrtValue` is here the
same class as the public one, and `OrtValueVector` a list of them."""

from .._devices import NativeDevice as OrtDevice
from .._errors import (
    EngineError,
    EPFail,
    Fail,
    InvalidArgument,
    InvalidGraph,
    InvalidProtobuf,
    ModelLoadCanceled,
    ModelLoaded,
    ModelRequiresCompilation,
    NoModel,
    NoSuchFile,
    NotFound,
    NotImplemented,
    RuntimeException,
)
from .._functions import get_all_providers, get_available_providers, get_device
from .._options import ExecutionMode, GraphOptimizationLevel, RunOptions, SessionOptions
from .._unsupported import unsupported_class, unsupported_function
from .._values import OrtValue, OrtValueVector

# Native names of onnxruntime's plug-in execution-provider API and binding, which fastort does
# not offer (the package re-exports the first two).
SessionIOBinding = unsupported_class("SessionIOBinding")
get_ep_devices = unsupported_function("get_ep_devices")
OrtCompiledModelCompatibility = unsupported_class("OrtCompiledModelCompatibility")
get_model_compatibility_for_ep_devices = unsupported_function(
    "get_model_compatibility_for_ep_devices"
)

__all__ = [
    "EPFail",
    "EngineError",
    "ExecutionMode",
    "Fail",
    "GraphOptimizationLevel",
    "InvalidArgument",
    "InvalidGraph",
    "InvalidProtobuf",
    "ModelLoadCanceled",
    "ModelLoaded",
    "ModelRequiresCompilation",
    "NoModel",
    "NoSuchFile",
    "NotFound",
    "NotImplemented",
    "OrtCompiledModelCompatibility",
    "OrtDevice",
    "OrtValue",
    "OrtValueVector",
    "RunOptions",
    "RuntimeException",
    "SessionIOBinding",
    "SessionOptions",
    "get_all_providers",
    "get_available_providers",
    "get_device",
    "get_ep_devices",
    "get_model_compatibility_for_ep_devices",
]
