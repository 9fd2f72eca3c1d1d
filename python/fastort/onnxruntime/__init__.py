"""`import fastort.onnxruntime as ort`: onnxruntime's Python API for inference on the CPU, on
fastort's core (onnxruntime's Python module is never imported).

Code written for onnxruntime runs by changing its import: `InferenceSession` (run,
run_with_ort_values, run_with_iobinding, run_async, profiling, providers), `SessionOptions`,
`RunOptions`, `IOBinding`, `OrtValue`, the module functions and onnxruntime's exception
classes, which are subclasses of fastort's (an error is an instance of both). What differs and
what is not supported is listed in fastort's README ("Porting from onnxruntime"); everything
not supported (training, device memory, execution-provider plug-ins, model compilation)
raises `NotImplemented`, a NotImplementedError naming the call.
"""

from .. import _core
from .._runtime import ort_version as _ort_version
from . import capi, datasets
from ._devices import (
    OrtAllocatorType,
    OrtArenaCfg,
    OrtDevice,
    OrtDeviceMemoryType,
    OrtDeviceVendorId,
    OrtMemoryInfo,
    OrtMemoryInfoDeviceType,
    OrtMemType,
    create_and_register_allocator,
)
from ._errors import (
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
from ._functions import (
    disable_telemetry_events,
    enable_telemetry_events,
    get_all_providers,
    get_available_providers,
    get_build_info,
    get_device,
    get_version_string,
    has_collective_ops,
    preload_dlls,
    print_debug_info,
    set_default_logger_callback,
    set_default_logger_severity,
    set_default_logger_verbosity,
)
from ._iobinding import IOBinding
from ._options import ExecutionMode, GraphOptimizationLevel, RunOptions, SessionOptions
from ._session import InferenceSession
from ._unsupported import unsupported as _unsupported
from ._unsupported import unsupported_class as _unsupported_class
from ._unsupported import unsupported_function as _unsupported_function
from ._values import OrtValue, copy_tensors
from .capi.onnxruntime_pybind11_state import SessionIOBinding, get_ep_devices

# onnxruntime's NodeArg and ModelMetadata are fastort's values of the same fields.
NodeArg = _core.ValueInfo
ModelMetadata = _core.ModelMetadata

# The version of the ONNX Runtime library in use, as onnxruntime reports its own.
__version__: str = _ort_version()

AdapterFormat = _unsupported_class("AdapterFormat")
ExecutionOrder = _unsupported_class("ExecutionOrder")
LoraAdapter = _unsupported_class("LoraAdapter")
ModelCompiler = _unsupported_class("ModelCompiler")
ModelPackage = _unsupported_class("ModelPackage")
ModelPackageComponentContext = _unsupported_class("ModelPackageComponentContext")
ModelPackageContext = _unsupported_class("ModelPackageContext")
ModelPackageOptions = _unsupported_class("ModelPackageOptions")
ModelPackageWriteMode = _unsupported_class("ModelPackageWriteMode")
OrtCompileApiFlags = _unsupported_class("OrtCompileApiFlags")
OrtEpAssignedNode = _unsupported_class("OrtEpAssignedNode")
OrtEpAssignedSubgraph = _unsupported_class("OrtEpAssignedSubgraph")
OrtEpContextData = _unsupported_class("OrtEpContextData")
OrtEpContextDataBuffer = _unsupported_class("OrtEpContextDataBuffer")
OrtEpDevice = _unsupported_class("OrtEpDevice")
OrtExecutionProviderDevicePolicy = _unsupported_class("OrtExecutionProviderDevicePolicy")
OrtExternalInitializerInfo = _unsupported_class("OrtExternalInitializerInfo")
OrtHardwareDevice = _unsupported_class("OrtHardwareDevice")
OrtHardwareDeviceType = _unsupported_class("OrtHardwareDeviceType")
OrtSparseFormat = _unsupported_class("OrtSparseFormat")
OrtSyncStream = _unsupported_class("OrtSyncStream")
SparseTensor = _unsupported_class("SparseTensor")

create_and_register_allocator_v2 = _unsupported_function("create_and_register_allocator_v2")
register_execution_provider_library = _unsupported_function("register_execution_provider_library")
set_global_thread_pool_sizes = _unsupported_function("set_global_thread_pool_sizes")
set_seed = _unsupported_function("set_seed")
unregister_execution_provider_library = _unsupported_function(
    "unregister_execution_provider_library"
)

__all__ = [
    "AdapterFormat",
    "EPFail",
    "EngineError",
    "ExecutionMode",
    "ExecutionOrder",
    "Fail",
    "GraphOptimizationLevel",
    "IOBinding",
    "InferenceSession",
    "InvalidArgument",
    "InvalidGraph",
    "InvalidProtobuf",
    "LoraAdapter",
    "ModelCompiler",
    "ModelLoadCanceled",
    "ModelLoaded",
    "ModelMetadata",
    "ModelPackage",
    "ModelPackageComponentContext",
    "ModelPackageContext",
    "ModelPackageOptions",
    "ModelPackageWriteMode",
    "ModelRequiresCompilation",
    "NoModel",
    "NoSuchFile",
    "NodeArg",
    "NotFound",
    "NotImplemented",
    "OrtAllocatorType",
    "OrtArenaCfg",
    "OrtCompileApiFlags",
    "OrtDevice",
    "OrtDeviceMemoryType",
    "OrtDeviceVendorId",
    "OrtEpAssignedNode",
    "OrtEpAssignedSubgraph",
    "OrtEpContextData",
    "OrtEpContextDataBuffer",
    "OrtEpDevice",
    "OrtExecutionProviderDevicePolicy",
    "OrtExternalInitializerInfo",
    "OrtHardwareDevice",
    "OrtHardwareDeviceType",
    "OrtMemType",
    "OrtMemoryInfo",
    "OrtMemoryInfoDeviceType",
    "OrtSparseFormat",
    "OrtSyncStream",
    "OrtValue",
    "RunOptions",
    "RuntimeException",
    "SessionIOBinding",
    "SessionOptions",
    "SparseTensor",
    "__version__",
    "capi",
    "copy_tensors",
    "create_and_register_allocator",
    "create_and_register_allocator_v2",
    "datasets",
    "disable_telemetry_events",
    "enable_telemetry_events",
    "get_all_providers",
    "get_available_providers",
    "get_build_info",
    "get_device",
    "get_ep_devices",
    "get_version_string",
    "has_collective_ops",
    "preload_dlls",
    "print_debug_info",
    "register_execution_provider_library",
    "set_default_logger_callback",
    "set_default_logger_severity",
    "set_default_logger_verbosity",
    "set_global_thread_pool_sizes",
    "set_seed",
    "unregister_execution_provider_library",
]

# Last: it imports the classes above from this package.
from .capi import onnxruntime_inference_collection as _inference_collection  # noqa: E402, F401

# onnxruntime's Python-only subpackages, which fastort.onnxruntime does not have: reaching one
# as an attribute raises NotImplemented naming it (importing one is a ModuleNotFoundError).
_SUBPACKAGES = frozenset({"backend", "quantization", "tools", "transformers"})


def __getattr__(name: str) -> object:
    if name in _SUBPACKAGES:
        _unsupported(f"onnxruntime.{name}")
    raise AttributeError(f"module 'fastort.onnxruntime' has no attribute {name!r}")
