"""Locating and loading the ONNX Runtime library from the installed `onnxruntime` wheel.

The library is found from the package's location on disk without importing the
`onnxruntime` Python module, which would cost tens of milliseconds at `import fastort`.
"""

from __future__ import annotations

import importlib.util
import os
import sys

from . import _core

ENV_VARIABLE = "FASTORT_ORT_LIBRARY"


def _is_library(name: str) -> bool:
    # pathlib and glob are avoided: they would add milliseconds to `import fastort`.
    if sys.platform == "win32":
        return name == "onnxruntime.dll"
    if sys.platform == "darwin":
        return name.startswith("libonnxruntime") and name.endswith(".dylib")
    return name == "libonnxruntime.so" or name.startswith("libonnxruntime.so.")


def find_library() -> str:
    """Path of the ONNX Runtime shared library fastort will load.

    `FASTORT_ORT_LIBRARY` wins (e.g. a library from onnxruntime-gpu or a custom build);
    otherwise the library inside the installed `onnxruntime` package is used.
    """
    override = os.environ.get(ENV_VARIABLE)
    if override:
        return override
    spec = importlib.util.find_spec("onnxruntime")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "fastort needs ONNX Runtime: install the 'onnxruntime' package "
            f"(or set {ENV_VARIABLE} to a libonnxruntime path)"
        )
    searched = []
    for location in spec.submodule_search_locations:
        capi = os.path.join(location, "capi")
        searched.append(capi)
        try:
            names = [name for name in os.listdir(capi) if _is_library(name)]
        except OSError:
            continue
        if names:
            # The versioned file (libonnxruntime.so.1.21.0) sorts after the bare name.
            return os.path.join(capi, max(names))
    raise ImportError(
        "the installed onnxruntime package has no ONNX Runtime library in "
        f"{', '.join(searched)}; reinstall onnxruntime or set {ENV_VARIABLE}"
    )


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
