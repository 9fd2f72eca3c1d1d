"""Where the installed `onnxruntime` wheel keeps its shared library and its sample models.

The one place that knows the wheel's layout: fastort loads the library from here at import,
`scripts/ort_paths.py` (the Makefile's C++ core tests) and the tests and benchmarks find
the sample models here. It imports only the standard library and nothing of fastort, so the
script can load this file before the extension is built. The `onnxruntime` module itself is
never imported: that would cost tens of milliseconds at `import fastort`.
"""

from __future__ import annotations

import os
import sys
from typing import Any

ENV_VARIABLE = "FASTORT_ORT_LIBRARY"


def is_library(name: str, platform: str = sys.platform) -> bool:
    """Whether `name` is ONNX Runtime's own library (not a provider library beside it)."""
    # pathlib and glob are avoided: they would add milliseconds to `import fastort`.
    if platform == "win32":
        return name.lower() == "onnxruntime.dll"
    if platform == "darwin":  # libonnxruntime.dylib, libonnxruntime.1.21.0.dylib
        return name.startswith("libonnxruntime.") and name.endswith(".dylib")
    return name == "libonnxruntime.so" or name.startswith("libonnxruntime.so.")


def _version(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def library_in(folder: str, platform: str = sys.platform) -> str | None:
    """The runtime library in `folder` (the wheel's `capi`), the highest version first."""
    try:
        names = [name for name in os.listdir(folder) if is_library(name, platform)]
    except OSError:
        return None
    if not names:
        return None
    # A versioned file (libonnxruntime.so.1.21.0) wins over the bare name.
    return os.path.join(folder, max(names, key=lambda name: (_version(name), name)))


def _find_spec(name: str) -> Any:
    """importlib.util.find_spec(name) for a top-level name: the spec of the module imported
    under that name, or of the one the import system would import, without importing it.
    (importlib.util itself would add about half a millisecond to `import fastort`.)"""
    if name in sys.modules:  # None there means "not importable", as importlib has it
        module = sys.modules[name]
        if module is None:
            return None
        spec = getattr(module, "__spec__", None)
        if spec is None:
            raise ValueError(f"{name}.__spec__ is None")
        # Another module put there under this name (`sys.modules["onnxruntime"] =
        # fastort.onnxruntime`, the drop-in swap) is not the package: the finders say where
        # that is.
        if spec.name == name:
            return spec
    for finder in sys.meta_path or ():
        find_spec = getattr(finder, "find_spec", None)
        spec = find_spec(name, None, None) if find_spec is not None else None
        if spec is not None:
            return spec
    return None


def _package_locations() -> list[str]:
    spec = _find_spec("onnxruntime")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "fastort needs ONNX Runtime: install the 'onnxruntime' package "
            f"(or set {ENV_VARIABLE} to a libonnxruntime path)"
        )
    return list(spec.submodule_search_locations)


def find_library() -> str:
    """Path of the ONNX Runtime shared library fastort will load.

    `FASTORT_ORT_LIBRARY` wins (e.g. a library from onnxruntime-gpu or a custom build);
    otherwise the library inside the installed `onnxruntime` package is used.
    """
    override = os.environ.get(ENV_VARIABLE)
    if override:
        return override
    searched = []
    for location in _package_locations():
        capi = os.path.join(location, "capi")
        searched.append(capi)
        found = library_in(capi)
        if found is not None:
            return found
    raise ImportError(
        "the installed onnxruntime package has no ONNX Runtime library in "
        f"{', '.join(searched)}; reinstall onnxruntime or set {ENV_VARIABLE}"
    )


def datasets_dir() -> str:
    """The wheel's `datasets` folder of sample models (sigmoid.onnx, logreg_iris.onnx, ...)."""
    searched = []
    for location in _package_locations():
        folder = os.path.join(location, "datasets")
        if os.path.isdir(folder):
            return folder
        searched.append(folder)
    raise FileNotFoundError(f"the installed onnxruntime package has no {', '.join(searched)}")
