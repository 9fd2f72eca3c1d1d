"""`Session`: ONNX Runtime inference with zero-copy numpy inputs and outputs.

The surface follows `onnxruntime.InferenceSession` so code ports by changing one import.

When data is copied:
  * Inputs: never for a C-contiguous, aligned, native-endian array of the model's exact
    element type (also torch CPU tensors and other `__dlpack__`/`__array_interface__`
    objects). A strided or misaligned array is copied once into a dense buffer
    (`strict=True` raises instead). String tensors are always copied.
  * Outputs: never. An output of a fixed declared shape up to 64 KiB (or, in runs under
    about 5 us, of a dynamic one whose shape an earlier run of the same input shapes showed)
    is written by ONNX Runtime into an array of its own, which the session keeps and writes
    again once nothing else references it; other returned arrays view ONNX Runtime's memory
    and keep it, and the session, alive through their `base`; with `out=` results are
    written into your arrays.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, Union

from . import _core

if TYPE_CHECKING:
    from .image import ImageTransform

__all__ = ["ModelMetadata", "ModelSource", "PreparedCall", "ProviderArg", "Session", "ValueInfo"]

ModelSource = Union[str, os.PathLike[str], os.PathLike[bytes], bytes, bytearray, memoryview]
ProviderArg = Union[str, tuple[str, Mapping[str, Any]]]

_OPTIMIZATION_LEVELS = ("disable", "basic", "extended", "layout", "all")


# A model input or output, and the model's metadata: values made by the core.
ValueInfo = _core.ValueInfo
ModelMetadata = _core.ModelMetadata
# A run checked once over the caller's arrays: what Session.prepare returns.
PreparedCall = _core.PreparedCall


def _auto_threads() -> int:
    # Read once per process, as the core's hardware_threads() is: the CPU budget is a property
    # of how the process was started, and reading it opens files in /proc and /sys, which a
    # cached Session() must not pay every time.
    global _AUTO_THREADS
    if _AUTO_THREADS is None:
        _AUTO_THREADS = int(_core.cpu_budget()["session_threads"])
    return _AUTO_THREADS


_AUTO_THREADS: int | None = None


def _thread_count(name: str, value: int | Literal["auto"] | None) -> int:
    # None and 0 both mean ONNX Runtime's default; the range is the core's one rule.
    if value is None:
        return 0
    if value == "auto" and name == "threads":
        return _auto_threads()
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        allowed = 'an int, "auto" or None' if name == "threads" else "an int or None"
        raise _core.InvalidTypeError(f"{name} must be {allowed}, got {value!r}")
    _core.check_threads(name, int(value))
    return int(value)


def _providers(providers: Sequence[ProviderArg] | None) -> list[tuple[str, list[tuple[str, str]]]]:
    if providers is None:
        return []
    if isinstance(providers, (str, bytes)) or not isinstance(providers, Iterable):
        raise _core.InvalidTypeError(
            "providers must be a list of provider names or (name, options) pairs"
        )
    result: list[tuple[str, list[tuple[str, str]]]] = []
    for provider in providers:
        if isinstance(provider, str):
            result.append((provider, []))
        elif (
            isinstance(provider, tuple)
            and len(provider) == 2
            and isinstance(provider[0], str)
            and isinstance(provider[1], Mapping)
        ):
            result.append((provider[0], [(str(k), str(v)) for k, v in provider[1].items()]))
        else:
            raise _core.InvalidTypeError(
                f"provider must be a name or a (name, options dict) pair, got {provider!r}"
            )
    return result


def _config(session_config: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    if session_config is None:
        return []
    if not isinstance(session_config, Mapping):
        raise _core.InvalidTypeError("session_config must be a dict of str -> str")
    return [(str(key), str(value)) for key, value in session_config.items()]


def _file_name(name: str, path: str | os.PathLike[str] | None) -> bytes:
    # As bytes, like open() takes them: any name the file system allows gets through.
    if path is None:
        return b""
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise _core.InvalidTypeError(f"{name} must be a path, got {type(path).__name__}")
    return os.fsencode(path)


def _load_bytes(data: bytes, options: _core.SessionOptions, cache: bool | None) -> Any:
    try:
        return _core.Model.load_bytes(data, options, cache)
    except _core.InvalidModelError as error:
        # Bytes are the model itself (as in onnxruntime); a file name passed as bytes is not.
        if len(data) < 4096 and b"\0" not in data and os.path.isfile(data):
            raise _core.InvalidModelError(
                f"{error}; bytes are read as the model itself: to load the file, pass its "
                f"path as str or os.PathLike, e.g. os.fsdecode(path)"
            ) from error
        raise


def _optimization(level: str) -> str:
    if not isinstance(level, str):
        raise _core.InvalidTypeError(
            f"optimization must be one of {_OPTIMIZATION_LEVELS}, got {level!r}"
        )
    return level


class Session(_core.SessionHandle):
    """An ONNX model loaded into ONNX Runtime.

    Args:
        model: path (str, or os.PathLike returning str or bytes) of an .onnx file, or the
            model's bytes.
        threads: intra-op threads. "auto" (the default): one per physical core this process
            may use, as its CPU affinity mask, its container's CPU quota and OMP_NUM_THREADS
            allow (ONNX Runtime's own default counts every core of the machine and
            oversubscribes a container or a pinned worker); None: ONNX Runtime's default.
        inter_op_threads: inter-op threads (None: ONNX Runtime's default).
        optimization: graph optimisation level, "disable" | "basic" | "extended" | "layout"
            (ONNX Runtime >= 1.23) | "all".
        providers: execution providers in priority order, names or (name, options) pairs;
            None means CPU only.
        optimized_model_path: where ONNX Runtime writes the optimised model.
        session_config: raw ONNX Runtime session config entries {key: value}.
        external_data_dir: the folder tensors stored as external data are read from (default:
            the model file's folder). A model given as bytes may reference external data only
            when this is set; otherwise it could read any file of the working directory.
        cache: None (default) caches path models, not bytes; True caches both (bytes keyed by
            their SHA-256); False loads a private session. Cached sessions are shared: a
            second Session of the same file and options costs a lookup. A file changed on
            disk is reloaded.
        strict: raise instead of copying a strided or misaligned input.

    `run(output_names, input_feed, run_options=None, *, out=None)` and `session(**inputs)`
    are implemented natively (see their docstrings). `run` is safe to call from many threads
    at once; the GIL is released while ONNX Runtime runs, except for runs measured to take a
    few microseconds, for which handing it over would cost more than the run.
    """

    def __init__(
        self,
        model: ModelSource,
        *,
        threads: int | Literal["auto"] | None = "auto",
        inter_op_threads: int | None = None,
        optimization: str = "all",
        providers: Sequence[ProviderArg] | None = None,
        optimized_model_path: str | os.PathLike[str] | None = None,
        session_config: Mapping[str, Any] | None = None,
        external_data_dir: str | os.PathLike[str] | None = None,
        cache: bool | None = None,
        strict: bool = False,
    ) -> None:
        _core._refuse_second_init(self)
        options = _core.SessionOptions(
            threads=_thread_count("threads", threads),
            inter_op_threads=_thread_count("inter_op_threads", inter_op_threads),
            optimization=_optimization(optimization),
            providers=_providers(providers),
            optimized_model_path=_file_name("optimized_model_path", optimized_model_path),
            session_config=_config(session_config),
            external_data_dir=_file_name("external_data_dir", external_data_dir),
        )
        if cache is not None and not isinstance(cache, bool):
            raise _core.InvalidTypeError(f"cache must be None, True or False, got {cache!r}")
        if isinstance(model, (bytes, bytearray, memoryview)):
            loaded = _load_bytes(bytes(model), options, cache)
        elif isinstance(model, (str, os.PathLike)):
            loaded = _core.Model.load_file(os.fsencode(model), options, cache)
        else:
            raise _core.InvalidTypeError(
                f"model must be a path or the model's bytes, got {type(model).__name__}"
            )
        super().__init__(loaded, bool(strict))

    @property
    def inputs(self) -> list[ValueInfo]:
        return self._model.inputs

    @property
    def outputs(self) -> list[ValueInfo]:
        return self._model.outputs

    def get_inputs(self) -> list[ValueInfo]:
        return self.inputs

    def get_outputs(self) -> list[ValueInfo]:
        return self.outputs

    def get_modelmeta(self) -> ModelMetadata:
        return self._model.metadata

    def get_providers(self) -> list[str]:
        return list(self._model.providers)

    @property
    def threads(self) -> int:
        """Intra-op threads of this session (0: ONNX Runtime's default)."""
        return int(self._model.threads)

    def prepare(
        self,
        input_feed: dict[str, Any],
        out: dict[str, Any] | None = None,
        *,
        output_names: Sequence[str] | None = None,
    ) -> PreparedCall:
        """A call of the model over these arrays, checked once: `call.run()` runs on what
        they hold at that moment and returns the outputs, like `run(output_names,
        input_feed, out=out)` but without checking or wrapping anything again.

        Every value must be a C-contiguous, aligned numpy array of the input's exact type
        (nothing is copied, ever: string tensors and strided arrays are refused). Write new
        data into the arrays between runs (`x[...] = batch`); replacing an array in either
        dict, or resizing or reshaping one, makes the next `run()` raise
        InvalidArgumentError: prepare a new call then. The call keeps the dicts and arrays
        alive. Calls without `out` may run on several threads at once; a call with `out`
        refuses a second concurrent `run()` (FastortError): prepare one per thread.
        """
        return PreparedCall(self._model, output_names, input_feed, out)

    def warmup(self, batch_sizes: Iterable[int] = (1, 8)) -> None:
        """Runs the model once at each batch size, on zeros, so that the first real requests
        do not pay ONNX Runtime's first-run allocations. Every input needs a dynamic first
        axis (or a fixed one equal to the size); other dynamic axes become 1."""
        from .serving import warmup

        warmup(self, batch_sizes)

    async def run_async(
        self,
        output_names: Sequence[str] | None,
        input_feed: Mapping[str, Any],
        run_options: Any = None,
    ) -> list[Any]:
        """`run` for asyncio: the run happens on a worker thread and the event loop is never
        blocked. Cancelling the awaiting task terminates the run (RunTerminatedError inside)."""
        from .serving import run_session_async

        return await run_session_async(self, output_names, input_feed, run_options)

    # Image classification lives in fastort.classify; these are its shortcuts.
    @property
    def transform(self) -> ImageTransform | None:
        """The preprocessing stored in the model by `fastort.export`, if any."""
        from .classify import stored_transform

        return stored_transform(self)

    @property
    def labels(self) -> list[str] | None:
        """The class names stored in the model by `fastort.export`, if any."""
        from .classify import stored_labels

        return stored_labels(self)

    def classify(
        self,
        images: Any,
        top_k: int = 5,
        *,
        transform: ImageTransform | None = None,
        labels: Sequence[str] | None = None,
        fast_decode: bool = False,
    ) -> list[list[tuple[int, str | None, float]]]:
        """Top-k classes per image; see `fastort.classify.classify`."""
        from .classify import classify

        return classify(
            self, images, top_k, transform=transform, labels=labels, fast_decode=fast_decode
        )

    def __repr__(self) -> str:
        inputs = ", ".join(i.name for i in self.inputs)
        outputs = ", ".join(o.name for o in self.outputs)
        threads = self.threads or "default"
        return f"<fastort.Session inputs=[{inputs}] outputs=[{outputs}] threads={threads}>"
