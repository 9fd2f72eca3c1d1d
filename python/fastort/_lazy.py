"""What `import fastort` offers without importing torch or onnx: `export` and export's types,
imported when first used."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .export_model import ExportReport

__all__ = ["export", "module_getattr"]

_EXPORT_NAMES = ("ExportError", "ExportReport", "ExportVerificationError")


def export(*args: Any, **kwargs: Any) -> ExportReport:
    """PyTorch -> ONNX with a dynamic batch axis, checked with onnx.checker and verified
    against PyTorch. See `fastort.export_model.export` for the arguments; torch and onnx are
    imported only when this is called."""
    from .export_model import export as export_model

    return export_model(*args, **kwargs)


export.__module__ = "fastort"


def module_getattr(name: str) -> Any:
    """fastort's module __getattr__: export's exception and report types, on first use."""
    if name in _EXPORT_NAMES:
        from . import export_model

        return getattr(export_model, name)
    raise AttributeError(f"module 'fastort' has no attribute {name!r}")
