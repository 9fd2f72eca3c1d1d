"""onnxruntime's IOBinding, on fastort's run with bound outputs (`Session.run(..., out=...)`).

When data is copied: never for inputs (a bound array, an OrtValue's array, or raw memory
viewed as an array, is read in place on every run) nor for outputs bound to a buffer or an
OrtValue (ONNX Runtime writes into that memory); an output bound by name only gets new
memory from each run. `copy_outputs_to_cpu()` copies, as in onnxruntime.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, NoReturn, SupportsIndex

import numpy as np

from .. import _core
from ._errors import InvalidArgument, refuse_pickling
from ._unsupported import unsupported_function
from ._values import OrtValue, _cpu_only, _dtype

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ._session import InferenceSession

__all__ = ["IOBinding"]


class _Memory:
    """Raw memory seen through numpy's array interface; the caller keeps it alive (as with
    onnxruntime, which binds the pointer)."""

    def __init__(self, address: int, dtype: np.dtype[Any], shape: tuple[int, ...]) -> None:
        self.__array_interface__ = {
            "data": (address, False),
            "shape": shape,
            "typestr": dtype.str,
            "version": 3,
        }


def _array_at(address: int, element_type: Any, shape: Sequence[int]) -> np.ndarray[Any, Any]:
    if isinstance(address, bool) or not isinstance(address, int) or address == 0:
        raise _core.InvalidTypeError(f"buffer_ptr must be a non-null address, got {address!r}")
    dtype = _dtype(element_type)
    if dtype.hasobject:
        raise InvalidArgument("raw buffers cannot hold strings")
    return np.asarray(_Memory(address, dtype, tuple(int(dim) for dim in shape)))


class IOBinding:
    """Inputs and outputs bound to a session once and used by every
    `session.run_with_iobinding(binding)`. Not for use from several threads at once (nor is
    onnxruntime's)."""

    __slots__ = (
        "_call",
        "_feed",
        "_handle",
        "_output_names",
        "_outputs",
        "_result_names",
        "_results",
        "_session",
    )

    def __reduce_ex__(self, protocol: SupportsIndex) -> NoReturn:
        refuse_pickling(self)

    def __init__(self, session: InferenceSession) -> None:
        self._session = session
        # The loaded model it binds to: set_providers makes another, and this binding is then
        # refused, as in onnxruntime.
        self._handle = session._handle
        self._feed: dict[str, Any] = {}
        self._outputs: dict[str, np.ndarray[Any, Any] | None] = {}  # None: new memory per run
        # Derived when a binding changes: the names of the outputs, and the run (made by the
        # next run_with_iobinding).
        self._output_names: list[str] = []
        self._call: Callable[..., list[Any]] | None = None
        # The last run's outputs and their names (the list of names it ran with).
        self._results: list[Any] = []
        self._result_names: list[str] = []

    def _set_input(self, name: str, value: Any) -> None:
        info = self._session._feedable.get(name)
        if info is None:
            raise InvalidArgument(
                f"unknown input '{name}'; model inputs: "
                + ", ".join(f"'{info.name}'" for info in self._session.get_inputs())
            )
        if not isinstance(value, np.ndarray):
            # Array-likes (torch tensors) are viewed; lists and numbers become the input's type.
            array_like = hasattr(value, "__array_interface__") or hasattr(value, "__array__")
            value = np.asarray(value) if array_like else np.asarray(value, dtype=info.dtype)
        self._feed[name] = value
        self._call = None

    def bind_cpu_input(self, name: str, arr_on_cpu: Any) -> None:
        """Binds `arr_on_cpu`, read in place by every run (changes to it are seen)."""
        self._set_input(name, arr_on_cpu)

    def bind_input(
        self,
        name: str,
        device_type: str,
        device_id: int,
        element_type: Any,
        shape: Sequence[int],
        buffer_ptr: int,
    ) -> None:
        """Binds memory at `buffer_ptr` (read in place; the caller keeps it alive)."""
        _cpu_only("IOBinding.bind_input", device_type)
        self._set_input(name, _array_at(buffer_ptr, element_type, shape))

    def bind_ortvalue_input(self, name: str, ortvalue: OrtValue) -> None:
        self._set_input(name, ortvalue.numpy())

    def synchronize_inputs(self) -> None:
        """Nothing to wait for: values live on the CPU."""

    def bind_output(
        self,
        name: str,
        device_type: str = "cpu",
        device_id: int = 0,
        element_type: Any = None,
        shape: Sequence[int] | None = None,
        buffer_ptr: int | None = None,
    ) -> None:
        """Binds an output to memory at `buffer_ptr` (written by every run), or, without one, to
        new memory from each run. Unknown names fail at the run, as in onnxruntime."""
        _cpu_only("IOBinding.bind_output", device_type)
        if buffer_ptr is None:
            self._set_output(name, None)
            return
        if element_type is None or shape is None:
            raise InvalidArgument(
                "`element_type` and `shape` are to be provided if pre-allocated memory is provided"
            )
        self._set_output(name, _array_at(buffer_ptr, element_type, shape))

    def bind_ortvalue_output(self, name: str, ortvalue: OrtValue) -> None:
        """Binds an output to an OrtValue's tensor, which every run overwrites."""
        self._set_output(name, ortvalue.numpy())

    def _set_output(self, name: str, buffer: np.ndarray[Any, Any] | None) -> None:
        if not isinstance(name, str):
            raise _core.InvalidTypeError(f"output names must be str, got {type(name).__name__}")
        self._outputs[name] = buffer
        self._derive()

    def _derive(self) -> None:
        self._output_names = list(self._outputs)
        self._call = None  # made again by the next run

    def _bound_run(self) -> Callable[..., list[Any]]:
        """The run of this binding: its arrays viewed once for every call until it changes."""
        if self._call is None:
            names = self._output_names
            if not names:
                raise InvalidArgument("At least one output should be requested (bind_output).")
            # None asks for every output in model order, which a run reads faster than names.
            every = [info.name for info in self._session.get_outputs()]
            out = {name: buffer for name, buffer in self._outputs.items() if buffer is not None}
            bound = _core.BoundRun(
                self._handle._model,
                False,
                None if names == every else names,
                dict(self._feed),
                out or None,
            )
            self._call = bound.run
        return self._call

    def synchronize_outputs(self) -> None:
        """Nothing to wait for: values live on the CPU."""

    def get_outputs(self) -> list[OrtValue]:
        """The outputs of the last run, in the order they were bound; those bound to memory
        hold that memory."""
        types = self._session._output_types
        return [
            OrtValue(value, types.get(name))
            for name, value in zip(self._result_names, self._results)
        ]

    def copy_outputs_to_cpu(self) -> list[Any]:
        """Copies of the last run's outputs (arrays for tensors)."""
        return [
            np.array(value) if isinstance(value, np.ndarray) else value for value in self._results
        ]

    def clear_binding_inputs(self) -> None:
        self._feed = {}
        self._call = None

    def clear_binding_outputs(self) -> None:
        """Unbinds every output; the last run's outputs go with them, as in onnxruntime."""
        self._outputs = {}
        self._results = []
        self._derive()

    get_outputs_as_ortvaluevector = unsupported_function("IOBinding.get_outputs_as_ortvaluevector")
