"""Loading the ONNX Runtime library, found in the installed `onnxruntime` wheel (see
`_ort_wheel`) or named by `FASTORT_ORT_LIBRARY`.

The library is loaded on first need, not at `import fastort` (dlopen costs milliseconds): by
the first Session, SessionOptions, `ort_version()`, `available_providers()` or ORT setting.
The extension asks for it through `load()`, so every path into ONNX Runtime finds it loaded.
"""

from __future__ import annotations

import atexit

from . import _core

# Imported with fastort, although only load() needs it: a module imported for the first time
# by load(), on some thread, would hold its import lock, and a child fork()ed meanwhile could
# never import it (CPython resets only its global import lock in a child).
from ._ort_wheel import find_library as _find_library

__all__ = ["available_providers", "find_library", "load", "ort_version"]


def find_library() -> str:
    """Path of the ONNX Runtime shared library fastort loads (see `_ort_wheel.find_library`)."""
    return _find_library()


def load() -> None:
    """Load the runtime once.

    Raises `RuntimeLoadError` (an ImportError) naming what was found and what is needed.
    """
    if _core.runtime_loaded():
        return
    try:
        path = find_library()
    except _core.RuntimeLoadError:
        raise
    except ImportError as error:
        # The same error class whichever step fails: no library found, or one that won't load.
        raise _core.RuntimeLoadError(str(error)) from None
    _core.load_runtime(path)

    # Cached sessions must be released while ONNX Runtime is still intact, which is not
    # guaranteed once the process runs C++ static destructors. (Registered once per load: a
    # second registration by a racing thread only clears an empty cache.)
    atexit.register(_core.clear_cache)


def ort_version() -> str:
    """Version of the ONNX Runtime library fastort runs on, e.g. "1.21.0"."""
    return _core.ort_version()


def available_providers() -> list[str]:
    """Execution providers the loaded ONNX Runtime library offers."""
    return _core.available_providers()
