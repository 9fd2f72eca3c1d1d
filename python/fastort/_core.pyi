"""
fastort native core (private; use the fastort package)
"""

from __future__ import annotations

import collections.abc
import typing

import numpy

__all__: list[str] = [
    "MAX_IMAGE_SIDE",
    "MAX_INPUT_SIDE",
    "MAX_THREADS",
    "BatchFuture",
    "BatcherBase",
    "BoundRun",
    "CompletionQueue",
    "DecodedImage",
    "ExecutionMode",
    "FastortError",
    "GraphOptimizationLevel",
    "ImageTransformSpec",
    "InvalidArgumentError",
    "InvalidModelError",
    "InvalidTypeError",
    "Model",
    "ModelMetadata",
    "PreparedCall",
    "QueueFullError",
    "RunOptionsBase",
    "RunTerminatedError",
    "RunTimeoutError",
    "RuntimeLoadError",
    "SessionHandle",
    "SessionOptions",
    "SessionSettings",
    "ValueInfo",
    "available_providers",
    "build_info",
    "cache_info",
    "check_threads",
    "clear_cache",
    "compiled_api_version",
    "cpu_budget",
    "debug_counters",
    "decode_images",
    "element_type_of",
    "graph_optimization_name",
    "hardware_threads",
    "jpeg_library",
    "load_runtime",
    "numpy_dtype",
    "onnx_type_name",
    "ort_version",
    "register_cpu_allocator",
    "runtime_library_path",
    "runtime_loaded",
    "set_cache_size",
    "set_log_callback",
    "set_log_severity",
    "set_telemetry",
    "transform_images",
]

class FastortError(RuntimeError):
    code: str | None
    ort_code: int | None

class InvalidModelError(FastortError): ...
class InvalidArgumentError(FastortError, ValueError): ...
class InvalidTypeError(FastortError, TypeError): ...
class RuntimeLoadError(FastortError, ImportError): ...
class RunTerminatedError(FastortError): ...
class RunTimeoutError(RunTerminatedError, TimeoutError): ...
class QueueFullError(FastortError): ...

class SessionSettings:
    """
    Validated settings of a session beyond fastort.Session's options
    (those of onnxruntime's SessionOptions).
    """
    def __init__(
        self,
        *,
        parallel_execution: bool = False,
        log_severity_level: typing.SupportsInt | typing.SupportsIndex = -1,
        log_verbosity_level: typing.SupportsInt | typing.SupportsIndex = 0,
        log_id: str = "",
        enable_profiling: bool = False,
        profile_file_prefix: bytes = b"onnxruntime_profile_",
        enable_mem_pattern: bool = True,
        enable_cpu_mem_arena: bool = True,
        deterministic_compute: bool = False,
        custom_ops_libraries: collections.abc.Sequence[bytes] = [],
        initializers: collections.abc.Sequence[
            tuple[str, numpy.ndarray[typing.Any, numpy.dtype[typing.Any]]]
        ] = [],
        free_dimensions_by_name: collections.abc.Sequence[
            tuple[str, typing.SupportsInt | typing.SupportsIndex]
        ] = [],
        free_dimensions_by_denotation: collections.abc.Sequence[
            tuple[str, typing.SupportsInt | typing.SupportsIndex]
        ] = [],
        external_initializers: collections.abc.Sequence[
            tuple[str, numpy.ndarray[typing.Any, numpy.dtype[typing.Any]]]
        ] = [],
        external_files: collections.abc.Sequence[tuple[bytes, bytes]] = [],
    ) -> None: ...
    def __reduce_ex__(self, protocol: typing.SupportsInt | typing.SupportsIndex) -> typing.Any: ...

class SessionOptions:
    """
    Validated options of a session.
    """
    def __init__(
        self,
        *,
        threads: typing.SupportsInt | typing.SupportsIndex = 0,
        inter_op_threads: typing.SupportsInt | typing.SupportsIndex = 0,
        optimization: str = "all",
        providers: collections.abc.Sequence[
            tuple[str, collections.abc.Sequence[tuple[str, str]]]
        ] = [],
        optimized_model_path: bytes = b"",
        session_config: collections.abc.Sequence[tuple[str, str]] = [],
        external_data_dir: bytes = b"",
        settings: SessionSettings = ...,
    ) -> None: ...
    def __reduce_ex__(self, protocol: typing.SupportsInt | typing.SupportsIndex) -> typing.Any: ...
    @property
    def external_data_dir(self) -> str: ...
    @property
    def threads(self) -> int: ...

class ValueInfo:
    """
    A model input or output, like onnxruntime's NodeArg: `name`, `shape` (an int per fixed dim,
    the symbolic name or None per dynamic dim), `type` (ONNX's spelling) and `dtype`
    (numpy's; an optional tensor's element dtype; None for sequences and maps).
    """
    def __eq__(self, other: typing.Any) -> bool: ...
    def __hash__(self) -> int: ...
    def __reduce_ex__(self, protocol: typing.SupportsInt | typing.SupportsIndex) -> typing.Any: ...
    def __repr__(self) -> str: ...
    @property
    def dtype(self) -> numpy.dtype[typing.Any] | None: ...
    @property
    def is_tensor(self) -> bool: ...
    @property
    def name(self) -> str: ...
    @property
    def shape(self) -> list[int | str | None]: ...
    @property
    def type(self) -> str: ...

class ModelMetadata:
    """
    The model's metadata, like onnxruntime's ModelMetadata.
    """
    def __reduce_ex__(self, protocol: typing.SupportsInt | typing.SupportsIndex) -> typing.Any: ...
    @property
    def custom_metadata_map(self) -> dict[str, str]: ...
    @property
    def description(self) -> str: ...
    @property
    def domain(self) -> str: ...
    @property
    def graph_description(self) -> str: ...
    @property
    def graph_name(self) -> str: ...
    @property
    def producer_name(self) -> str: ...
    @property
    def version(self) -> int: ...

class Model:
    @staticmethod
    def load_bytes(model: bytes, options: SessionOptions, cache: bool | None) -> Model: ...
    @staticmethod
    def load_file(path: bytes, options: SessionOptions, cache: bool | None) -> Model: ...
    def __reduce_ex__(self, protocol: typing.SupportsInt | typing.SupportsIndex) -> typing.Any: ...
    def end_profiling(self) -> str:
        """
        Ends profiling; the trace file's name, or '' when the session is not profiling.
        """
    @property
    def inputs(self) -> list[ValueInfo]: ...
    @property
    def metadata(self) -> ModelMetadata: ...
    @property
    def outputs(self) -> list[ValueInfo]: ...
    @property
    def overridable_initializers(self) -> list[ValueInfo]: ...
    @property
    def profiling_start_ns(self) -> int: ...
    @property
    def providers(self) -> list[str]: ...
    @property
    def threads(self) -> int:
        """
        Intra-op threads (0: ONNX Runtime's default).
        """

class RunOptionsBase:
    """
    Options of runs; see fastort.RunOptions.
    """
    def __init__(
        self,
        *,
        terminate: bool = False,
        log_severity_level: typing.SupportsInt | typing.SupportsIndex = -1,
        tag: str = "",
        timeout: typing.Any = None,
        config: collections.abc.Sequence[tuple[str, str]] = [],
    ) -> None: ...
    def __reduce_ex__(self, protocol: typing.SupportsInt | typing.SupportsIndex) -> typing.Any: ...
    @property
    def config(self) -> dict[str, typing.Any]: ...
    @property
    def log_severity_level(self) -> int: ...
    @property
    def tag(self) -> str: ...
    @property
    def terminate(self) -> bool:
        """
        Set to True (from any thread) to stop the runs using these options;
        runs started while it is True fail at once.
        """
    @terminate.setter
    def terminate(self, arg1: bool) -> None: ...
    @property
    def timeout(self) -> typing.Any: ...

class SessionHandle:
    """
    The native part of fastort.Session: a loaded Model and the object's own choices.
    """
    def __call__(self, **kwargs: typing.Any) -> dict[str, typing.Any]:
        """
        session(**inputs) -> {output name: value} for all outputs.
        """
    def __init__(self, model: Model, strict: bool) -> None: ...
    def __reduce_ex__(self, protocol: typing.SupportsInt | typing.SupportsIndex) -> typing.Any: ...
    def run(
        self,
        output_names: typing.Sequence[str] | None,
        input_feed: typing.Mapping[str, typing.Any],
        run_options: RunOptionsBase | None = None,
        *,
        out: typing.Mapping[str, numpy.ndarray[typing.Any, typing.Any]] | None = None,
    ) -> list[typing.Any]:
        """
        Run the model; returns outputs in the order of `output_names` (None or []: all outputs).

        `input_feed` maps every input name to an array (for sequence inputs a list of arrays, for
        maps a dict, for optionals None or an array). Inputs are checked before ONNX Runtime runs:
        a wrong name, dtype, rank or fixed dimension raises ValueError/TypeError naming the input.
        `out={name: array}` writes those outputs into your arrays (exact dtype and shape,
        C-contiguous, writable) and returns the same array objects, so a steady loop allocates no
        output memory. `run_options` (a fastort.RunOptions) sets ORT's run log level, tag and config
        entries, a timeout, and a terminate flag another thread may set. On the main thread, Ctrl-C
        and Python signal handlers stop a run that takes long: the handler's exception propagates.
        """
    @property
    def _model(self) -> Model: ...

class BoundRun:
    """
    A run's inputs, outputs and out arrays, viewed once for many runs.
    """
    def __init__(
        self,
        model: Model,
        strict: bool,
        output_names: typing.Any,
        input_feed: typing.Any,
        out: typing.Any,
    ) -> None: ...
    def __reduce_ex__(self, protocol: typing.SupportsInt | typing.SupportsIndex) -> typing.Any: ...
    def run(self, run_options: RunOptionsBase | None = None) -> list[typing.Any]:
        """
        Runs the model on the bound arrays, as
        SessionHandle.run(output_names, input_feed, run_options, out=out) would.
        """

class PreparedCall:
    """
    A run checked once over the caller's arrays (Session.prepare): run() reads them in place.
    """
    def __init__(
        self, model: Model, output_names: typing.Any, input_feed: typing.Any, out: typing.Any
    ) -> None: ...
    def __reduce_ex__(self, protocol: typing.SupportsInt | typing.SupportsIndex) -> typing.Any: ...
    def run(self, run_options: RunOptionsBase | None = None) -> list[typing.Any]:
        """
        Runs the model on what the prepared arrays hold now; returns the outputs in the order of
        `output_names` (the out arrays themselves for outputs given in `out`, new arrays for the
        others). Raises InvalidArgumentError, before anything runs, when an array was replaced in
        its dict, resized, reshaped or given other memory since prepare(). Calls without out arrays
        may overlap on several threads; with out arrays a second concurrent call raises
        FastortError.
        """
    @property
    def _model(self) -> Model: ...
    @property
    def output_names(self) -> list[typing.Any]:
        """
        The names of run()'s results, in order.
        """

class BatchFuture:
    """
    The result of Batcher.submit: like concurrent.futures.Future.
    """
    def __reduce_ex__(self, protocol: typing.SupportsIndex, /) -> typing.NoReturn:
        """
        Refuses: a future is of its process only.
        """
    def __repr__(self) -> str:
        """
        Return repr(self).
        """
    def add_done_callback(self, fn: typing.Callable[[BatchFuture], object]) -> None:
        """
        Calls fn(future) once the request is done (at once if it is), on the thread that
        completed it; an exception fn raises is reported as unraisable.
        """
    def cancel(self) -> bool:
        """
        Drops the request if it has not started to run; True if it was dropped.
        """
    def cancelled(self) -> bool:
        """
        True if the request was dropped before it ran.
        """
    def done(self) -> bool:
        """
        True once the request finished, failed or was cancelled.
        """
    def exception(self, timeout: typing.Any = None) -> BaseException | None:
        """
        The request's error, or None once it succeeded, waiting without the GIL; raises
        concurrent.futures.CancelledError or TimeoutError.
        """
    def result(self, timeout: typing.Any = None) -> list[typing.Any]:
        """
        The outputs (the list run() returns for these rows), waiting without the GIL;
        raises the request's error, concurrent.futures.CancelledError or TimeoutError.
        """
    def running(self) -> bool:
        """
        True while the request runs.
        """

class BatcherBase:
    """
    See fastort.Batcher.
    """
    def __init__(
        self,
        model: Model,
        *,
        max_batch_size: typing.SupportsInt | typing.SupportsIndex = 32,
        max_delay_ms: typing.SupportsFloat | typing.SupportsIndex = 2.0,
        max_queue: typing.SupportsInt | typing.SupportsIndex = 1024,
        workers: typing.SupportsInt | typing.SupportsIndex = 1,
    ) -> None: ...
    def __reduce_ex__(self, protocol: typing.SupportsInt | typing.SupportsIndex) -> typing.Any: ...
    def _stats(self) -> dict[str, typing.Any]: ...
    def _submit_or_run(self, feed: typing.Any, *, timeout: typing.Any = None) -> typing.Any:
        """
        submit(), but a request run at once on this thread returns its outputs (a list),
        or raises its run's error, instead of a future that is done already.
        """
    def close(self) -> None: ...
    def run(self, feed: typing.Any, *, timeout: typing.Any = None) -> list[typing.Any]:
        """
        submit(feed).result() in one call: the outputs of this request's rows. When the
        batcher is idle, or the model's runs are quick, the request runs at once on this
        thread, without a copy.
        """
    def submit(self, feed: typing.Any, *, timeout: typing.Any = None) -> BatchFuture:
        """
        Queues one request: `feed` maps every input name to its rows (first axis: rows).
        Returns a BatchFuture whose result() is the list run(None, feed) would return.
        With `timeout` (seconds), a request not started by then fails with
        RunTimeoutError.
        """
    @property
    def max_batch_size(self) -> int: ...
    @property
    def max_delay_ms(self) -> float: ...
    @property
    def max_queue(self) -> int: ...
    @property
    def workers(self) -> int: ...

class CompletionQueue:
    """
    Futures' completions for an event loop to read (add_reader(fd)).
    """
    def __init__(self) -> None: ...
    def __reduce_ex__(self, protocol: typing.SupportsInt | typing.SupportsIndex) -> typing.Any: ...
    def take(self) -> list[int]: ...
    def watch(self, future: typing.Any) -> int:
        """
        Pushes a key when `future` is done; returns the key.
        """
    @property
    def fd(self) -> int: ...

class DecodedImage:
    """
    Pixels decoded for one transform (possibly only the window it
    reads); transform_images takes it like an image.
    """
    def __reduce_ex__(self, protocol: typing.SupportsInt | typing.SupportsIndex) -> typing.Any: ...
    @property
    def shape(self) -> tuple[int, int, int]: ...
    @property
    def window(self) -> tuple[int, int, int, int]: ...

class ExecutionMode:
    """
    Nodes one after another, or independent branches at once on the inter-op threads.

    Members:

      ORT_SEQUENTIAL

      ORT_PARALLEL
    """

    ORT_PARALLEL: typing.ClassVar[ExecutionMode]
    ORT_SEQUENTIAL: typing.ClassVar[ExecutionMode]
    __members__: typing.ClassVar[dict[str, ExecutionMode]]
    @typing.overload
    def __eq__(self, other: ExecutionMode) -> bool: ...
    @typing.overload
    def __eq__(self, other: typing.SupportsInt | typing.SupportsIndex) -> bool: ...
    @typing.overload
    def __eq__(self, other: typing.Any) -> bool: ...
    def __getstate__(self) -> int: ...
    def __hash__(self) -> int: ...
    def __index__(self) -> int: ...
    def __init__(self, value: typing.SupportsInt | typing.SupportsIndex) -> None: ...
    def __int__(self) -> int: ...
    @typing.overload
    def __ne__(self, other: ExecutionMode) -> bool: ...
    @typing.overload
    def __ne__(self, other: typing.SupportsInt | typing.SupportsIndex) -> bool: ...
    @typing.overload
    def __ne__(self, other: typing.Any) -> bool: ...
    def __reduce_ex__(self, protocol: typing.SupportsInt | typing.SupportsIndex) -> typing.Any: ...
    def __repr__(self) -> str: ...
    def __setstate__(self, state: typing.SupportsInt | typing.SupportsIndex) -> None: ...
    def __str__(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def value(self) -> int: ...

class GraphOptimizationLevel:
    """
    ONNX Runtime's graph optimisation levels (onnxruntime's names).

    Members:

      ORT_DISABLE_ALL

      ORT_ENABLE_BASIC

      ORT_ENABLE_EXTENDED

      ORT_ENABLE_LAYOUT

      ORT_ENABLE_ALL
    """

    ORT_DISABLE_ALL: typing.ClassVar[GraphOptimizationLevel]
    ORT_ENABLE_ALL: typing.ClassVar[GraphOptimizationLevel]
    ORT_ENABLE_BASIC: typing.ClassVar[GraphOptimizationLevel]
    ORT_ENABLE_EXTENDED: typing.ClassVar[GraphOptimizationLevel]
    ORT_ENABLE_LAYOUT: typing.ClassVar[GraphOptimizationLevel]
    __members__: typing.ClassVar[dict[str, GraphOptimizationLevel]]
    @typing.overload
    def __eq__(self, other: GraphOptimizationLevel) -> bool: ...
    @typing.overload
    def __eq__(self, other: typing.SupportsInt | typing.SupportsIndex) -> bool: ...
    @typing.overload
    def __eq__(self, other: typing.Any) -> bool: ...
    def __getstate__(self) -> int: ...
    def __hash__(self) -> int: ...
    def __index__(self) -> int: ...
    def __init__(self, value: typing.SupportsInt | typing.SupportsIndex) -> None: ...
    def __int__(self) -> int: ...
    @typing.overload
    def __ne__(self, other: GraphOptimizationLevel) -> bool: ...
    @typing.overload
    def __ne__(self, other: typing.SupportsInt | typing.SupportsIndex) -> bool: ...
    @typing.overload
    def __ne__(self, other: typing.Any) -> bool: ...
    def __reduce_ex__(self, protocol: typing.SupportsInt | typing.SupportsIndex) -> typing.Any: ...
    def __repr__(self) -> str: ...
    def __setstate__(self, state: typing.SupportsInt | typing.SupportsIndex) -> None: ...
    def __str__(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def value(self) -> int: ...

class ImageTransformSpec:
    """
    What an image transform does, checked once by the core:
    immutable, equal and hashed by value, picklable.
    """
    def __copy__(self) -> ImageTransformSpec: ...
    def __deepcopy__(self, memo: typing.Any) -> ImageTransformSpec: ...
    def __eq__(self, other: typing.Any) -> bool: ...
    def __hash__(self) -> int: ...
    def __init__(
        self,
        *,
        resize: int | tuple[int, int] | None = 256,
        crop: int | tuple[int, int] | None = (224, 224),
        mean: collections.abc.Iterable[float] = (0.485, 0.456, 0.406),
        std: collections.abc.Iterable[float] = (0.229, 0.224, 0.225),
        interpolation: str = "bilinear",
        antialias: bool = True,
        layout: str = "NCHW",
        channel_order: str = "RGB",
        threads: int = 0,
        dtype: str = "float32",
        pass_order: str = "pillow13",
    ) -> None: ...
    def __reduce_ex__(
        self, protocol: typing.SupportsInt | typing.SupportsIndex
    ) -> tuple[typing.Any, tuple[()]]: ...
    def __repr__(self) -> str: ...
    def output_shape(
        self,
        count: typing.SupportsInt | typing.SupportsIndex,
        height: typing.SupportsInt | typing.SupportsIndex,
        width: typing.SupportsInt | typing.SupportsIndex,
    ) -> tuple[int, int, int, int]:
        """
        The output's shape for `count` images of height x width.
        """
    @property
    def antialias(self) -> bool: ...
    @property
    def channel_order(self) -> str: ...
    @property
    def crop(self) -> tuple[int, int] | None: ...
    @property
    def dtype(self) -> str: ...
    @property
    def interpolation(self) -> str: ...
    @property
    def layout(self) -> str: ...
    @property
    def mean(self) -> tuple[float, float, float]: ...
    @property
    def pass_order(self) -> str: ...
    @property
    def resize(self) -> int | tuple[int, int] | None: ...
    @property
    def std(self) -> tuple[float, float, float]: ...
    @property
    def threads(self) -> int: ...
    ...
    ...

def _refuse_second_init(object: typing.Any) -> None: ...
def available_providers() -> list[str]: ...
def build_info() -> str:
    """
    ONNX Runtime's description of its build.
    """

def cache_info() -> tuple[int, int, int, int]: ...
def check_threads(option: str, value: int) -> None: ...
def clear_cache() -> None: ...
def compiled_api_version() -> int:
    """
    ORT C API version fastort was compiled against.
    """

def cpu_budget() -> dict[str, typing.Any]:
    """
    The CPUs this process may use, and the thread counts 'auto' gives.
    """

def debug_counters() -> dict[str, typing.Any]: ...
def decode_images(
    sources: list[typing.Any],
    indexes: list[typing.Any],
    threads: typing.SupportsInt | typing.SupportsIndex,
    draft: tuple[int, int] | None = None,
    max_pixels: typing.SupportsInt | typing.SupportsIndex = 89478485,
    rgb: bool = False,
    spec: ImageTransformSpec | None = None,
    fallback: bool = False,
) -> list[typing.Any]:
    """
    Decodes encoded images (bytes-like or paths) on up to `threads` threads: one uint8
    array per source, or None where Pillow must decode it (not a JPEG, or a JPEG of a
    colour space decoded only by Pillow; with `fallback`, also a JPEG whose data ends
    before the decoder is done with it). With `spec`, JPEGs come back as DecodedImage
    holding only what that transform reads. Errors name indexes[i].
    """

def element_type_of(dtype: numpy.dtype[typing.Any]) -> int:
    """
    ONNX's element type (TensorProto.DataType) of a numpy dtype.
    """

def graph_optimization_name(level: GraphOptimizationLevel) -> str:
    """
    'disable' | 'basic' | 'extended' | 'layout' | 'all' for a GraphOptimizationLevel.
    """

def hardware_threads() -> int: ...
def jpeg_library() -> dict[str, str]:
    """
    The linked libjpeg-turbo: its version and the SIMD kernels its decoder uses here.
    """

def load_runtime(library_path: str) -> None:
    """
    Load libonnxruntime from a path (once per process).
    """

def numpy_dtype(element_type: typing.SupportsInt | typing.SupportsIndex) -> numpy.dtype[typing.Any]:
    """
    The numpy dtype fastort uses for an ONNX element type (outputs have it).
    """

def onnx_type_name(element_type: typing.SupportsInt | typing.SupportsIndex) -> str:
    """
    ONNX's name of an element type: 1 -> 'float'.
    """

def ort_version() -> str:
    """
    Version of the ONNX Runtime library (loaded by this call if need be).
    """

def register_cpu_allocator(
    arena: bool,
    settings: collections.abc.Sequence[tuple[str, typing.SupportsInt | typing.SupportsIndex]],
) -> None:
    """
    A CPU allocator in ONNX Runtime's environment, shared by sessions whose config has
    session.use_env_allocators=1: an arena (settings: OrtArenaCfg keys and values) or not.
    """

def runtime_library_path() -> str: ...
def runtime_loaded() -> bool: ...
def set_cache_size(maxsize: typing.SupportsInt | typing.SupportsIndex) -> None: ...
def set_log_callback(callback: typing.Any) -> None:
    """
    callback(severity, category, logid, code_location, message) receives ONNX Runtime's
    log records instead of Python's logging, after each load or run; None: logging again.
    """

def set_log_severity(severity: typing.SupportsInt | typing.SupportsIndex) -> None:
    """
    The least severe ONNX Runtime log records kept, process-wide: 0 (verbose) to 4.
    """

def set_telemetry(enabled: bool) -> None:
    """
    ONNX Runtime's telemetry events (only its Windows builds send any).
    """

def transform_images(
    images: list[typing.Any],
    spec: ImageTransformSpec,
    out: numpy.ndarray[typing.Any, numpy.dtype[typing.Any]] | None = None,
) -> numpy.ndarray[typing.Any, numpy.dtype[typing.Any]]:
    """
    Transforms `images` (uint8 arrays) into one batch: `out`, or a new array.
    """

MAX_IMAGE_SIDE: int = 65536
MAX_INPUT_SIDE: int = 262144
MAX_THREADS: int = 1024
