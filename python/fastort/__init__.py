"""fastort: fast, zero-copy ONNX Runtime inference from Python."""

from __future__ import annotations

from . import _runtime
from ._cache import CacheInfo, cache_info, clear_cache, set_cache_size
from ._core import (
    FastortError,
    InvalidArgumentError,
    InvalidModelError,
    InvalidTypeError,
    RuntimeLoadError,
)
from ._runtime import available_providers, ort_version
from ._version import __version__
from .image import IMAGENET_MEAN, IMAGENET_STD, ImageTransform
from .session import ModelMetadata, Session, ValueInfo

_runtime.load()

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "CacheInfo",
    "FastortError",
    "ImageTransform",
    "InvalidArgumentError",
    "InvalidModelError",
    "InvalidTypeError",
    "ModelMetadata",
    "RuntimeLoadError",
    "Session",
    "ValueInfo",
    "__version__",
    "available_providers",
    "cache_info",
    "clear_cache",
    "ort_version",
    "set_cache_size",
]
