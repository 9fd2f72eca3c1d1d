"""onnxruntime's InferenceSession over fastort's core: a loaded `Model` (through fastort's
session cache, like `fastort.Session`) and the native run of `fastort.Session`.

When data is copied: as in `fastort.Session.run` (inputs and outputs never, for arrays of the
model's exact type that are C-contiguous), except that a value that is not an array (a list,
a Python number) is converted to the input's type, as onnxruntime does.
"""

from __future__ import annotations

import concurrent.futures
import os
import re
import sys
import threading
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Callable, NoReturn, SupportsIndex

import numpy as np

from .. import _core
from ..session import _load_bytes
from ._devices import OrtMemoryInfo, cpu_memory_info
from ._errors import Fail, InvalidArgument, onnxruntime_errors, refuse_pickling, translated
from ._iobinding import IOBinding
from ._model_config import config_from_model, with_model_config
from ._options import (
    RunOptions,
    SessionOptions,
    fastort_run_options,
)
from ._providers import CPU, ProviderArg, normalized_providers
from ._unsupported import unsupported, unsupported_function
from ._values import OrtValue, OrtValueVector

__all__ = ["InferenceSession"]

# Through fastort's session cache, as fastort.Session: path models are shared (sessions that
# profile or take initializers never are), bytes are not.
_DEFAULT = None

# The input types a run builds values of: tensors, sequences and optionals of tensors, and
# the maps ONNX Runtime can make (int64 or string keys to string, int64, float or double).
_FEEDABLE = re.compile(
    r"(optional\()?(seq\()?tensor\(|map\((int64|string),tensor\((string|int64|float|double)\)\)$"
)
Callback = Callable[[list[Any], Any, str], object]


def _repeats(names: object) -> bool:
    """Whether a list of output names names one of them more than once."""
    if not isinstance(names, (list, tuple)):
        return False
    try:
        return len(set(names)) < len(names)
    except TypeError:  # unhashable items: the run's own error stands
        return False


_executor: tuple[int, concurrent.futures.ThreadPoolExecutor] | None = None
_executor_lock = threading.Lock()


def _async_executor() -> concurrent.futures.ThreadPoolExecutor:
    """The threads run_async runs on; a fork()ed child makes its own."""
    global _executor
    with _executor_lock:
        if _executor is None or _executor[0] != os.getpid():
            pool = concurrent.futures.ThreadPoolExecutor(thread_name_prefix="fastort-run-async")
            _executor = (os.getpid(), pool)
        return _executor[1]


class InferenceSession:
    """onnxruntime's InferenceSession on fastort's core. See `fastort.onnxruntime` for what
    differs from onnxruntime; everything not supported raises `NotImplemented`."""

    def __reduce_ex__(self, protocol: SupportsIndex) -> NoReturn:
        refuse_pickling(self)

    def __init__(
        self,
        path_or_bytes: str | bytes | os.PathLike[str],
        sess_options: SessionOptions | None = None,
        providers: Sequence[ProviderArg] | None = None,
        provider_options: Sequence[Mapping[Any, Any]] | None = None,
        **kwargs: Any,
    ) -> None:
        # How the model loads with given options: again by set_providers.
        self._load: Callable[[_core.SessionOptions], _core.Model]
        if isinstance(path_or_bytes, (str, os.PathLike)):
            path = os.fsencode(path_or_bytes)
            self._load = lambda options: _core.Model.load_file(
                path, options, False if config_from_model() else _DEFAULT
            )
        elif isinstance(path_or_bytes, bytes):
            if not path_or_bytes:
                raise InvalidArgument("No graph was found in the protobuf.")
            model = path_or_bytes
            self._load = lambda options: _load_bytes(model, options, _DEFAULT)
        else:
            raise _core.InvalidTypeError(f"Unable to load from type '{type(path_or_bytes)}'")
        if sess_options is not None and not isinstance(sess_options, SessionOptions):
            raise _core.InvalidTypeError(
                "sess_options must be a fastort.onnxruntime.SessionOptions, got "
                f"{type(sess_options).__name__}"
            )
        self._check_kwargs(kwargs)
        self._enable_fallback = bool(int(kwargs.get("enable_fallback", 1)))
        # A copy: changing the caller's options later does not change this session.
        self._sess_options = (sess_options or SessionOptions())._copy()
        self._create(providers, provider_options, self._enable_fallback)

    @staticmethod
    def _check_kwargs(kwargs: Mapping[str, Any]) -> None:
        # Other keyword arguments are ignored, as onnxruntime ignores them; that includes
        # read_config_from_model=1, under which onnxruntime 1.32 applies nothing of a model
        # given as bytes (and fails a path). ORT_LOAD_CONFIG_FROM_MODEL=1 is what applies.
        if kwargs.get("disabled_optimizers"):
            unsupported("InferenceSession(disabled_optimizers=...)")

    def _create(
        self,
        providers: Sequence[ProviderArg] | None,
        provider_options: Sequence[Mapping[Any, Any]] | None,
        fallback: bool,
    ) -> None:
        try:
            normalized = normalized_providers(providers, provider_options, fallback)
        except InvalidArgument as error:
            if not fallback:
                raise
            # onnxruntime's fallback: a session whose providers it cannot use is made on the
            # CPU instead (onnxruntime prints this; here it is a warning).
            warnings.warn(
                f"EP Error {error} when using {providers}; falling back to "
                "['CPUExecutionProvider'] and retrying.",
                stacklevel=3,
            )
            normalized = []
        providers_options = [(name, list(o.items())) for name, o in normalized]
        with onnxruntime_errors():
            model = self._load(self._sess_options._to_core(providers_options))
            if config_from_model():
                # ONNX Runtime itself applied the model's options: they are reported.
                self._sess_options = with_model_config(self._sess_options, model)
        self._model = model
        self._handle = _core.SessionHandle(model, False)
        self._run = self._handle.run  # the native run, looked up once
        self._inputs = list(model.inputs)
        self._outputs = list(model.outputs)
        self._overridable = list(model.overridable_initializers)
        self._feedable = {info.name: info for info in self._inputs + self._overridable}
        # Types the run cannot build a value of (sequences of maps, sparse tensors, ...).
        self._unfeedable = [
            f"'{info.name}': {info.type}" for info in self._inputs if not _FEEDABLE.match(info.type)
        ]
        self._output_types = {info.name: info.type for info in self._outputs}
        given = dict(normalized)
        self._providers = list(model.providers)
        # onnxruntime reports no options for the CPU provider, whatever it was given.
        self._provider_options = {
            name: {} if name == CPU else dict(given.get(name, {})) for name in self._providers
        }

    # ---- runs ---------------------------------------------------------------------------

    def run(
        self,
        output_names: Sequence[str] | None,
        input_feed: Mapping[str, Any],
        run_options: RunOptions | None = None,
    ) -> list[Any]:
        """Outputs in the order of `output_names` (None or []: all): numpy arrays, never
        copies (ONNX Runtime writes a small output of a fixed shape into an array of its own,
        others are views of its memory), lists for sequences, dicts for maps."""
        try:
            if run_options is None:
                results: list[Any] = self._run(output_names, input_feed)
                return results
            results = self._run(output_names, input_feed, fastort_run_options(run_options))
            return results
        except _core.FastortError as error:
            if self._unfeedable:
                unsupported(f"run with inputs of type {', '.join(self._unfeedable)}")
            if isinstance(error, ValueError) and output_names and _repeats(output_names):
                return self._run_repeated(output_names, input_feed, run_options)
            if isinstance(error, ValueError):
                self._check_missing(input_feed)
                if "returns a sparse tensor" in str(error):
                    unsupported("running a model with sparse tensor outputs")
            converted = self._as_arrays(input_feed) if isinstance(error, TypeError) else None
            if converted is None:
                raise translated(error) from None
        return self.run(output_names, converted, run_options)

    def _check_missing(self, input_feed: object) -> None:
        """onnxruntime's error, in its words, for a feed that leaves out required inputs."""
        if not isinstance(input_feed, Mapping):
            return
        fed = list(input_feed)
        missing = [
            info.name
            for info in self._inputs
            if info.name not in input_feed and not info.type.startswith("optional")
        ]
        if missing:
            raise InvalidArgument(
                f"Required inputs ({missing}) are missing from input feed ({fed})."
            )

    def _run_repeated(
        self,
        output_names: Sequence[str],
        input_feed: Mapping[str, Any],
        run_options: RunOptions | None,
    ) -> list[Any]:
        """onnxruntime returns an output named twice twice; fastort's run refuses the repeat,
        so each is run once and returned as often as it was named."""
        unique = list(dict.fromkeys(output_names))
        values = dict(zip(unique, self.run(unique, input_feed, run_options)))
        return [values[name] for name in output_names]

    def _as_arrays(self, input_feed: object) -> dict[str, Any] | None:
        """The feed with values that are not arrays (lists, numbers) converted to their input's
        type, as onnxruntime converts them; None when there is nothing to convert."""
        if not isinstance(input_feed, Mapping):
            return None
        converted = dict(input_feed)
        changed = False
        for name, value in input_feed.items():
            info = self._feedable.get(name)
            array_like = (
                isinstance(value, np.ndarray)
                or hasattr(value, "__array_interface__")
                or hasattr(value, "__dlpack__")
            )
            # None stays None: an optional input without a value.
            if info is None or info.dtype is None or array_like or value is None:
                continue
            try:
                converted[name] = np.asarray(value, dtype=info.dtype)
            except (TypeError, ValueError, OverflowError):  # the run's own error stands
                return None
            changed = True
        return converted if changed else None

    def run_with_ort_values(
        self,
        output_names: Sequence[str] | None,
        input_dict_ort_values: Mapping[str, OrtValue],
        run_options: RunOptions | None = None,
    ) -> list[OrtValue]:
        """`run` on OrtValues: the outputs as OrtValues holding the output arrays."""
        feed = {name: value._value for name, value in input_dict_ort_values.items()}
        results = self.run(output_names, feed, run_options)
        names = output_names or list(self._output_types)
        return [
            OrtValue(value, self._output_types.get(name)) for name, value in zip(names, results)
        ]

    def run_with_iobinding(
        self, iobinding: IOBinding, run_options: RunOptions | None = None
    ) -> None:
        """Runs on the binding's inputs, writing bound buffers in place; the outputs are then
        `iobinding.get_outputs()`."""
        if iobinding._handle is not self._handle:
            raise InvalidArgument("IOBinding must be used with the session that created it.")
        try:
            call = iobinding._call or iobinding._bound_run()
            if run_options is None:
                iobinding._results = call()
            else:
                iobinding._results = call(fastort_run_options(run_options))
        except _core.FastortError as error:
            raise translated(error) from None
        iobinding._result_names = iobinding._output_names

    def run_async(
        self,
        output_names: Sequence[str] | None,
        input_feed: Mapping[str, Any],
        callback: Callback,
        user_data: Any,
        run_options: RunOptions | None = None,
    ) -> None:
        """Starts the run on another thread and returns; `callback(results, user_data, err)`
        is then called on that thread with the outputs and "" or, when the run fails, with []
        and the error's message. Missing inputs raise here, as in onnxruntime."""
        missing = [info.name for info in self._inputs if info.name not in input_feed]
        if missing:
            raise InvalidArgument(
                f"Required inputs ({missing}) are missing from input feed ({list(input_feed)})."
            )
        feed = dict(input_feed)  # the caller may change its dict meanwhile
        names = None if output_names is None else list(output_names)
        _async_executor().submit(
            self._run_for_callback, names, feed, callback, user_data, run_options
        )

    def _run_for_callback(
        self,
        output_names: list[str] | None,
        feed: dict[str, Any],
        callback: Callback,
        user_data: Any,
        run_options: RunOptions | None,
    ) -> None:
        try:
            results, message = self.run(output_names, feed, run_options), ""
        except Exception as error:
            results, message = [], str(error)
        try:
            callback(results, user_data, message)
        except BaseException:
            # Reported like an exception escaping a thread: the executor would drop it.
            threading.excepthook(
                threading.ExceptHookArgs((*sys.exc_info(), threading.current_thread()))
            )

    # ---- the model and the session ---------------------------------------------------------

    def get_inputs(self) -> list[_core.ValueInfo]:
        return list(self._inputs)

    def get_outputs(self) -> list[_core.ValueInfo]:
        return list(self._outputs)

    def get_overridable_initializers(self) -> list[_core.ValueInfo]:
        """Initializers a run may replace by feeding a tensor of the same name."""
        return list(self._overridable)

    def get_modelmeta(self) -> _core.ModelMetadata:
        return self._model.metadata

    def get_providers(self) -> list[str]:
        return list(self._providers)

    def get_provider_options(self) -> dict[str, dict[str, str]]:
        return {name: dict(options) for name, options in self._provider_options.items()}

    def get_session_options(self) -> SessionOptions:
        """A copy of the options the session was made with."""
        return self._sess_options._copy()

    def set_providers(
        self,
        providers: Sequence[ProviderArg] | None = None,
        provider_options: Sequence[Mapping[Any, Any]] | None = None,
    ) -> None:
        """Makes the session again with these providers (a cached one when there is one). A
        name that is no provider at all is an error here, as in onnxruntime."""
        self._create(providers, provider_options, fallback=False)

    def disable_fallback(self) -> None:
        self._enable_fallback = False

    def enable_fallback(self) -> None:
        self._enable_fallback = True

    def end_profiling(self) -> str:
        """Ends profiling and returns the JSON trace's file name ('' without profiling)."""
        with onnxruntime_errors():
            return self._model.end_profiling()

    def get_profiling_start_time_ns(self) -> int:
        """When profiling started, in nanoseconds since the epoch (0 without profiling)."""
        with onnxruntime_errors():
            return self._model.profiling_start_ns

    def io_binding(self) -> IOBinding:
        return IOBinding(self)

    def create_ortvalue_from_shape_and_type(
        self,
        shape: Sequence[int],
        element_type: Any,
        device_type: str,
        device_id: int = 0,
        vendor_id: int = -1,
    ) -> OrtValue:
        return OrtValue.ortvalue_from_shape_and_type(
            shape, element_type, device_type, device_id, vendor_id
        )

    def get_input_memory_infos(self) -> list[OrtMemoryInfo]:
        """Where each input is expected: CPU memory, for every input."""
        return [cpu_memory_info() for _ in self._inputs]

    def get_output_memory_infos(self) -> list[OrtMemoryInfo]:
        """Where each output is made: CPU memory, for every output."""
        return [cpu_memory_info() for _ in self._outputs]

    def get_input_epdevices(self) -> list[None]:
        """The plug-in execution-provider device of each input: None (fastort registers no
        plug-in providers; onnxruntime too reports None where there is none)."""
        return [None for _ in self._inputs]

    def get_provider_graph_assignment_info(self) -> list[Any]:
        """Not supported; a session made without the config entry that asks for the record gets
        onnxruntime's error for that first."""
        entry = "session.record_ep_graph_assignment_info"
        try:
            enabled = self._sess_options.get_session_config_entry(entry) == "1"
        except RuntimeError:  # no such entry
            enabled = False
        if not enabled:
            raise Fail(
                f"Session configuration entry '{entry}' must be set to \"1\" to retrieve EP "
                "graph assignment information."
            )
        unsupported("InferenceSession.get_provider_graph_assignment_info()")

    set_ep_dynamic_options = unsupported_function("InferenceSession.set_ep_dynamic_options")
    get_tuning_results = unsupported_function("InferenceSession.get_tuning_results")
    set_tuning_results = unsupported_function("InferenceSession.set_tuning_results")

    def run_with_ortvaluevector(
        self,
        run_options: RunOptions | None,
        feed_names: Sequence[str],
        feeds: Sequence[OrtValue],
        fetch_names: Sequence[str],
        fetches: OrtValueVector,
        fetch_devices: object = None,
    ) -> None:
        """`run` on parallel lists of names and OrtValues; the outputs replace `fetches`'s
        items (devices are always the CPU)."""
        results = self.run_with_ort_values(
            fetch_names, dict(zip(feed_names, feeds, strict=True)), run_options
        )
        fetches[:] = results

    @property
    def _sess(self) -> _NativeSession:
        """onnxruntime's native session, for code that calls it directly."""
        return _NativeSession(self)

    release_captured_graph = unsupported_function("InferenceSession.release_captured_graph")

    def __repr__(self) -> str:
        inputs = ", ".join(info.name for info in self._inputs)
        outputs = ", ".join(info.name for info in self._outputs)
        return f"<fastort.onnxruntime.InferenceSession inputs=[{inputs}] outputs=[{outputs}]>"


class _NativeSession:
    """The methods of onnxruntime's native session (`InferenceSession._sess`) that code calls
    directly, over the public session: its argument orders, OrtValueVector results."""

    __slots__ = ("_session",)

    def __init__(self, session: InferenceSession) -> None:
        self._session = session

    def run(
        self,
        output_names: Sequence[str] | None,
        input_feed: Mapping[str, Any],
        run_options: RunOptions | None = None,
    ) -> list[Any]:
        return self._session.run(output_names, input_feed, run_options)

    def run_with_ort_values(
        self,
        input_dict_ort_values: Mapping[str, OrtValue],
        output_names: Sequence[str] | None,
        run_options: RunOptions | None = None,
    ) -> OrtValueVector:
        return OrtValueVector(
            self._session.run_with_ort_values(output_names, input_dict_ort_values, run_options)
        )
