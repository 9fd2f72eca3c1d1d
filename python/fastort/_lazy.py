"""What `import fastort` offers without importing it: `export` and export's types (so that
torch and onnx are never imported by `import fastort`), and the names rarely needed at import
(the session cache's functions, ImageTransform, Batcher, RunOptions), imported when first
used."""

from __future__ import annotations

import _thread
import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .export_model import ExportReport

__all__ = ["export", "module_dir", "module_getattr"]

# Public name of the fastort namespace -> the submodule that defines it.
_LAZY_NAMES = {
    "ExportError": "export_model",
    "ExportReport": "export_model",
    "ExportVerificationError": "export_model",
    "CacheInfo": "_cache",
    "cache_info": "_cache",
    "clear_cache": "_cache",
    "set_cache_size": "_cache",
    "IMAGENET_MEAN": "image",
    "IMAGENET_STD": "image",
    "ImageTransform": "image",
    "read_image": "_decode",
    "build_info": "_build",
    "RunOptions": "run_options",
    "Batcher": "serving",
    "BatchFuture": "serving",
}


def export(*args: Any, **kwargs: Any) -> ExportReport:
    """PyTorch -> ONNX with a dynamic batch axis, checked with onnx.checker and verified
    against PyTorch. See `fastort.export_model.export` for the arguments; torch and onnx are
    imported only when this is called."""
    from .export_model import export as export_model

    return export_model(*args, **kwargs)


export.__module__ = "fastort"


# Held while a lazy name's module is imported, and by os.fork() while it forks: a child forked
# in the middle of such an import would find the module's import lock held by a thread it does
# not have, and hang on its first use of the name. (_thread's lock: `threading` is not
# imported by `import fastort`. Reentrant: a module imported here may use a lazy name.)
_IMPORTING = _thread.RLock()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_IMPORTING.acquire,
        after_in_parent=_IMPORTING.release,
        after_in_child=_IMPORTING.release,
    )


def module_getattr(name: str) -> Any:
    """fastort's module __getattr__: the lazy names, imported on first use."""
    submodule = _LAZY_NAMES.get(name)
    if submodule is None:
        raise AttributeError(f"module 'fastort' has no attribute {name!r}")
    module = f"fastort.{submodule}"
    with _IMPORTING:  # and no other import before it (importlib's own would not be covered)
        __import__(module)
        value = getattr(sys.modules[module], name)
    # The next lookup finds it in the namespace and does not come here again.
    setattr(sys.modules["fastort"], name, value)
    return value


def module_dir() -> list[str]:
    """fastort's module __dir__: what is imported, and the lazy names."""
    return sorted(set(vars(sys.modules["fastort"])) | set(_LAZY_NAMES))
