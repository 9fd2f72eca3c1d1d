"""Loading the ONNX Runtime library, found in the installed `onnxruntime` wheel (see
`_ort_wheel`) or named by `FASTORT_ORT_LIBRARY`."""

from __future__ import annotations

from . import _core
from ._ort_wheel import find_library

__all__ = ["available_providers", "find_library", "load", "ort_version"]


def load() -> None:
    """Load the runtime once.

    Raises `RuntimeLoadError` (an ImportError) naming what was found and what is needed.
    """
    if not _core.runtime_loaded():
        _core.load_runtime(find_library())


def ort_version() -> str:
    """Version of the ONNX Runtime library fastort runs on, e.g. "1.21.0"."""
    return _core.ort_version()


def available_providers() -> list[str]:
    """Execution providers the loaded ONNX Runtime library offers."""
    return _core.available_providers()
