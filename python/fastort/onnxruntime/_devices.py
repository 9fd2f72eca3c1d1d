"""onnxruntime's descriptions of devices and memory (OrtDevice, OrtMemoryInfo, OrtArenaCfg and
their enums), and the shared CPU allocator of `create_and_register_allocator`.

fastort runs on the CPU: the descriptions of other devices can be made and read, as in
onnxruntime, but anything that would allocate on them raises `NotImplemented`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

from .. import _core
from ._errors import Fail, onnxruntime_errors
from ._unsupported import unsupported

__all__ = [
    "OrtAllocatorType",
    "OrtArenaCfg",
    "OrtDevice",
    "OrtDeviceMemoryType",
    "OrtDeviceVendorId",
    "OrtMemType",
    "OrtMemoryInfo",
    "OrtMemoryInfoDeviceType",
    "create_and_register_allocator",
]


class OrtDeviceVendorId(enum.IntEnum):
    NONE = 0
    AMD = 0x1002
    NVIDIA = 0x10DE
    ARM = 0x13B5
    MICROSOFT = 0x1414
    HUAWEI = 0x19E5
    QUALCOMM = 0x5143
    INTEL = 0x8086


class OrtMemType(enum.IntEnum):
    CPU_INPUT = -2
    CPU_OUTPUT = -1
    CPU = -1  # onnxruntime's alias of CPU_OUTPUT
    DEFAULT = 0


class OrtAllocatorType(enum.IntEnum):
    INVALID = -1
    ORT_DEVICE_ALLOCATOR = 0
    ORT_ARENA_ALLOCATOR = 1


class OrtDeviceMemoryType(enum.IntEnum):
    DEFAULT = 0
    HOST_ACCESSIBLE = 5


class OrtMemoryInfoDeviceType(enum.IntEnum):
    CPU = 0
    GPU = 1
    FPGA = 2
    NPU = 3


# OrtDevice.make's device names: (device type, vendor).
_DEVICES = {
    "cpu": (OrtMemoryInfoDeviceType.CPU, OrtDeviceVendorId.NONE),
    "cuda": (OrtMemoryInfoDeviceType.GPU, OrtDeviceVendorId.NVIDIA),
    "gpu": (OrtMemoryInfoDeviceType.GPU, OrtDeviceVendorId.NONE),
    "dml": (OrtMemoryInfoDeviceType.GPU, OrtDeviceVendorId.MICROSOFT),
    "npu": (OrtMemoryInfoDeviceType.NPU, OrtDeviceVendorId.NONE),
    "cann": (OrtMemoryInfoDeviceType.NPU, OrtDeviceVendorId.HUAWEI),
}

# OrtMemoryInfo's allocator names: (device type, vendor, device memory type).
_ALLOCATORS = {
    "Cpu": (OrtMemoryInfoDeviceType.CPU, OrtDeviceVendorId.NONE, OrtDeviceMemoryType.DEFAULT),
    "Cuda": (OrtMemoryInfoDeviceType.GPU, OrtDeviceVendorId.NVIDIA, OrtDeviceMemoryType.DEFAULT),
    "CudaPinned": (
        OrtMemoryInfoDeviceType.CPU,
        OrtDeviceVendorId.NVIDIA,
        OrtDeviceMemoryType.HOST_ACCESSIBLE,
    ),
    "Cann": (OrtMemoryInfoDeviceType.NPU, OrtDeviceVendorId.HUAWEI, OrtDeviceMemoryType.DEFAULT),
    "CannPinned": (
        OrtMemoryInfoDeviceType.CPU,
        OrtDeviceVendorId.HUAWEI,
        OrtDeviceMemoryType.HOST_ACCESSIBLE,
    ),
    "DML": (OrtMemoryInfoDeviceType.GPU, OrtDeviceVendorId.MICROSOFT, OrtDeviceMemoryType.DEFAULT),
    "OpenVINO_CPU": (
        OrtMemoryInfoDeviceType.CPU,
        OrtDeviceVendorId.INTEL,
        OrtDeviceMemoryType.DEFAULT,
    ),
    "OpenVINO_GPU": (
        OrtMemoryInfoDeviceType.GPU,
        OrtDeviceVendorId.INTEL,
        OrtDeviceMemoryType.DEFAULT,
    ),
}


class NativeDevice:
    """onnxruntime's native device (`capi._pybind_state.OrtDevice`, what the public OrtDevice
    wraps): `OrtDevice(device_type, mem_type, device_id[, vendor_id])`, with the numbers of
    onnxruntime's static methods (`cpu()`, `cuda()`, `default_memory()`, ...)."""

    __slots__ = ("_id", "_memory", "_type", "_vendor")

    def __init__(self, device_type: int, mem_type: int, device_id: int, vendor_id: int = 0) -> None:
        self._type, self._memory = int(device_type), int(mem_type)
        self._id, self._vendor = int(device_id), int(vendor_id)

    @staticmethod
    def cpu() -> int:
        return 0

    @staticmethod
    def gpu() -> int:
        return 1

    @staticmethod
    def cuda() -> int:
        return 1

    @staticmethod
    def webgpu() -> int:
        return 1

    @staticmethod
    def fpga() -> int:
        return 2

    @staticmethod
    def npu() -> int:
        return 3

    @staticmethod
    def cann() -> int:
        return 3

    @staticmethod
    def dml() -> int:
        return 4

    @staticmethod
    def default_memory() -> int:
        return 0

    def device_type(self) -> int:
        return self._type

    def mem_type(self) -> int:
        return self._memory

    def device_id(self) -> int:
        return self._id

    def vendor_id(self) -> int:
        return self._vendor


class OrtDevice:
    """A device: its type (0 CPU, 1 GPU, 2 FPGA, 3 NPU), vendor, id and memory type."""

    __slots__ = ("_id", "_memory", "_type", "_vendor")

    def __init__(
        self,
        device_type: int = OrtMemoryInfoDeviceType.CPU,
        device_mem_type: int = OrtDeviceMemoryType.DEFAULT,
        device_vendor_id: int = OrtDeviceVendorId.NONE,
        device_id: int = 0,
    ) -> None:
        self._type = int(device_type)
        self._memory = int(device_mem_type)
        self._vendor = int(device_vendor_id)
        self._id = int(device_id)

    @staticmethod
    def make(ort_device_name: str, device_id: int) -> OrtDevice:
        """The device onnxruntime names "cpu", "cuda", "gpu", "dml", "npu" or "cann"."""
        if ort_device_name not in _DEVICES:
            raise Fail(f"Unsupported device type: {ort_device_name}")
        device_type, vendor = _DEVICES[ort_device_name]
        return OrtDevice(device_type, OrtDeviceMemoryType.DEFAULT, vendor, device_id)

    def device_id(self) -> int:
        return self._id

    def device_type(self) -> int:
        return self._type

    def device_vendor_id(self) -> int:
        return self._vendor

    def device_mem_type(self) -> int:
        return self._memory

    # onnxruntime's OrtDevice wraps a native one, which code reaches for.
    @property
    def _ort_device(self) -> NativeDevice:
        return self._get_c_device()

    def _get_c_device(self) -> NativeDevice:
        return NativeDevice(self._type, self._memory, self._id, self._vendor)

    def __repr__(self) -> str:
        return (
            f"OrtDevice(type={self._type}, id={self._id}, vendor={self._vendor:#x}, "
            f"memory={self._memory})"
        )


class OrtMemoryInfo:
    """Where a value's memory lives: an allocator's name ("Cpu", "Cuda", ...), its type, the
    device's id and the memory type."""

    __slots__ = (
        "_allocator_type",
        "_device_id",
        "_device_mem_type",
        "_device_type",
        "_device_vendor_id",
        "_mem_type",
        "_name",
    )

    def __init__(self, name: str, allocator_type: int, device_id: int, mem_type: int) -> None:
        if name not in _ALLOCATORS:
            raise Fail("Specified device is not supported. Try CreateMemoryInfo_V2.")
        device_type, vendor, device_memory = _ALLOCATORS[name]
        self._name = name
        self._allocator_type = OrtAllocatorType(allocator_type)
        self._device_id = int(device_id)
        self._mem_type = OrtMemType(mem_type)
        self._device_type = device_type
        self._device_vendor_id = int(vendor)
        self._device_mem_type = device_memory

    @staticmethod
    def create_v2(
        name: str,
        device_type: int,
        vendor_id: int,
        device_id: int,
        device_mem_type: int,
        alignment: int,
        allocator_type: int,
    ) -> OrtMemoryInfo:
        """Memory described by device type and vendor rather than by allocator name."""
        info = OrtMemoryInfo.__new__(OrtMemoryInfo)
        info._name = name
        info._allocator_type = OrtAllocatorType(allocator_type)
        info._device_id = int(device_id)
        info._mem_type = OrtMemType.DEFAULT
        info._device_type = OrtMemoryInfoDeviceType(device_type)
        info._device_vendor_id = int(vendor_id)
        info._device_mem_type = OrtDeviceMemoryType(device_mem_type)
        return info

    @property
    def name(self) -> str:
        return self._name

    @property
    def allocator_type(self) -> OrtAllocatorType:
        return self._allocator_type

    @property
    def device_id(self) -> int:
        return self._device_id

    @property
    def mem_type(self) -> OrtMemType:
        return self._mem_type

    @property
    def device_mem_type(self) -> OrtDeviceMemoryType:
        return self._device_mem_type

    @property
    def device_vendor_id(self) -> int:
        return self._device_vendor_id

    def _is_cpu(self) -> bool:
        return (
            self._device_type == OrtMemoryInfoDeviceType.CPU
            and self._device_mem_type == OrtDeviceMemoryType.DEFAULT
            and self._device_vendor_id == OrtDeviceVendorId.NONE
        )

    def __repr__(self) -> str:
        return (
            f"OrtMemoryInfo(name={self._name!r}, allocator_type={self._allocator_type.name}, "
            f"device_id={self._device_id}, mem_type={self._mem_type.name})"
        )


def cpu_memory_info() -> OrtMemoryInfo:
    """The memory of every fastort value: the CPU, through ONNX Runtime's arena."""
    return OrtMemoryInfo("Cpu", OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, OrtMemType.DEFAULT)


_ARENA_KEYS = (
    "max_mem",
    "arena_extend_strategy",
    "initial_chunk_size_bytes",
    "max_dead_bytes_per_chunk",
    "initial_growth_chunk_size_bytes",
    "max_power_of_two_extend_bytes",
)


class OrtArenaCfg:
    """An arena allocator's settings: `OrtArenaCfg(max_mem, arena_extend_strategy,
    initial_chunk_size_bytes, max_dead_bytes_per_chunk)` or `OrtArenaCfg({key: value})`;
    -1 (0 for max_mem) leaves a setting to ONNX Runtime."""

    __slots__ = _ARENA_KEYS

    max_mem: int
    arena_extend_strategy: int
    initial_chunk_size_bytes: int
    max_dead_bytes_per_chunk: int
    initial_growth_chunk_size_bytes: int
    max_power_of_two_extend_bytes: int

    def __init__(self, *args: Any) -> None:
        for key in _ARENA_KEYS:
            setattr(self, key, 0 if key == "max_mem" else -1)
        if len(args) == 1 and isinstance(args[0], Mapping):
            for key, value in args[0].items():
                if key not in _ARENA_KEYS:
                    raise Fail(f"Invalid OrtArenaCfg option: {key}")
                setattr(self, key, _integer(value, key))
        elif len(args) == 4:
            for key, value in zip(_ARENA_KEYS, args):
                setattr(self, key, _integer(value, key))
        else:
            raise _core.InvalidTypeError(
                "OrtArenaCfg takes (max_mem, arena_extend_strategy, initial_chunk_size_bytes, "
                f"max_dead_bytes_per_chunk) or a dict, got {len(args)} arguments"
            )

    def _settings(self) -> list[tuple[str, int]]:
        """The settings ONNX Runtime should not default."""
        return [
            (key, getattr(self, key))
            for key in _ARENA_KEYS
            if getattr(self, key) > (0 if key == "max_mem" else -1)
        ]

    def __repr__(self) -> str:
        fields = ", ".join(f"{key}={getattr(self, key)}" for key in _ARENA_KEYS)
        return f"OrtArenaCfg({fields})"


def _integer(value: object, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _core.InvalidTypeError(f"OrtArenaCfg {key} must be an int, got {value!r}")
    return value


def create_and_register_allocator(mem_info: OrtMemoryInfo, arena_cfg: OrtArenaCfg | None) -> None:
    """Registers a CPU allocator with ONNX Runtime's environment; sessions whose config has
    `session.use_env_allocators` = "1" share it instead of each keeping its own arena."""
    if not isinstance(mem_info, OrtMemoryInfo):
        raise _core.InvalidTypeError(
            f"mem_info must be an OrtMemoryInfo, got {type(mem_info).__name__}"
        )
    if arena_cfg is not None and not isinstance(arena_cfg, OrtArenaCfg):
        raise _core.InvalidTypeError(
            f"arena_cfg must be an OrtArenaCfg or None, got {type(arena_cfg).__name__}"
        )
    if not mem_info._is_cpu():
        raise Fail(
            "Error when creating and registering allocator: Only CPU devices are supported. "
            "Please call CreateAndRegisterAllocatorV2() for other device."
        )
    if mem_info.allocator_type == OrtAllocatorType.INVALID:
        unsupported("create_and_register_allocator with OrtAllocatorType.INVALID")
    arena = mem_info.allocator_type == OrtAllocatorType.ORT_ARENA_ALLOCATOR
    with onnxruntime_errors():
        _core.register_cpu_allocator(arena, arena_cfg._settings() if arena_cfg else [])
