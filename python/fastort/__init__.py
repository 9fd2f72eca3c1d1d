"""fastort: fast, zero-copy ONNX Runtime inference from Python.

`import fastort.onnxruntime as ort` gives onnxruntime's own API on the same core.
"""

# Only re-exports: the namespace holds the public names (no typing helpers). `import fastort`
# stays cheap: ONNX Runtime's library is loaded by the first Session (or ort_version() ...; see
# _runtime), and export's types (so torch and onnx), the cache functions, ImageTransform,
# Batcher and RunOptions are imported on first use (module_getattr).
from typing import TYPE_CHECKING

from . import _lazy
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
from .session import ModelMetadata, PreparedCall, Session, ValueInfo

if TYPE_CHECKING:  # what type checkers see of the names module_getattr imports
    from ._build import build_info
    from ._cache import CacheInfo, cache_info, clear_cache, set_cache_size
    from ._decode import read_image
    from .export_model import ExportError, ExportReport, ExportVerificationError
    from .image import IMAGENET_MEAN, IMAGENET_STD, ImageTransform
    from .run_options import RunOptions
    from .serving import Batcher, BatchFuture
del TYPE_CHECKING

# Read by the build (pyproject.toml) from this line.
__version__ = "0.1.0"

__getattr__ = _lazy.module_getattr
__dir__ = _lazy.module_dir

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
    "build_info",
    "cache_info",
    "clear_cache",
    "export",
    "ort_version",
    "read_image",
    "set_cache_size",
]
