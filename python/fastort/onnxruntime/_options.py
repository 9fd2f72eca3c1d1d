"""onnxruntime's SessionOptions and RunOptions over fastort's option values.

Both are mutable, like onnxruntime's. `SessionOptions` checks types when a field is set and
becomes fastort's `_core.SessionOptions` when a session is made from it, where fastort's core
checks the values (as ONNX Runtime does when it creates a session). `RunOptions` is a
`fastort.RunOptions` underneath: a change makes a new one, and `terminate` reaches every run
using any of them.
"""

from __future__ import annotations

import numbers
import os
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Generic, NoReturn, SupportsIndex, TypeVar, overload

import numpy as np

from .. import _core
from ..run_options import RunOptions as _FastortRunOptions
from ._errors import InvalidArgument, onnxruntime_errors, refuse_pickling
from ._unsupported import unsupported, unsupported_function

if TYPE_CHECKING:
    from ._values import OrtValue

__all__ = ["ExecutionMode", "GraphOptimizationLevel", "RunOptions", "SessionOptions"]

GraphOptimizationLevel = _core.GraphOptimizationLevel
ExecutionMode = _core.ExecutionMode

T = TypeVar("T")


class _Field(Generic[T]):
    """A typed attribute, checked when set and converted as onnxruntime's native options
    convert: an int field takes any integer (bools too), a bool field any number or None."""

    def __init__(self, kind: type[Any], default: T) -> None:
        self.kind = kind
        self.default = default
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, instance: None, owner: type) -> _Field[T]: ...
    @overload
    def __get__(self, instance: object, owner: type) -> T: ...
    def __get__(self, instance: object | None, owner: type) -> T | _Field[T]:
        if instance is None:
            return self
        fields: dict[str, Any] = getattr(instance, "_fields")  # noqa: B009
        value: T = fields.get(self.name, self.default)
        return value

    def __set__(self, instance: object, value: T) -> None:
        converted: Any
        if self.kind is int and isinstance(value, numbers.Integral):
            converted = int(value)
        elif self.kind is bool and (value is None or isinstance(value, (numbers.Number, np.bool_))):
            converted = bool(value)
        elif isinstance(value, self.kind):
            converted = value
        else:
            raise _core.InvalidTypeError(
                f"{self.name} must be {self.kind.__name__}, got {type(value).__name__}"
            )
        fields: dict[str, Any] = getattr(instance, "_fields")  # noqa: B009
        fields[self.name] = converted


def _path(name: str, value: object) -> bytes:
    if not isinstance(value, (str, bytes, os.PathLike)):
        raise _core.InvalidTypeError(f"{name} must be a path, got {type(value).__name__}")
    return os.fsencode(value)


class SessionOptions:
    """onnxruntime's SessionOptions. Values are checked by fastort's core when a session is
    made from them; a session keeps its own copy (`get_session_options()`).

    `add_initializer` and `add_external_initializers` copy the tensor once when a session is
    made, `add_external_initializers_from_files_in_memory` the bytes when called (onnxruntime
    borrows both), so nothing can dangle or change under a session. `log_verbosity_level`
    only affects debug builds of ONNX Runtime, as in onnxruntime.
    """

    __slots__ = (
        "_config",
        "_dimensions",
        "_external",
        "_external_files",
        "_fields",
        "_initializers",
        "_libraries",
    )

    intra_op_num_threads = _Field(int, 0)
    inter_op_num_threads = _Field(int, 0)
    graph_optimization_level = _Field(GraphOptimizationLevel, GraphOptimizationLevel.ORT_ENABLE_ALL)
    execution_mode = _Field(ExecutionMode, ExecutionMode.ORT_SEQUENTIAL)
    log_severity_level = _Field(int, -1)
    log_verbosity_level = _Field(int, 0)
    logid = _Field(str, "")
    optimized_model_filepath = _Field(str, "")
    enable_profiling = _Field(bool, False)
    profile_file_prefix = _Field(str, "onnxruntime_profile_")
    enable_mem_pattern = _Field(bool, True)
    enable_cpu_mem_arena = _Field(bool, True)
    use_deterministic_compute = _Field(bool, False)

    def __init__(self) -> None:
        self._fields: dict[str, Any] = {}
        self._config: dict[str, str] = {}
        self._initializers: dict[str, np.ndarray[Any, Any]] = {}
        self._external: dict[str, np.ndarray[Any, Any]] = {}
        self._external_files: dict[bytes, bytes] = {}
        self._libraries: list[str] = []
        self._dimensions: dict[str, dict[str, int]] = {"name": {}, "denotation": {}}

    # What ONNX Runtime's C API cannot change: readable at their defaults only.
    @property
    def enable_mem_reuse(self) -> bool:
        return True

    @enable_mem_reuse.setter
    def enable_mem_reuse(self, value: bool) -> None:
        if value is not True:
            unsupported("SessionOptions.enable_mem_reuse = False")

    @property
    def use_per_session_threads(self) -> bool:
        return True

    @use_per_session_threads.setter
    def use_per_session_threads(self, value: bool) -> None:
        if value is not True:
            unsupported("SessionOptions.use_per_session_threads = False")

    @property
    def execution_order(self) -> Any:
        unsupported("SessionOptions.execution_order")

    @execution_order.setter
    def execution_order(self, value: Any) -> None:
        unsupported("SessionOptions.execution_order")

    def add_session_config_entry(self, config_key: str, config_value: str) -> None:
        """An ONNX Runtime session config entry; a later one replaces an earlier one."""
        if not isinstance(config_key, str) or not isinstance(config_value, str):
            raise _core.InvalidTypeError("session config keys and values must be str")
        self._config[config_key] = config_value

    def get_session_config_entry(self, config_key: str) -> str:
        if config_key not in self._config:
            raise InvalidArgument(
                f"SessionOptions does not have configuration with key: {config_key}"
            )
        return self._config[config_key]

    def add_initializer(self, name: str, val: OrtValue) -> None:
        """Replaces the model's initializer `name` with `val` (copied when a session is made)."""
        from ._values import OrtValue

        if not isinstance(name, str) or not isinstance(val, OrtValue):
            raise _core.InvalidTypeError("add_initializer takes a name and an OrtValue")
        self._initializers[name] = val.numpy()

    def register_custom_ops_library(self, library_path: str | os.PathLike[str]) -> None:
        """Loads a shared library of custom operators; fails here, as in onnxruntime, when
        ONNX Runtime cannot load it (`Fail`)."""
        with onnxruntime_errors():
            _core.SessionSettings(custom_ops_libraries=[_path("library_path", library_path)])
        self._libraries.append(os.fspath(library_path))

    def add_free_dimension_override_by_name(self, dim_name: str, dim_value: int) -> None:
        self._add_dimension("name", dim_name, dim_value)

    def add_free_dimension_override_by_denotation(
        self, dim_denotation: str, dim_value: int
    ) -> None:
        self._add_dimension("denotation", dim_denotation, dim_value)

    def _add_dimension(self, kind: str, name: str, value: int) -> None:
        if not isinstance(name, str) or isinstance(value, bool) or not isinstance(value, int):
            raise _core.InvalidTypeError("a dimension override takes a str and an int")
        self._dimensions[kind][name] = value

    def has_providers(self) -> bool:
        """Whether providers were added to the options: never here (add_provider is not
        supported); InferenceSession's `providers` chooses them."""
        return False

    def add_external_initializers(self, names: Sequence[str], values: Sequence[OrtValue]) -> None:
        """Values for initializers the model keeps as external data, used instead of reading
        its data files (copied when a session is made)."""
        from ._values import OrtValue

        names, values = list(names), list(values)
        if len(names) != len(values) or not all(
            isinstance(name, str) and isinstance(value, OrtValue)
            for name, value in zip(names, values)
        ):
            raise _core.InvalidTypeError(
                "add_external_initializers takes a list of names and a list of OrtValues of "
                "the same length"
            )
        for name, value in zip(names, values):
            self._external[name] = value.numpy()

    def add_external_initializers_from_files_in_memory(
        self,
        file_names: Sequence[str | os.PathLike[str]],
        buffers: Sequence[Any],
        lengths: Sequence[int],
    ) -> None:
        """The bytes of external data files, by the file name the model references: the model
        reads its external initializers from these instead of from disk (copied now)."""
        file_names, buffers, lengths = list(file_names), list(buffers), list(lengths)
        if not len(file_names) == len(buffers) == len(lengths):
            raise _core.InvalidTypeError(
                "add_external_initializers_from_files_in_memory takes three lists of the same "
                "length: file names, buffers and their lengths"
            )
        for name, buffer, length in zip(file_names, buffers, lengths):
            data = memoryview(buffer).cast("B")
            if (
                isinstance(length, bool)
                or not isinstance(length, int)
                or not 0 <= length <= len(data)
            ):
                raise InvalidArgument(
                    f"length {length!r} of external initializer file {name!r} is not within its "
                    f"buffer of {len(data)} bytes"
                )
            self._external_files[_path("file_names", name)] = bytes(data[:length])

    add_provider = unsupported_function("SessionOptions.add_provider")
    add_provider_for_devices = unsupported_function("SessionOptions.add_provider_for_devices")
    set_provider_selection_policy = unsupported_function(
        "SessionOptions.set_provider_selection_policy"
    )
    set_provider_selection_policy_delegate = unsupported_function(
        "SessionOptions.set_provider_selection_policy_delegate"
    )
    set_load_cancellation_flag = unsupported_function("SessionOptions.set_load_cancellation_flag")
    set_ep_context_data_read_func = unsupported_function(
        "SessionOptions.set_ep_context_data_read_func"
    )
    clear_ep_context_data_read_func = unsupported_function(
        "SessionOptions.clear_ep_context_data_read_func"
    )

    def _copy(self) -> SessionOptions:
        copy = SessionOptions()
        copy._fields = dict(self._fields)
        copy._config = dict(self._config)
        copy._initializers = dict(self._initializers)
        copy._external = dict(self._external)
        copy._external_files = dict(self._external_files)
        copy._libraries = list(self._libraries)
        copy._dimensions = {kind: dict(dims) for kind, dims in self._dimensions.items()}
        return copy

    def _to_core(
        self, providers: Sequence[tuple[str, Sequence[tuple[str, str]]]]
    ) -> _core.SessionOptions:
        """fastort's options for a session, checked by the core (errors in fastort's classes)."""
        return _core.SessionOptions(
            threads=self.intra_op_num_threads,
            inter_op_threads=self.inter_op_num_threads,
            optimization=_core.graph_optimization_name(self.graph_optimization_level),
            providers=list(providers),
            optimized_model_path=_path("optimized_model_filepath", self.optimized_model_filepath),
            session_config=list(self._config.items()),
            settings=_core.SessionSettings(
                parallel_execution=self.execution_mode == ExecutionMode.ORT_PARALLEL,
                log_severity_level=self.log_severity_level,
                log_verbosity_level=self.log_verbosity_level,
                log_id=self.logid,
                enable_profiling=self.enable_profiling,
                profile_file_prefix=_path("profile_file_prefix", self.profile_file_prefix),
                enable_mem_pattern=self.enable_mem_pattern,
                enable_cpu_mem_arena=self.enable_cpu_mem_arena,
                deterministic_compute=self.use_deterministic_compute,
                custom_ops_libraries=[os.fsencode(path) for path in self._libraries],
                initializers=list(self._initializers.items()),
                free_dimensions_by_name=list(self._dimensions["name"].items()),
                free_dimensions_by_denotation=list(self._dimensions["denotation"].items()),
                external_initializers=list(self._external.items()),
                external_files=list(self._external_files.items()),
            ),
        )


class RunOptions:
    """onnxruntime's RunOptions over a `fastort.RunOptions` (whose `tag` is `logid` here).

    Setting `terminate` to True, from any thread, stops every run using these options, as in
    onnxruntime. `log_verbosity_level` only affects debug builds of ONNX Runtime.
    """

    __slots__ = ("_earlier", "_options", "_verbosity")

    def __reduce_ex__(self, protocol: SupportsIndex) -> NoReturn:
        refuse_pickling(self)

    def __init__(self) -> None:
        self._options = _FastortRunOptions()
        # The fastort options of runs that may still be going after a change made new ones:
        # `terminate` must reach them too.
        self._earlier: weakref.WeakSet[_FastortRunOptions] = weakref.WeakSet()
        self._verbosity = 0

    def _change(self, **changes: Any) -> None:
        with onnxruntime_errors():
            options = self._options.replace(terminate=self._options.terminate, **changes)
        self._earlier.add(self._options)
        self._options = options

    @property
    def log_severity_level(self) -> int:
        return self._options.log_severity_level

    @log_severity_level.setter
    def log_severity_level(self, value: int) -> None:
        self._change(log_severity_level=None if value == -1 else value)

    @property
    def log_verbosity_level(self) -> int:
        return self._verbosity

    @log_verbosity_level.setter
    def log_verbosity_level(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _core.InvalidTypeError(f"log_verbosity_level must be int, got {value!r}")
        self._verbosity = value

    @property
    def logid(self) -> str:
        return self._options.tag

    @logid.setter
    def logid(self, value: str) -> None:
        self._change(tag=value)

    @property
    def terminate(self) -> bool:
        return self._options.terminate

    @terminate.setter
    def terminate(self, value: bool) -> None:
        if not isinstance(value, bool):
            raise _core.InvalidTypeError(f"terminate must be a bool, got {value!r}")
        for options in (*self._earlier, self._options):
            options.terminate = value

    @property
    def only_execute_path_to_fetches(self) -> bool:
        return False

    @only_execute_path_to_fetches.setter
    def only_execute_path_to_fetches(self, value: bool) -> None:
        if value is not False:
            unsupported("RunOptions.only_execute_path_to_fetches = True")

    def add_run_config_entry(self, config_key: str, config_value: str) -> None:
        if not isinstance(config_key, str) or not isinstance(config_value, str):
            raise _core.InvalidTypeError("run config keys and values must be str")
        self._change(config={**self._options.config, config_key: config_value})

    def get_run_config_entry(self, config_key: str) -> str:
        config: dict[str, str] = self._options.config
        if config_key not in config:
            raise InvalidArgument(f"RunOptions does not have configuration with key: {config_key}")
        return config[config_key]

    add_active_adapter = unsupported_function("RunOptions.add_active_adapter")

    def _fastort(self) -> _FastortRunOptions:
        return self._options


def fastort_run_options(options: object) -> _core.RunOptionsBase:
    """What a run takes for a `run_options` argument: ours, or a fastort.RunOptions as is."""
    if isinstance(options, RunOptions):
        return options._fastort()
    if isinstance(options, _core.RunOptionsBase):
        return options
    raise _core.InvalidTypeError(
        f"run_options must be a fastort.onnxruntime.RunOptions, got {type(options).__name__}"
    )
