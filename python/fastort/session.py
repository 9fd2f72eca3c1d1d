"""`Session`: ONNX Runtime inference with zero-copy numpy inputs and outputs.

The surface follows `onnxruntime.InferenceSession` so code ports by changing one import.

When data is copied:
  * Inputs: never for a C-contiguous, aligned, native-endian array of the model's exact
    element type (also torch CPU tensors and other `__dlpack__`/`__array_interface__`
    objects). A strided or misaligned array is copied once into a dense buffer
    (`strict=True` raises instead). String tensors are always copied.
  * Outputs: never. Returned arrays view ONNX Runtime's memory and keep it, and the
    session, alive through their `base`; with `out=` results are written into your arrays.
"""

from __future__ import annotations

import numbers
import os
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Union

import numpy as np

from . import _core
from ._metadata import (
    check_fits,
    check_label_count,
    classes_per_row,
    label_list,
    stored_metadata,
)
from .image import ImageTransform

ModelSource = Union[str, "os.PathLike[str]", "os.PathLike[bytes]", bytes, bytearray, memoryview]
ProviderArg = Union[str, tuple[str, Mapping[str, Any]]]

_OPTIMIZATION_LEVELS = ("disable", "basic", "extended", "all")


@dataclass(frozen=True)
class ValueInfo:
    """A model input or output, like onnxruntime's NodeArg.

    `shape` has an int per fixed dim, the symbolic name (str) or None per dynamic dim.
    `dtype` is the numpy dtype of a tensor's elements (None for sequences and maps).
    """

    name: str
    shape: list[int | str | None]
    type: str
    dtype: np.dtype[Any] | None

    @property
    def is_tensor(self) -> bool:
        return self.type.startswith("tensor(")


@dataclass(frozen=True)
class ModelMetadata:
    """The model's metadata, like onnxruntime's ModelMetadata."""

    producer_name: str
    graph_name: str
    domain: str
    description: str
    graph_description: str
    version: int
    custom_metadata_map: dict[str, str] = field(default_factory=dict)


def _thread_count(name: str, value: int | None) -> int:
    # None and 0 both mean ONNX Runtime's default; the range is the core's one rule.
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise _core.InvalidTypeError(f"{name} must be an int or None, got {type(value).__name__}")
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


def _load_bytes(data: bytes, options: _core.SessionOptions, identity: str) -> Any:
    try:
        return _core.Session.load_bytes(data, options, identity)
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


class Session(_core.SessionBase):
    """An ONNX model loaded into ONNX Runtime.

    Args:
        model: path (str, or os.PathLike returning str or bytes) of an .onnx file, or the
            model's bytes.
        threads: intra-op threads (None: ONNX Runtime's default, one per physical core).
        inter_op_threads: inter-op threads (None: ONNX Runtime's default).
        optimization: graph optimisation level, "disable" | "basic" | "extended" | "all".
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
    at once; the GIL is released while ONNX Runtime runs.
    """

    def __init__(
        self,
        model: ModelSource,
        *,
        threads: int | None = None,
        inter_op_threads: int | None = None,
        optimization: str = "all",
        providers: Sequence[ProviderArg] | None = None,
        optimized_model_path: str | os.PathLike[str] | None = None,
        session_config: Mapping[str, Any] | None = None,
        external_data_dir: str | os.PathLike[str] | None = None,
        cache: bool | None = None,
        strict: bool = False,
    ) -> None:
        options = _core.SessionOptions(
            threads=_thread_count("threads", threads),
            inter_op_threads=_thread_count("inter_op_threads", inter_op_threads),
            optimization=_optimization(optimization),
            providers=_providers(providers),
            optimized_model_path=_file_name("optimized_model_path", optimized_model_path),
            session_config=_config(session_config),
            external_data_dir=_file_name("external_data_dir", external_data_dir),
        )
        if isinstance(model, (bytes, bytearray, memoryview)):
            data = bytes(model)
            identity = _digest(data) if cache else ""
            impl = _load_bytes(data, options, identity)
        elif isinstance(model, (str, os.PathLike)):
            impl = _core.Session.load_file(os.fsencode(model), options, cache is not False)
        else:
            raise _core.InvalidTypeError(
                f"model must be a path or the model's bytes, got {type(model).__name__}"
            )
        super().__init__(impl, bool(strict))

    @property
    def _inputs(self) -> list[ValueInfo]:
        return _signature(self._impl)[0]

    @property
    def _outputs(self) -> list[ValueInfo]:
        return _signature(self._impl)[1]

    @property
    def inputs(self) -> list[ValueInfo]:
        return list(self._inputs)

    @property
    def outputs(self) -> list[ValueInfo]:
        return list(self._outputs)

    def get_inputs(self) -> list[ValueInfo]:
        return self.inputs

    def get_outputs(self) -> list[ValueInfo]:
        return self.outputs

    def get_modelmeta(self) -> ModelMetadata:
        return ModelMetadata(**self._impl.metadata)

    def get_providers(self) -> list[str]:
        return list(self._impl.providers)

    @property
    def transform(self) -> ImageTransform | None:
        """The preprocessing stored in the model by `fastort.export(transform=...)`, if any.

        Parsed once per loaded model. Malformed metadata raises `fastort.InvalidModelError`.
        """
        return stored_metadata(self).get_transform()

    @property
    def labels(self) -> list[str] | None:
        """The class names stored in the model by `fastort.export(labels=...)`, if any.

        Parsed once per loaded model. Malformed metadata raises `fastort.InvalidModelError`.
        """
        labels = stored_metadata(self).get_labels()
        return None if labels is None else list(labels)

    def classify(
        self,
        images: Any,
        top_k: int = 5,
        *,
        transform: ImageTransform | None = None,
        labels: Sequence[str] | None = None,
        fast_decode: bool = False,
    ) -> list[list[tuple[int, str | None, float]]]:
        """Top-k classes per image: [(class index, label or None, probability), ...].

        Images go through `transform` (default: the one stored in the model) into the first
        input; probabilities are the softmax of the first output's logits. `labels` (default:
        the ones stored in the model) must name every class. `fast_decode` is passed to the
        transform (see `ImageTransform.__call__`).
        """
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
            raise _core.InvalidArgumentError(f"top_k must be a positive int, got {top_k!r}")
        stored = stored_metadata(self)
        from_model = transform is None
        if transform is None:
            transform = stored.get_transform()
            if transform is None:
                raise _core.InvalidArgumentError(
                    "the model stores no image transform; pass transform=ImageTransform(...)"
                )
        elif not isinstance(transform, ImageTransform):
            raise _core.InvalidTypeError(
                f"transform must be a fastort.ImageTransform, got {type(transform).__name__}"
            )
        names = stored.get_labels() if labels is None else label_list(labels)
        first_in, first_out = self._inputs[0], self._outputs[0]
        check_fits(transform, first_in, from_model)
        check_label_count(names, classes_per_row(first_out.shape), first_out.name, labels is None)
        batch = transform(images, fast_decode=fast_decode)
        logits = np.asarray(self.run([first_out.name], {first_in.name: batch})[0])
        logits = logits.reshape(logits.shape[0], -1).astype(np.float64)
        check_label_count(names, logits.shape[1], first_out.name, labels is None)
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        probabilities = shifted / shifted.sum(axis=1, keepdims=True)
        results = []
        for row in probabilities:
            top = np.argsort(-row, kind="stable")[:top_k]
            results.append([(int(i), names[i] if names else None, float(row[i])) for i in top])
        return results

    def __repr__(self) -> str:
        inputs = ", ".join(i.name for i in self._inputs)
        outputs = ", ".join(o.name for o in self._outputs)
        return f"<fastort.Session inputs=[{inputs}] outputs=[{outputs}]>"


# Built once per loaded model, not per Session object: a cached Session(path) stays a lookup.
_signatures: weakref.WeakKeyDictionary[Any, tuple[list[ValueInfo], list[ValueInfo]]] = (
    weakref.WeakKeyDictionary()
)


def _signature(impl: Any) -> tuple[list[ValueInfo], list[ValueInfo]]:
    found = _signatures.get(impl)
    if found is None:
        found = ([ValueInfo(**i) for i in impl.inputs], [ValueInfo(**o) for o in impl.outputs])
        _signatures[impl] = found
    return found


def _digest(data: bytes) -> str:
    import hashlib  # here, not at module level: it costs milliseconds at `import fastort`

    return hashlib.sha256(data).hexdigest()
