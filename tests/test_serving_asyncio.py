"""Batcher.run_async and Session.run_async on event loops."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

import fastort
from batching import start_long_run
from hammer import parallelize
from isolated import UNDER_ASAN
from models import endless_model, mlp_model


def test_run_async_many_requests_in_one_loop_without_stalling_it(save):
    session = fastort.Session(save(mlp_model()), threads=1)
    rng = np.random.default_rng(2)
    requests = [rng.standard_normal((1, 64)).astype(np.float32) for _ in range(1000)]

    async def main() -> tuple[list[list[np.ndarray]], float]:
        longest_gap = 0.0
        stop = asyncio.Event()

        async def ticker() -> None:
            nonlocal longest_gap
            last = time.perf_counter()
            while not stop.is_set():
                await asyncio.sleep(0.001)
                now = time.perf_counter()
                longest_gap = max(longest_gap, now - last)
                last = now

        with fastort.Batcher(session, max_batch_size=32) as batcher:
            ticking = asyncio.ensure_future(ticker())
            await asyncio.sleep(0.01)
            results = await asyncio.gather(*[batcher.run_async({"x": r}) for r in requests])
            stop.set()
            await ticking
        return results, longest_gap

    results, longest_gap = asyncio.run(main())
    for rows, (got,) in zip(requests, results):
        np.testing.assert_allclose(got, session.run(None, {"x": rows})[0], rtol=1e-5, atol=1e-6)
    # Generous (the machine is shared); a blocked loop would stall for the whole batch. Under
    # AddressSanitizer starting 1000 tasks in one loop iteration alone takes longer than that.
    if not UNDER_ASAN:
        assert longest_gap < 0.5, f"the event loop stalled for {longest_gap * 1e3:.0f} ms"


def test_run_async_raises_the_requests_error(add_session, xy):
    x, _ = xy

    async def main() -> None:
        with fastort.Batcher(add_session) as batcher, pytest.raises(fastort.InvalidArgumentError):
            await batcher.run_async({"x": x})

    asyncio.run(main())


def test_cancelling_the_task_drops_the_queued_request(slow_session):
    async def main() -> None:
        with fastort.Batcher(slow_session) as batcher:
            long_run = start_long_run(batcher)
            task = asyncio.ensure_future(batcher.run_async({"x": np.ones((1, 256), np.float32)}))
            await asyncio.sleep(0.01)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            long_run.result(timeout=60)
        assert batcher.stats()["cancelled"] == 1

    asyncio.run(main())


def test_run_async_in_several_loops_and_threads(add_session, xy):
    x, y = xy
    with fastort.Batcher(add_session) as batcher:

        def loop_in_thread(index: int) -> int:
            async def main() -> int:
                outputs = await asyncio.gather(
                    *[batcher.run_async({"x": x + i, "y": y}) for i in range(50)]
                )
                for i, (z, _) in enumerate(outputs):
                    np.testing.assert_allclose(z, x + i + y)
                return index

            return asyncio.run(main())

        assert sorted(parallelize(loop_in_thread, 4)) == [0, 1, 2, 3]


def test_session_run_async(add_session, xy):
    x, y = xy

    async def main() -> None:
        results = await asyncio.gather(
            *[add_session.run_async(None, {"x": x + i, "y": y}) for i in range(20)]
        )
        for i, (z, _) in enumerate(results):
            np.testing.assert_allclose(z, x + i + y)
        (w,) = await add_session.run_async(["w"], {"x": x, "y": y})
        np.testing.assert_array_equal(w, x * 2)
        with pytest.raises(fastort.InvalidArgumentError):
            await add_session.run_async(None, {"x": x})

    asyncio.run(main())


def test_cancelling_session_run_async_stops_the_run(save):
    session = fastort.Session(save(endless_model()))

    async def main() -> float:
        task = asyncio.ensure_future(session.run_async(None, {"x": np.zeros(1, np.float32)}))
        await asyncio.sleep(0.2)
        started = time.perf_counter()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return time.perf_counter() - started

    asyncio.run(main())  # returns: asyncio.run waits for the executor, so the run ended
