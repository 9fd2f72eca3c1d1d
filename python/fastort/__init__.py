"""fastort: fast, zero-copy ONNX Runtime inference from Python."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import _runtime
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
from ._runtime import available_providers, ort_version
from ._version import __version__
from .image import IMAGENET_MEAN, IMAGENET_STD, ImageTransform
from .run_options import RunOptions
from .serving import Batcher, BatchFuture
from .session import ModelMetadata, Session, ValueInfo

if TYPE_CHECKING:
    from .export_model import ExportReport


def export(*args: Any, **kwargs: Any) -> ExportReport:
    """PyTorch -> ONNX with a dynamic batch axis, checked with onnx.checker and verified
    against PyTorch. See `fastort.export_model.export` for the arguments; torch and onnx are
    imported only when this is called."""
    from .export_model import export as export_model

    return export_model(*args, **kwargs)


def __getattr__(name: str) -> Any:
    # Export's exception and report types, without importing torch or onnx up front.
    if name in ("ExportError", "ExportReport", "ExportVerificationError"):
        from . import export_model

        return getattr(export_model, name)
    raise AttributeError(f"module 'fastort' has no attribute {name!r}")


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
