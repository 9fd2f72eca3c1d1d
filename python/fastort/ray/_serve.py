"""Ray Serve: a deployment classifying POSTed image bytes.

Each replica holds one session and one native `fastort.Batcher`: concurrent requests are
decoded and preprocessed on threads (the GIL released), gathered into batches by the
batcher, and awaited without blocking the replica's event loop.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np

from .._core import FastortError, InvalidArgumentError
from ..classify import softmax_top_k, top_classes
from ..serving import Batcher
from ._data import Threads, _session

__all__ = ["ClassifierServer", "deployment"]


class ClassifierServer:
    """The replica: `POST` raw image bytes, get JSON
    `[{"index": ..., "label": ..., "probability": ...}, ...]` (top_k entries, best first). An
    undecodable body gets HTTP 400 with `{"error": ...}`; the replica keeps serving."""

    def __init__(
        self,
        model: Any,
        *,
        max_batch_size: int = 32,
        max_delay_ms: float = 5.0,
        top_k: int = 5,
        threads: Threads = None,
    ) -> None:
        from ..classify import stored_labels, stored_transform

        self._session = _session(model, threads)
        transform = stored_transform(self._session)
        if transform is None:
            raise InvalidArgumentError(
                "the model stores no image transform (export it with fastort.export(..., "
                "transform=...))"
            )
        self._transform = transform
        self._labels = stored_labels(self._session)
        self._top_k = top_k
        top_classes(self._session, np.zeros((1, 1, 3), np.uint8), top_k)  # checks, once
        self._input = self._session.inputs[0].name
        self._output = self._session.outputs[0].name
        self._batcher = Batcher(
            self._session, max_batch_size=max_batch_size, max_delay_ms=max_delay_ms
        )

    async def classify(self, body: bytes) -> list[dict[str, Any]]:
        """Top-k classes of one encoded image."""
        # Decoding and resizing take milliseconds: on a thread (the GIL is released there),
        # so that the event loop keeps serving.
        pixels = await asyncio.to_thread(self._transform, body)
        (logits,) = await self._batcher.run_async({self._input: pixels})
        (top,), (probabilities,) = softmax_top_k(logits, self._top_k)
        return [
            {
                "index": int(i),
                "label": self._labels[i] if self._labels else None,
                "probability": float(p),
            }
            for i, p in zip(top.tolist(), probabilities.tolist())
        ]

    async def __call__(self, request: Any) -> Any:
        from starlette.responses import JSONResponse

        body = await request.body()
        try:
            return JSONResponse(await self.classify(body))
        except InvalidArgumentError as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        except FastortError as error:
            return JSONResponse({"error": str(error)}, status_code=500)


def deployment(
    model: Any,
    *,
    max_batch_size: int = 32,
    max_delay_ms: float = 5.0,
    top_k: int = 5,
    num_replicas: int = 1,
    num_cpus: float = 1,
) -> Any:
    """A bound Ray Serve application of `ClassifierServer` replicas for `model` (a path: every
    replica loads it), for `serve.run(app)`. Each replica uses `num_cpus` CPUs, its session
    as many threads."""
    from ray import serve

    server: Any = serve.deployment(
        ClassifierServer,
        name="fastort_classifier",
        num_replicas=num_replicas,
        ray_actor_options={"num_cpus": num_cpus},
        # Replicas take many concurrent requests: the batcher gathers them.
        max_ongoing_requests=max(4 * max_batch_size, 16),
    )
    return server.bind(model, max_batch_size=max_batch_size, max_delay_ms=max_delay_ms, top_k=top_k)
