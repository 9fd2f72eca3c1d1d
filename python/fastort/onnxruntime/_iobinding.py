"""onnxruntime's IOBinding, on fastort's run with bound outputs (`Session.run(..., out=...)`).

When data is copied: never for inputs (a bound array, an OrtValue's array, or raw memory
viewed as an array, is read in place on every run) nor for outputs bound to a buffer or an
OrtValue (ONNX Runtime writes into that memory); an output bound by name only gets new
memory from each run. `copy_outputs_to_cpu()` copies, as in onnxruntime.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .. import _core
from ._errors import InvalidArgument
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
        "_feed",
        "_out",
        "_output_names",
        "_outputs",
        "_result_names",
        "_results",
        "_session",
    )

    def __init__(self, session: InferenceSession) -> None:
        self._session = session
        self._feed: dict[str, Any] = {}
        self._outputs: dict[str, np.ndarray[Any, Any] | None] = {}  # None: new memory per run
        # Derived from _outputs when it changes, so that a run only passes them on.
        self._output_names: list[str] = []
        self._out: dict[str, np.ndarray[Any, Any]] | None = None
        # The last run's outputs and their names (the list of names it ran with).
        self._results: list[Any] = []
        self._result_names: list[str] = []

    def _check_input(self, name: str) -> None:
        if name not in self._session._feedable:
            raise InvalidArgument(
                f"unknown input '{name}'; model inputs: "
                + ", ".join(f"'{info.name}'" for info in self._session.get_inputs())
            )

    def bind_cpu_input(self, name: str, arr_on_cpu: Any) -> None:
        """Binds `arr_on_cpu`, read in place by every run (changes to it are seen)."""
        self._check_input(name)
        self._feed[name] = arr_on_cpu

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
        self._check_input(name)
        self._feed[name] = _array_at(buffer_ptr, element_type, shape)

    def bind_ortvalue_input(self, name: str, ortvalue: OrtValue) -> None:
        self._check_input(name)
        self._feed[name] = ortvalue.numpy()

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
        out = {name: buffer for name, buffer in self._outputs.items() if buffer is not None}
        self._out = out or None

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

    def clear_binding_outputs(self) -> None:
        self._outputs = {}
        self._derive()

    get_outputs_as_ortvaluevector = unsupported_function("IOBinding.get_outputs_as_ortvaluevector")
