"""fastort: fast, zero-copy ONNX Runtime inference from Python.

`import fastort.onnxruntime as ort` gives onnxruntime's own API on the same core.
"""

# Only re-exports: the namespace holds the public names (no typing helpers), and `export`'s
# types load on first use (module_getattr), so that torch and onnx are never imported here.
from . import _lazy, _runtime
from ._cache import CacheInfo, cache_info, clear_cache, set_cache_size
from ._core import (
    FastortError,
    InvalidArgumentError,
    InvalidModelError,
    InvalidTypeError,
    QueueFullError,
    RunTerminatedError,
    RuntimeLoadError,
    RunTimeoutError,
)
from ._lazy import export
from ._runtime import available_providers, ort_version
from ._version import __version__
from .image import IMAGENET_MEAN, IMAGENET_STD, ImageTransform
from .run_options import RunOptions
from .serving import Batcher, BatchFuture
from .session import ModelMetadata, PreparedCall, Session, ValueInfo

__getattr__ = _lazy.module_getattr

_runtime.load()

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "BatchFuture",
    "Batcher",
    "CacheInfo",
    "ExportError",
    "ExportReport",
    "ExportVerificationError",
    "FastortError",
    "ImageTransform",
    "InvalidArgumentError",
    "InvalidModelError",
    "InvalidTypeError",
    "ModelMetadata",
    "PreparedCall",
    "QueueFullError",
    "RunOptions",
    "RunTerminatedError",
    "RunTimeoutError",
    "RuntimeLoadError",
    "Session",
    "ValueInfo",
    "__version__",
    "available_providers",
    "cache_info",
    "clear_cache",
    "export",
    "ort_version",
    "set_cache_size",
]
