"""Ray Data: callable classes for `Dataset.map_batches`, and the classification pipeline in
one call."""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Sequence
from typing import Any, Literal, Union

import numpy as np

from .._core import InvalidArgumentError
from ..classify import stored_transform, top_classes
from ..image import ImageTransform
from ..session import Session

__all__ = ["Classifier", "Predictor", "actor_threads", "assigned_cpus", "classify"]

# A session's threads: a count, "auto", or None for the CPUs Ray assigned to the worker.
Threads = Union[int, Literal["auto"], None]


def assigned_cpus() -> int | None:
    """The CPUs Ray assigned to this worker (an actor's `num_cpus`), at least 1; None outside
    a Ray worker. ONNX Runtime ignores OMP_NUM_THREADS, which Ray sets, so a session must be
    told."""
    import ray

    if not ray.is_initialized():
        return None
    try:
        resources = ray.get_runtime_context().get_assigned_resources()  # type: ignore[no-untyped-call]
        cpus = resources.get("CPU")
    except Exception:  # the driver, or a runtime context without resources
        return None
    return None if not cpus else max(1, int(cpus))


def _session(model: Any, threads: Threads) -> Session:
    if threads is None:
        threads = assigned_cpus() or "auto"
    return Session(model, threads=threads)


def _images(batch: dict[str, Any]) -> list[Any]:
    """The batch's images: encoded bytes (column "bytes", as `read_binary_files` gives) or
    H x W x 3 uint8 pixels (column "image", as `read_images` gives)."""
    if "bytes" in batch:
        return [
            bytes(item) if isinstance(item, (bytearray, memoryview)) else item
            for item in batch["bytes"]
        ]
    if "image" in batch:
        return list(batch["image"])
    raise InvalidArgumentError(
        'a batch to classify needs a "bytes" column (read_binary_files) or an "image" column '
        f"(read_images), got columns {sorted(batch)}"
    )


class Classifier:
    """A callable class for `Dataset.map_batches`: one session per actor, loaded once.

    Takes batches with a "bytes" column (JPEGs decoded natively and in parallel, exactly as
    Pillow decodes them; other formats by Pillow) or an "image" column of H x W x 3 uint8
    pixels, and returns "index" (int64 [B, k]), "probability" (float32 [B, k]) and "label"
    ([B, k] strings; None in each row where the model has no labels), with "path" passed
    through.
    `transform` and `labels` default to those `fastort.export` stored in the model;
    `threads` (the session's, and the stored transform's for decoding and resizing) to the
    CPUs Ray assigned to the actor. Results equal `Session.classify`'s.
    """

    def __init__(
        self,
        model: Any,
        *,
        top_k: int = 5,
        transform: ImageTransform | None = None,
        labels: Sequence[str] | None = None,
        threads: Threads = None,
    ) -> None:
        self._session = _session(model, threads)
        self._top_k = top_k
        self._labels = labels
        # Checked once here, not per batch: a wrong top_k, transform or label list fails when
        # the actor starts.
        top_classes(
            self._session,
            np.zeros((1, 1, 3), np.uint8),
            top_k,
            transform=transform,
            labels=labels,
        )
        if transform is None:  # the stored one, decoding on as many threads as the session
            stored = stored_transform(self._session)
            if stored is not None:  # 0 threads: ONNX Runtime's default, and the transform's
                transform = stored.replace(threads=self._session.threads)
        self._transform = transform

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        top, probabilities, names = top_classes(
            self._session,
            _images(batch),
            self._top_k,
            transform=self._transform,
            labels=self._labels,
        )
        # Strings as a fixed-width array ([B, k]) and no labels as one None per row: both
        # become Arrow columns (an object array of strings would be pickled row by row).
        if names is None:
            labels = np.full(len(top), None, dtype=object)
        else:
            labels = np.asarray(names, dtype=np.str_)[top]
        result = {
            "index": top,
            "probability": probabilities.astype(np.float32),
            "label": labels,
        }
        if "path" in batch:
            result["path"] = batch["path"]
        return result


class Predictor:
    """A callable class for `Dataset.map_batches` that runs any model: the batch's columns
    named like the model's inputs are fed to it, and its outputs are added as columns (named
    like the outputs; `output_names` picks some). One session per actor; `threads` defaults
    to the CPUs Ray assigned to the actor."""

    def __init__(
        self,
        model: Any,
        *,
        output_names: Sequence[str] | None = None,
        threads: Threads = None,
    ) -> None:
        self._session = _session(model, threads)
        self._inputs = [info.name for info in self._session.inputs]
        self._outputs = list(output_names) if output_names is not None else None

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        missing = [name for name in self._inputs if name not in batch]
        if missing:
            raise InvalidArgumentError(
                f"the batch has no column for the model's inputs {missing}; it has {sorted(batch)}"
            )
        feed = {
            name: np.ascontiguousarray(
                np.stack(list(batch[name])) if batch[name].dtype == object else batch[name]
            )
            for name in self._inputs
        }
        outputs = self._session.run(self._outputs, feed)
        names = self._outputs or [info.name for info in self._session.outputs]
        return {**batch, **dict(zip(names, outputs))}


def actor_threads(cluster_cpus: float, actors: int, num_cpus: float) -> int:
    """`classify`'s threads per actor: its CPUs and a share of the CPU left for the reads (at
    most one CPU is shared: more left idle was the caller's choice), rounded down, at least 1."""
    left = min(1.0, max(0.0, cluster_cpus - actors * num_cpus))
    return max(1, int(num_cpus + left / actors))


def classify(
    ds: Any,
    model: Any,
    *,
    batch_size: int = 64,
    concurrency: int | None = None,
    top_k: int = 5,
    num_cpus: float = 1,
    threads: int | None = None,
) -> Any:
    """The classification pipeline in one call: `ds` (a Dataset with a "bytes" column, from
    `ray.data.read_binary_files(..., include_paths=True)`, or an "image" column) mapped by
    `Classifier` actors of `num_cpus` CPUs each. Returns the Dataset of predictions (lazy,
    like every Dataset).

    Actors that hold every CPU starve Ray Data's read tasks, and the pipeline then waits
    forever; `concurrency` (default: as many actors as fit with one CPU left for reading) is
    lowered to leave that CPU, with a warning saying so. Fractional `num_cpus` (0.5) packs
    more actors, of one thread each, beside the reads.

    `threads` (each actor's session and decoding; default: its `num_cpus`, at least one):
    reading files barely uses the CPU kept for it, so by default the actors share that CPU
    too, `num_cpus + 1 / actors` threads each, rounded down. On a 2-CPU cluster the one actor
    then runs two threads (measured 1.2-1.3x the images/s of one thread at 640x480 and
    1920x1080); with 7 actors on 8 CPUs each keeps one.
    """
    import ray

    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidArgumentError(f"batch_size must be a positive int, got {batch_size!r}")
    if concurrency is not None and (
        isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1
    ):
        raise InvalidArgumentError(f"concurrency must be a positive int, got {concurrency!r}")
    if isinstance(num_cpus, bool) or not isinstance(num_cpus, (int, float)) or not num_cpus > 0:
        raise InvalidArgumentError(f"num_cpus must be a positive number, got {num_cpus!r}")
    total = float(ray.cluster_resources().get("CPU", 0))  # type: ignore[no-untyped-call]
    fitting = int((total - 1) // num_cpus)  # actors that leave one CPU for reads
    if fitting < 1:
        raise InvalidArgumentError(
            f"the cluster has {total:g} CPUs: an actor of num_cpus={num_cpus:g} would leave "
            "none for reading the images, and the pipeline would wait forever; lower num_cpus"
        )
    if concurrency is None:
        concurrency = fitting
    elif concurrency > fitting:
        warnings.warn(
            f"concurrency={concurrency} actors of {num_cpus:g} CPUs would take every one of "
            f"the cluster's {total:g} CPUs and starve the read tasks (the pipeline would wait "
            f"forever); using {fitting}",
            RuntimeWarning,
            stacklevel=2,
        )
        concurrency = fitting
    if threads is None:
        threads = actor_threads(total, concurrency, num_cpus)
    elif isinstance(threads, bool) or not isinstance(threads, numbers.Integral) or threads < 1:
        raise InvalidArgumentError(f"threads must be a positive int or None, got {threads!r}")
    return ds.map_batches(
        Classifier,
        fn_constructor_kwargs={"model": model, "top_k": top_k, "threads": int(threads)},
        batch_size=batch_size,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=concurrency),
        num_cpus=num_cpus,
    )
