"""Serving many requests at once: `Batcher`, native dynamic batching for threads and asyncio.

Requests of a few rows each, from many threads or coroutines, are checked like `run` checks its
inputs (errors are raised by `submit`, not later), copied into the batch being gathered, and run
together by a native worker thread; each request gets zero-copy views of its rows of the
batch's outputs. The GIL is held only to check and copy a request and to build its arrays.
"""

from __future__ import annotations

import numbers
import weakref
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from . import _core

if TYPE_CHECKING:
    import asyncio
    from types import TracebackType

    from .session import Session

__all__ = ["BatchFuture", "Batcher"]

BatchFuture = _core.BatchFuture


def _int_option(name: str, value: Any) -> int:
    """An int option of the core's: its type is checked here, its range by the core, which
    needs it to fit in 64 bits to say so."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise _core.InvalidTypeError(f"{name} must be an int, got {value!r}")
    number = int(value)
    if not -(2**63) <= number < 2**63:
        raise _core.InvalidArgumentError(f"{name} is out of range, got {number}")
    return number


class Batcher(_core.BatcherBase):
    """Gathers concurrent requests into batches and runs each batch once.

    Args:
        session: the model to run; every input and output needs a dynamic first (batch) axis.
        max_batch_size: rows in one batch (a request with more rows runs alone).
        max_delay_ms: under load, how long the oldest request of a batch may wait for more
            rows. A request that finds the batcher free runs at once: one request at a time
            costs what `run` costs.
        max_queue: requests waiting at most; beyond it `submit` raises `QueueFullError`.
        workers: native threads running batches at the same time on the session (1 to 64).
            One suits a session whose intra-op threads use every core (the default
            `threads="auto"`). A session of `threads=1` runs a batch on one core: with
            `workers=n` up to n batches run side by side, which pays when the batches, not the
            clients' Python threads, keep the cores busy (see the README's serving figures).

    `submit(feed)` returns a `BatchFuture`; `run(feed)` is `submit(feed).result()` in one
    call, and when the batcher is idle it runs the request at once on the calling thread,
    reading the arrays in place. `run_async(feed)` awaits the outputs in asyncio.

    Requests whose inputs differ after the first axis (a variable sequence length) go to
    separate batches. If a batch fails in ONNX Runtime, its requests run again one by one so
    that only the culprit fails, with the error of its own run. `close()` (or leaving a `with`
    block) runs what is queued and refuses new requests.
    """

    def __init__(
        self,
        session: Session,
        *,
        max_batch_size: int = 32,
        max_delay_ms: float = 2.0,
        max_queue: int = 1024,
        workers: int = 1,
    ) -> None:
        _core._refuse_second_init(self)
        from .session import Session

        if not isinstance(session, Session):
            raise _core.InvalidTypeError(
                f"session must be a fastort.Session, got {type(session).__name__}"
            )
        if isinstance(max_delay_ms, bool) or not isinstance(max_delay_ms, numbers.Real):
            raise _core.InvalidTypeError(f"max_delay_ms must be a number, got {max_delay_ms!r}")
        super().__init__(
            session._model,
            max_batch_size=_int_option("max_batch_size", max_batch_size),
            max_delay_ms=float(max_delay_ms),
            max_queue=_int_option("max_queue", max_queue),
            workers=_int_option("workers", workers),
        )

    async def run_async(
        self, feed: Mapping[str, Any], *, timeout: float | None = None
    ) -> list[np.ndarray]:
        """`submit` for asyncio: awaits the outputs without blocking the event loop.

        Cancelling the awaiting task drops the request if it has not started to run.
        """
        submitted = self._submit_or_run(feed, timeout=timeout)
        if isinstance(submitted, list):  # a quick request ran at once (see Batcher.run)
            return submitted
        return await wait_async(submitted)

    def stats(self) -> dict[str, Any]:
        """Requests, batches (runs of the model), rejected, cancelled and timed-out counts, the
        batch-size histogram ({rows: runs}, adding up to batches), and percentiles (p50, p90,
        p99, max) in milliseconds of the queue delay (submit to run) and of the runs, over the
        most recent 4096 of each."""
        raw = self._stats()
        return {
            "requests": raw["requests"],
            "batches": raw["batches"],
            "rejected": raw["rejected"],
            "cancelled": raw["cancelled"],
            "timed_out": raw["timed_out"],
            "batch_rows": dict(raw["batch_rows"]),
            "queue_delay_ms": _percentiles(raw["queue_delay_ms"]),
            "run_ms": _percentiles(raw["run_ms"]),
        }

    def __enter__(self) -> Batcher:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"<fastort.Batcher max_batch_size={self.max_batch_size} "
            f"max_delay_ms={self.max_delay_ms} max_queue={self.max_queue} workers={self.workers}>"
        )


def _percentiles(values: list[float]) -> dict[str, float | None]:
    import statistics  # here: `import fastort` stays light

    if not values:
        return {"p50": None, "p90": None, "p99": None, "max": None}
    ordered = sorted(values)
    if len(ordered) == 1:
        return {"p50": ordered[0], "p90": ordered[0], "p99": ordered[0], "max": ordered[0]}
    cuts = statistics.quantiles(ordered, n=100, method="inclusive")
    return {"p50": cuts[49], "p90": cuts[89], "p99": cuts[98], "max": ordered[-1]}


class _LoopBridge:
    """Completions of native futures, delivered to one event loop.

    The native worker only pushes a key into a queue whose descriptor the loop watches; the
    loop's own thread builds the results and resolves its futures. No thread but the loop's
    waits for the loop, and the worker never takes the GIL for it.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._queue = _core.CompletionQueue()
        self._waiting: dict[int, tuple[asyncio.Future[Any], BatchFuture]] = {}
        self._watched_fd = False
        if self._queue.fd >= 0:
            try:
                loop.add_reader(self._queue.fd, self._deliver)
                self._watched_fd = True
            except NotImplementedError:  # loops without add_reader (Windows' proactor)
                pass

    async def wait(self, future: BatchFuture) -> list[np.ndarray]:
        waiter: asyncio.Future[Any] = self._loop.create_future()
        key = self._queue.watch(future)
        self._waiting[key] = (waiter, future)
        if not self._watched_fd:
            future.add_done_callback(lambda _: self._loop.call_soon_threadsafe(self._deliver))
        try:
            result: list[np.ndarray] = await waiter
            return result
        except BaseException:  # the awaiting task was cancelled: drop the request if queued
            future.cancel()
            raise

    def _deliver(self) -> None:
        for key in self._queue.take():
            waiter, future = self._waiting.pop(key, (None, None))
            if waiter is None or future is None or waiter.done():
                continue
            try:
                waiter.set_result(future.result(0))
            except BaseException as error:
                waiter.set_exception(error)


_bridges: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopBridge] = (
    weakref.WeakKeyDictionary()
)


async def wait_async(future: BatchFuture) -> list[np.ndarray]:
    """Awaits a native future on the running event loop without blocking it."""
    import asyncio  # here: importing asyncio costs milliseconds at `import fastort`

    loop = asyncio.get_running_loop()
    bridge = _bridges.get(loop)
    if bridge is None:
        bridge = _bridges[loop] = _LoopBridge(loop)
    return await bridge.wait(future)


async def run_session_async(
    session: Session,
    output_names: Sequence[str] | None,
    input_feed: Mapping[str, Any],
    run_options: Any,
) -> list[Any]:
    """`session.run` on the event loop's default executor, cancellable."""
    import asyncio

    from .run_options import RunOptions

    # A run of our own options can be stopped when the awaiting task is cancelled; the
    # caller's options may be shared with other runs, so those are left alone.
    own_options = RunOptions() if run_options is None else None
    options = own_options if own_options is not None else run_options
    loop = asyncio.get_running_loop()
    pending = loop.run_in_executor(None, session.run, output_names, input_feed, options)
    try:
        return await asyncio.shield(pending)
    except asyncio.CancelledError:
        if own_options is not None:
            own_options.terminate = True
        # Let the run end (it fails fast once terminated) but do not report its outcome.
        pending.add_done_callback(_discard_outcome)
        raise


def _discard_outcome(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()  # marks it retrieved: no "exception was never retrieved" warning


def warmup(session: Session, batch_sizes: Iterable[int]) -> None:
    """Runs `session` once per batch size on zeros (see `Session.warmup`)."""
    sizes = list(batch_sizes)
    for size in sizes:
        if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
            raise _core.InvalidArgumentError(f"batch sizes must be positive ints, got {size!r}")
    for size in sizes:
        feed = {}
        for info in session.inputs:
            if info.dtype is None:
                raise _core.InvalidTypeError(
                    f"warmup cannot make a value for input '{info.name}' of type {info.type}"
                )
            shape = [dim if isinstance(dim, int) and dim >= 0 else 1 for dim in info.shape]
            if shape:
                first = info.shape[0]
                if isinstance(first, int) and first >= 0 and first != size:
                    raise _core.InvalidArgumentError(
                        f"input '{info.name}' has a fixed first axis of {first}: it cannot "
                        f"take a batch of {size}"
                    )
                shape[0] = int(size)
            strings = info.dtype.kind in "OUS"
            feed[info.name] = np.full(shape, "", object) if strings else np.zeros(shape, info.dtype)
        session.run(None, feed)
