"""Stand-ins for the parts of onnxruntime that fastort.onnxruntime does not offer (training,
device memory, execution-provider plug-ins, model compilation): each raises
`fastort.onnxruntime.NotImplemented` (a NotImplementedError) naming the call, so that nothing
silently behaves differently from onnxruntime."""

from __future__ import annotations

from typing import Any, Callable, NoReturn

from ._errors import NotImplemented

__all__ = ["unsupported", "unsupported_class", "unsupported_function"]

_WHY = (
    "fastort.onnxruntime runs ONNX models for inference on the CPU; see 'Porting from "
    "onnxruntime' in fastort's README for what it supports"
)


def unsupported(what: str) -> NoReturn:
    """Raises NotImplemented for `what` ("InferenceSession.get_tuning_results()")."""
    error = NotImplemented(f"{what} is not supported: {_WHY}")
    error.code = None
    error.ort_code = None
    raise error


def unsupported_function(qualified_name: str) -> Callable[..., NoReturn]:
    """A function (or, assigned in a class body, a method) that raises for any call."""

    def call(*args: Any, **kwargs: Any) -> NoReturn:
        unsupported(f"{qualified_name}()")

    call.__name__ = qualified_name.rsplit(".", 1)[-1]
    call.__qualname__ = qualified_name
    call.__doc__ = "Not supported by fastort.onnxruntime: raises NotImplemented."
    return call


class _UnsupportedType(type):
    """Classes whose construction and every public attribute raise NotImplemented; isinstance
    checks against them work (and are False)."""

    def __call__(cls, *args: Any, **kwargs: Any) -> NoReturn:
        unsupported(f"{cls.__name__}()")

    def __getattr__(cls, name: str) -> NoReturn:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        unsupported(f"{cls.__name__}.{name}")


def unsupported_class(name: str) -> type:
    return _UnsupportedType(
        name,
        (),
        {"__module__": "fastort.onnxruntime", "__doc__": f"Not supported: {_WHY}."},
    )
