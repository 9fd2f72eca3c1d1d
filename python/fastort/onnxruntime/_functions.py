"""onnxruntime's module functions, on the runtime fastort loaded."""

from __future__ import annotations

import numbers
from collections.abc import Callable

from .. import __version__ as _fastort_version
from .. import _core
from .._runtime import available_providers, ort_version
from ._errors import Fail, onnxruntime_errors
from ._unsupported import unsupported

__all__ = [
    "disable_telemetry_events",
    "enable_telemetry_events",
    "get_all_providers",
    "get_available_providers",
    "get_build_info",
    "get_device",
    "get_version_string",
    "has_collective_ops",
    "preload_dlls",
    "print_debug_info",
    "set_default_logger_callback",
    "set_default_logger_severity",
    "set_default_logger_verbosity",
]

# onnxruntime's list of the execution providers ONNX Runtime can be built with (1.32); which
# this runtime has is get_available_providers().
_ALL_PROVIDERS = (
    "TensorrtExecutionProvider",
    "CUDAExecutionProvider",
    "MIGraphXExecutionProvider",
    "OpenVINOExecutionProvider",
    "DnnlExecutionProvider",
    "VitisAIExecutionProvider",
    "QNNExecutionProvider",
    "NnapiExecutionProvider",
    "VSINPUExecutionProvider",
    "JsExecutionProvider",
    "CoreMLExecutionProvider",
    "DmlExecutionProvider",
    "RknpuExecutionProvider",
    "WebNNExecutionProvider",
    "WebGpuExecutionProvider",
    "XnnpackExecutionProvider",
    "CANNExecutionProvider",
    "AzureExecutionProvider",
    "CPUExecutionProvider",
)


def get_available_providers() -> list[str]:
    """The execution providers of the loaded ONNX Runtime library."""
    return available_providers()


def get_all_providers() -> list[str]:
    """Every execution provider ONNX Runtime can be built with."""
    return list(_ALL_PROVIDERS)


def get_device() -> str:
    """'GPU' when the loaded library has CUDA's provider, else 'CPU'."""
    return "GPU" if "CUDAExecutionProvider" in available_providers() else "CPU"


def get_version_string() -> str:
    """The version of the loaded ONNX Runtime library."""
    return ort_version()


def get_build_info() -> str:
    with onnxruntime_errors():
        return _core.build_info()


def set_default_logger_severity(severity: int) -> None:
    """The least severe ONNX Runtime log records kept, process-wide: 0 (verbose) to 4 (fatal).
    They go to Python's logging (logger 'fastort.onnxruntime'), not to stderr."""
    if isinstance(severity, bool) or not isinstance(severity, numbers.Integral):
        raise _core.InvalidTypeError(f"severity must be an int, got {severity!r}")
    with onnxruntime_errors():
        _core.set_log_severity(int(severity))


def set_default_logger_callback(callback: Callable[..., object] | None, severity: int = 2) -> None:
    """`callback(severity, category, logid, code_location, message)` receives ONNX Runtime's
    log records from now on, instead of Python's logging, and the default severity becomes
    `severity` (0 verbose .. 4 fatal); None goes back to logging (the severity stays).

    Records reach the callback on the thread that loaded or ran the model, once the load or
    run is over (records of ORT's own threads too), not as ORT logs them; an exception the
    callback raises goes to sys.unraisablehook and the record to logging."""
    if isinstance(severity, bool) or not isinstance(severity, numbers.Integral):
        raise _core.InvalidTypeError(f"severity must be an int, got {severity!r}")
    if not 0 <= severity <= 4:
        raise Fail(
            f"Invalid logging severity {severity}. 0:Verbose, 1:Info, 2:Warning, 3:Error, 4:Fatal"
        )
    if callback is not None and not callable(callback):
        raise Fail(f"callback must be a callable, got {type(callback).__name__}")
    with onnxruntime_errors():
        if callback is not None:
            _core.set_log_severity(int(severity))
        _core.set_log_callback(callback)


def set_default_logger_verbosity(verbosity: int) -> None:
    unsupported("set_default_logger_verbosity()")


def enable_telemetry_events() -> None:
    with onnxruntime_errors():
        _core.set_telemetry(True)


def disable_telemetry_events() -> None:
    with onnxruntime_errors():
        _core.set_telemetry(False)


def has_collective_ops() -> bool:
    """False: the CPU runtime has no collective (multi-device) operators."""
    return False


def preload_dlls(
    cuda: bool = True, cudnn: bool = True, msvc: bool = True, directory: str | None = None
) -> None:
    """Nothing to preload: fastort runs on the CPU (onnxruntime's CPU package does nothing
    here either)."""


def print_debug_info() -> None:
    print(f"fastort {_fastort_version} on ONNX Runtime {ort_version()}")
    print(f"library: {_core.runtime_library_path()}")
    print(f"available providers: {', '.join(available_providers())}")
