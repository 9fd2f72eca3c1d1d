"""The names code imports from `onnxruntime.capi.onnxruntime_pybind11_state` (exception
classes above all), from `fastort.onnxruntime`. onnxruntime's native `OrtValue` is here the
same class as the public one, and `OrtValueVector` a list of them."""

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
from .._values import OrtValue, OrtValueVector

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
    "OrtValue",
    "OrtValueVector",
    "RunOptions",
    "RuntimeException",
    "SessionOptions",
    "get_all_providers",
    "get_available_providers",
    "get_device",
]
