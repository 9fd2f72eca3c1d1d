"""onnxruntime's exception classes, as subclasses of fastort's, and the translation of fastort's
errors into them.

onnxruntime raises one class per ONNX Runtime error code (`InvalidArgument` for
ORT_INVALID_ARGUMENT, ...). fastort raises its own classes and keeps ORT's code in `.code`. An
error leaving `fastort.onnxruntime` is an instance of both: of the onnxruntime class its code
(or, for checks fastort makes before ONNX Runtime runs, its kind) names, and of the fastort
class it was. `except InvalidArgument`, `except fastort.InvalidTypeError` and
`except ValueError` all keep working. Messages are fastort's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import NoReturn

from .. import _core

__all__ = [
    "EPFail",
    "EngineError",
    "Fail",
    "InvalidArgument",
    "InvalidGraph",
    "InvalidProtobuf",
    "ModelLoadCanceled",
    "ModelLoaded",
    "ModelRequiresCompilation",
    "NoModel",
    "NoSuchFile",
    "NotFound",
    "NotImplemented",
    "RuntimeException",
    "onnxruntime_errors",
    "refuse_pickling",
    "translated",
]


class Fail(_core.FastortError):
    """ONNX Runtime failed (ORT_FAIL), e.g. a run stopped by RunOptions.terminate."""


class InvalidArgument(_core.InvalidArgumentError):
    """A bad input, name or option (ORT_INVALID_ARGUMENT); also a ValueError."""


class NoSuchFile(FileNotFoundError, _core.FastortError):
    """A model file that does not exist (ORT_NO_SUCHFILE); also a FileNotFoundError."""


class NoModel(_core.FastortError):
    """ORT_NO_MODEL."""


class EngineError(_core.FastortError):
    """ORT_ENGINE_ERROR."""


class RuntimeException(_core.FastortError):
    """ORT_RUNTIME_EXCEPTION."""


class InvalidProtobuf(_core.InvalidModelError):
    """A model that does not parse (ORT_INVALID_PROTOBUF)."""


class ModelLoaded(_core.FastortError):
    """ORT_MODEL_LOADED."""


class NotImplemented(_core.FastortError, NotImplementedError):  # onnxruntime's name
    """What ONNX Runtime or fastort.onnxruntime does not implement (ORT_NOT_IMPLEMENTED); also a
    NotImplementedError."""


class InvalidGraph(_core.InvalidModelError):
    """A model whose graph is invalid (ORT_INVALID_GRAPH)."""


class EPFail(_core.FastortError):
    """An execution provider failed (ORT_EP_FAIL)."""


class ModelLoadCanceled(_core.FastortError):
    """ORT_MODEL_LOAD_CANCELED."""


class ModelRequiresCompilation(_core.FastortError):
    """ORT_MODEL_REQUIRES_COMPILATION."""


class NotFound(_core.FastortError):
    """ORT_NOT_FOUND."""


for _class in (
    Fail,
    InvalidArgument,
    NoSuchFile,
    NoModel,
    EngineError,
    RuntimeException,
    InvalidProtobuf,
    ModelLoaded,
    NotImplemented,
    InvalidGraph,
    EPFail,
    ModelLoadCanceled,
    ModelRequiresCompilation,
    NotFound,
):
    _class.__module__ = "fastort.onnxruntime"  # where they are public

_BY_CODE: dict[str, type[BaseException]] = {
    "ORT_FAIL": Fail,
    "ORT_INVALID_ARGUMENT": InvalidArgument,
    "ORT_NO_SUCHFILE": NoSuchFile,
    "ORT_NO_MODEL": NoModel,
    "ORT_ENGINE_ERROR": EngineError,
    "ORT_RUNTIME_EXCEPTION": RuntimeException,
    "ORT_INVALID_PROTOBUF": InvalidProtobuf,
    "ORT_MODEL_LOADED": ModelLoaded,
    "ORT_NOT_IMPLEMENTED": NotImplemented,
    "ORT_INVALID_GRAPH": InvalidGraph,
    "ORT_EP_FAIL": EPFail,
    "ORT_MODEL_LOAD_CANCELED": ModelLoadCanceled,
    "ORT_MODEL_REQUIRES_COMPILATION": ModelRequiresCompilation,
    "ORT_NOT_FOUND": NotFound,
}

# What onnxruntime raises where fastort checks before ONNX Runtime sees the call (first match).
_BY_CLASS: tuple[tuple[type[BaseException], type[BaseException]], ...] = (
    (_core.InvalidArgumentError, InvalidArgument),
    (_core.InvalidTypeError, InvalidArgument),
    (_core.InvalidModelError, InvalidProtobuf),
    (FileNotFoundError, NoSuchFile),
    (IsADirectoryError, InvalidProtobuf),  # ORT fails to parse the folder
    (_core.FastortError, Fail),
)

_COMBINED: dict[tuple[type[BaseException], type[BaseException]], type[BaseException]] = {}


def _combined(
    ort_class: type[BaseException], fastort_class: type[BaseException]
) -> type[BaseException]:
    """A class that is both; named like the onnxruntime class. OSError comes first, so that
    its constructor keeps errno and filename."""
    if issubclass(ort_class, fastort_class):
        return ort_class
    key = (ort_class, fastort_class)
    if key not in _COMBINED:
        bases = (fastort_class, ort_class) if issubclass(fastort_class, OSError) else key
        namespace = {
            "__module__": ort_class.__module__,
            "__qualname__": ort_class.__qualname__,
            # Pickled as the onnxruntime class alone: the combination has no importable name.
            "__reduce__": lambda self: (ort_class, self.args),
        }
        _COMBINED[key] = type(ort_class.__name__, bases, namespace)
    return _COMBINED[key]


def translated(error: BaseException) -> BaseException:
    """`error` as an instance of its onnxruntime class too: same message, code and traceback."""
    code = getattr(error, "code", None)
    ort_class = _BY_CODE.get(code) if isinstance(code, str) else None
    if ort_class is None:
        ort_class = next((ort for ours, ort in _BY_CLASS if isinstance(error, ours)), None)
    if ort_class is None or isinstance(error, ort_class):
        return error
    cls = _combined(ort_class, type(error))
    if isinstance(error, OSError):
        result = cls(error.errno, error.strerror, error.filename)
    else:
        result = cls(*error.args)
    result.code = code  # type: ignore[attr-defined]
    result.ort_code = getattr(error, "ort_code", None)  # type: ignore[attr-defined]
    return result.with_traceback(error.__traceback__)


@contextlib.contextmanager
def onnxruntime_errors() -> Iterator[None]:
    """Raises fastort's errors (and model-path errors) as their onnxruntime classes."""
    try:
        yield
    except (_core.FastortError, FileNotFoundError, IsADirectoryError) as error:
        raise translated(error) from None


def refuse_pickling(obj: object) -> NoReturn:
    """What pickling an object bound to a loaded session raises, as in onnxruntime (whose
    objects are pybind11's): a TypeError at every protocol."""
    raise TypeError(f"cannot pickle {type(obj).__name__!r} object")
