"""onnxruntime's OrtValue, over a numpy array (or, for sequences and maps, the list or dict a
run returns).

When data is copied: never by `ortvalue_from_numpy` for a C-contiguous array (the OrtValue
holds the array; `numpy()` returns that very array), once for a strided one (as onnxruntime);
never for the OrtValues of a run (they hold the run's output arrays).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import _core
from ._devices import OrtMemoryInfo
from ._errors import Fail, InvalidArgument, onnxruntime_errors
from ._unsupported import unsupported, unsupported_function

__all__ = ["OrtValue", "OrtValueVector", "copy_tensors"]


def _cpu_only(what: str, device_type: str, memory_info: object = None) -> None:
    if memory_info is not None and not (
        isinstance(memory_info, OrtMemoryInfo) and memory_info._is_cpu()
    ):
        unsupported(
            f"{what} with a memory_info of another device (fastort.onnxruntime keeps values on "
            "the CPU)"
        )
    if not isinstance(device_type, str) or device_type.lower() != "cpu":
        unsupported(
            f"{what} on device {device_type!r} (fastort.onnxruntime keeps values on the CPU)"
        )


def _dtype(element_type: Any) -> np.dtype[Any]:
    """A numpy type (np.float32) or an ONNX element type (onnx.TensorProto.FLOAT) as a dtype."""
    if isinstance(element_type, int) and not isinstance(element_type, bool):
        with onnxruntime_errors():
            dtype: np.dtype[Any] = _core.numpy_dtype(element_type)
    else:
        dtype = np.dtype(element_type)
    return dtype


class OrtValue:
    """A value for or from a session: a tensor (a numpy array on the CPU), or a sequence or map
    a run returned. Made with the factory methods; the constructor is internal."""

    __slots__ = ("_type", "_value")

    def __init__(self, value: Any, onnx_type: str | None = None) -> None:
        self._value = value
        self._type = onnx_type  # ONNX's spelling when known (outputs of a run)

    @classmethod
    def ortvalue_from_numpy(
        cls,
        numpy_obj: np.ndarray[Any, Any],
        /,
        device_type: str = "cpu",
        device_id: int = 0,
        vendor_id: int = -1,
    ) -> OrtValue:
        """An OrtValue holding `numpy_obj` itself (a strided array is copied once)."""
        _cpu_only("OrtValue.ortvalue_from_numpy", device_type)
        if not isinstance(numpy_obj, np.ndarray):
            raise _core.InvalidTypeError(
                f"ortvalue_from_numpy takes a numpy array, got {type(numpy_obj).__name__}"
            )
        return cls(np.ascontiguousarray(numpy_obj) if numpy_obj.ndim else numpy_obj)

    @classmethod
    def ortvalue_from_numpy_with_onnx_type(
        cls, data: np.ndarray[Any, Any], /, onnx_element_type: int
    ) -> OrtValue:
        """`data` reinterpreted as an ONNX element type of the same size, without a copy."""
        dtype = _dtype(onnx_element_type)
        if not isinstance(data, np.ndarray) or data.dtype.itemsize != dtype.itemsize:
            raise InvalidArgument(
                f"ortvalue_from_numpy_with_onnx_type needs an array of {dtype.itemsize}-byte "
                "elements"
            )
        return cls(np.ascontiguousarray(data).view(dtype))

    @classmethod
    def ortvalue_from_shape_and_type(
        cls,
        shape: Sequence[int],
        element_type: Any,
        device_type: str = "cpu",
        device_id: int = 0,
        vendor_id: int = -1,
        memory_info: Any = None,
    ) -> OrtValue:
        """A new tensor of zeros; `element_type` is a numpy type or an ONNX element type."""
        _cpu_only("OrtValue.ortvalue_from_shape_and_type", device_type, memory_info)
        return cls(np.zeros(tuple(shape), _dtype(element_type)))

    @classmethod
    def from_dlpack(cls, data: Any, is_bool_tensor: bool = False, /) -> OrtValue:
        """A CPU tensor with __dlpack__ (torch, JAX, numpy), or a DLPack capsule (what
        `__dlpack__()` returns), shared without a copy. `is_bool_tensor`: the capsule holds
        bools as uint8 (DLPack before version 1 has no bool type)."""
        if type(data).__name__ == "PyCapsule":
            data = _Capsule(data)
        array = np.from_dlpack(data)
        if is_bool_tensor and array.dtype == np.uint8:
            array = array.view(np.bool_)
        return cls(array)

    def _tensor(self, what: str) -> np.ndarray[Any, Any]:
        if not isinstance(self._value, np.ndarray):
            raise Fail(f"{what} needs a tensor; this OrtValue holds {self.data_type()}")
        return self._value

    def numpy(self) -> np.ndarray[Any, Any]:
        """The tensor as a numpy array: the array itself, not a copy."""
        return self._tensor("numpy()")

    def data_ptr(self) -> int:
        address: int = self._tensor("data_ptr()").__array_interface__["data"][0]
        return address

    def device_name(self) -> str:
        return "cpu"

    def shape(self) -> list[int]:
        return list(self._tensor("shape()").shape)

    def element_type(self) -> int:
        """ONNX's element type (onnx.TensorProto.DataType) of the tensor."""
        with onnxruntime_errors():
            return _core.element_type_of(self._tensor("element_type()").dtype)

    def data_type(self) -> str:
        """ONNX's spelling of the type: 'tensor(float)', 'seq(map(int64,tensor(float)))'."""
        if self._type is None:
            if not isinstance(self._value, np.ndarray):
                raise Fail(f"the type of an OrtValue holding {type(self._value).__name__}")
            with onnxruntime_errors():
                element = _core.element_type_of(self._value.dtype)
                self._type = f"tensor({_core.onnx_type_name(element)})"
        return self._type

    def tensor_size_in_bytes(self) -> int:
        return int(self._tensor("tensor_size_in_bytes()").nbytes)

    def has_value(self) -> bool:
        """False for an empty optional output."""
        return self._value is not None

    def is_tensor(self) -> bool:
        return isinstance(self._value, np.ndarray)

    def is_sparse_tensor(self) -> bool:
        return False

    def is_tensor_sequence(self) -> bool:
        return isinstance(self._value, list) and all(
            isinstance(item, np.ndarray) for item in self._value
        )

    def update_inplace(self, data: np.ndarray[Any, Any] | OrtValue) -> None:
        """Copies `data` (same type and number of elements, in C order, whatever its shape, as
        onnxruntime copies) into this tensor's memory."""
        target = self._tensor("update_inplace()")
        source = data.numpy() if isinstance(data, OrtValue) else data
        if not isinstance(source, np.ndarray):
            raise _core.InvalidTypeError("data must be a numpy.ndarray or an OrtValue.")
        if source.size != target.size or source.dtype != target.dtype:
            raise InvalidArgument(
                f"update_inplace: expected {target.size} elements of {target.dtype}, "
                f"got {source.dtype}{list(source.shape)}"
            )
        np.copyto(target, source.reshape(target.shape))

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray[Any, Any]:
        array = self.numpy()
        if copy is not None:
            return np.array(array, dtype=dtype, copy=copy)
        return array if dtype is None else np.asarray(array, dtype=dtype)

    def __dlpack__(self, *, stream: Any = None) -> Any:
        return self.numpy().__dlpack__()

    def __dlpack_device__(self) -> tuple[int, int]:
        device: tuple[int, int] = self.numpy().__dlpack_device__()
        return device

    def to_dlpack(self) -> Any:
        """A DLPack capsule of the tensor (onnxruntime's name for `__dlpack__()`)."""
        return self.__dlpack__()

    # onnxruntime's OrtValue wraps a native value of the same methods; code that reaches for
    # it (`value._ortvalue`, `value._get_c_value()`) gets this object.
    @property
    def _ortvalue(self) -> OrtValue:
        return self

    def _get_c_value(self) -> OrtValue:
        return self

    ort_value_from_sparse_tensor = unsupported_function("OrtValue.ort_value_from_sparse_tensor")
    as_sparse_tensor = unsupported_function("OrtValue.as_sparse_tensor")

    def __repr__(self) -> str:
        if isinstance(self._value, np.ndarray):
            return f"<fastort.onnxruntime.OrtValue {self.data_type()} {list(self._value.shape)}>"
        return f"<fastort.onnxruntime.OrtValue {self._type or type(self._value).__name__}>"


def copy_tensors(src: Sequence[OrtValue], dst: Sequence[OrtValue], stream: Any = None) -> None:
    """Copies each source tensor into the destination tensor of the same position."""
    if len(src) != len(dst):
        raise InvalidArgument("copy_tensors needs as many destinations as sources")
    for source, destination in zip(src, dst):
        destination.update_inplace(source)


class _Capsule:
    """A DLPack capsule as the object with `__dlpack__` that numpy.from_dlpack takes (CPU
    only: numpy refuses any other device when it reads the capsule)."""

    __slots__ = ("_capsule",)

    def __init__(self, capsule: object) -> None:
        self._capsule = capsule

    def __dlpack__(self, **_: Any) -> object:
        return self._capsule

    def __dlpack_device__(self) -> tuple[int, int]:
        return (1, 0)  # kDLCPU


class OrtValueVector(list):  # type: ignore[type-arg]
    """onnxruntime's list of OrtValues, as `InferenceSession._sess.run_with_ort_values`
    returns it: a list with onnxruntime's method names."""

    def push_back(self, value: OrtValue) -> None:
        self.append(value)

    def reserve(self, count: int) -> None:
        """Nothing to do: a Python list grows as needed."""

    def element_type_at(self, index: int) -> int:
        value: OrtValue = self[index]
        return value.element_type()
