"""Batcher lifecycle: cancel, close and drain, done callbacks, workers, stats."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import signal
import sys
import threading
import time

import numpy as np
import pytest

import fastort
from batching import start_long_run
from isolated import UNDER_ASAN
from models import gather_model


def test_every_hook_of_a_pending_future_fires(slow_session):
    # A future's callbacks and an event loop's watch on the same request: each is told.
    with fastort.Batcher(slow_session) as batcher:
        long_run = start_long_run(batcher)
        pending = batcher.submit({"x": np.ones((1, 256), np.float32)})
        queue = fastort._core.CompletionQueue()
        called: list[object] = []
        first = queue.watch(pending)
        pending.add_done_callback(called.append)
        second = queue.watch(pending)
        assert not pending.done()
        long_run.result(timeout=60)
        pending.result(timeout=60)
        taken: list[int] = []
        deadline = time.monotonic() + 30
        while len(taken) < 2 and time.monotonic() < deadline:
            taken += queue.take()
        assert sorted(taken) == [first, second]
        assert called == [pending]


def test_result_takes_any_timeout(slow_session):
    with fastort.Batcher(slow_session) as batcher:
        long_run = start_long_run(batcher)
        pending = batcher.submit({"x": np.ones((1, 256), np.float32)})
        with pytest.raises(concurrent.futures.TimeoutError):
            pending.result(timeout=-(10**400))
        with pytest.raises(TypeError):
            pending.result(timeout="soon")  # type: ignore[arg-type]
        long_run.result(timeout=10**400)  # no limit
        assert pending.result(timeout=float("inf"))[0].shape == (1, 256)


def test_run_async_on_a_loop_without_add_reader(slow_session):
    # Windows' proactor loop has no add_reader: the future's callback wakes the loop instead.
    class NoReaderLoop(asyncio.SelectorEventLoop):
        def add_reader(self, *args: object) -> None:
            raise NotImplementedError

    async def main() -> list[list[np.ndarray]]:
        with fastort.Batcher(slow_session) as batcher:
            long_run = start_long_run(batcher)
            rows = [np.full((1, 256), k, np.float32) for k in range(3)]
            results = await asyncio.wait_for(
                asyncio.gather(*(batcher.run_async({"x": x}) for x in rows)), 60
            )
            long_run.result(timeout=60)
            return results

    loop = NoReaderLoop()
    try:
        results = loop.run_until_complete(main())
    finally:
        loop.close()
    every_row = np.arange(3, dtype=np.float32)[:, None].repeat(256, 1)
    reference = slow_session.run(None, {"x": every_row})
    for k, (y,) in enumerate(results):
        np.testing.assert_allclose(y[0], reference[0][k], rtol=1e-5)


def test_cancelled_requests_never_run(slow_session):
    with fastort.Batcher(slow_session) as batcher:
        long_run = start_long_run(batcher)
        dropped = batcher.submit({"x": np.ones((1, 256), np.float32)})
        assert dropped.cancel() and dropped.cancelled() and dropped.done()
        with pytest.raises(concurrent.futures.CancelledError):
            dropped.result()
        assert not long_run.cancel()  # already running
        long_run.result(timeout=60)
        assert not long_run.cancel()  # done
    assert batcher.stats()["cancelled"] == 1


def test_close_drains_the_queue_and_refuses_new_requests(slow_session):
    batcher = fastort.Batcher(slow_session)
    long_run = start_long_run(batcher)
    queued = [batcher.submit({"x": np.full((1, 256), i, np.float32)}) for i in range(5)]
    batcher.close()
    assert long_run.done() and all(future.done() for future in queued)
    for i, future in enumerate(queued):
        np.testing.assert_allclose(
            future.result()[0],
            slow_session.run(None, {"x": np.full((1, 256), i, np.float32)})[0],
            rtol=1e-5,
        )
    with pytest.raises(fastort.FastortError, match="closed"):
        batcher.submit({"x": np.ones((1, 256), np.float32)})
    batcher.close()  # twice is fine


def test_done_callbacks_run_once_each_even_if_one_fails(add_session, xy, monkeypatch):
    x, y = xy
    reported: list[BaseException | None] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda report: reported.append(report.exc_value))
    seen: list[tuple[str, object]] = []
    called = threading.Event()

    def failing(future):
        raise ValueError("a callback's own bug")

    with fastort.Batcher(add_session) as batcher:
        future = batcher.submit({"x": x, "y": y})
        future.add_done_callback(lambda f: seen.append(("first", f)))
        future.add_done_callback(failing)
        future.add_done_callback(lambda f: (seen.append(("last", f)), called.set()))
        assert called.wait(30)
        future.add_done_callback(lambda f: seen.append(("after", f)))  # done: runs at once
    assert [name for name, _ in seen] == ["first", "last", "after"]
    assert len(reported) == 1 and isinstance(reported[0], ValueError)  # reported, as Python does
    assert all(f is future for _, f in seen)


@pytest.mark.parametrize("workers", [1, 3])
def test_close_from_a_done_callback_returns_and_the_queue_still_drains(slow_session, workers):
    rows = np.ones((1, 256), np.float32)
    batcher = fastort.Batcher(slow_session, max_batch_size=1, workers=workers)
    on_worker = threading.Event()
    long_run = start_long_run(batcher)
    queued = [batcher.submit({"x": rows}) for _ in range(5)]
    # Registered while the request runs: the callback runs on the batcher's worker.
    long_run.add_done_callback(lambda _: (batcher.close(), on_worker.set()))
    assert on_worker.wait(60), "close() from a callback waited for its own thread"
    for future in queued:
        assert len(future.result(timeout=60)) == 1
    with pytest.raises(fastort.FastortError, match="closed"):
        batcher.submit({"x": rows})
    batcher.close()


@pytest.mark.parametrize("workers", [1, 3])
def test_the_last_reference_dropped_in_a_done_callback(slow_session, workers):
    rows = np.ones((1, 256), np.float32)
    holder = [fastort.Batcher(slow_session, max_batch_size=1, workers=workers)]
    long_run = start_long_run(holder[0])
    queued = [holder[0].submit({"x": rows * i}) for i in range(5)]
    released = threading.Event()
    long_run.add_done_callback(lambda _: (holder.clear(), released.set()))
    assert released.wait(60), "destroying the batcher from its own worker hung"
    for i, future in enumerate(queued):  # the worker drains the queue on its own
        expected = slow_session.run(None, {"x": rows * i})[0]
        np.testing.assert_allclose(future.result(timeout=60)[0], expected, rtol=1e-5)


def test_several_workers_run_batches_side_by_side(slow_session):
    big = {"x": np.ones((4000, 256), np.float32)}
    with fastort.Batcher(slow_session, workers=2) as batcher:
        first = start_long_run(batcher)
        second = batcher.submit(big)  # too big to join the first: a batch of its own
        deadline = time.monotonic() + 60
        while not second.running() and not second.done():
            assert time.monotonic() < deadline
            time.sleep(0.0005)
        # The second worker took it while the first still ran (a run of 4000 rows through
        # twelve 256-wide layers lasts far longer than a worker's wake-up).
        assert not first.done() or second.done()
        assert first.running() or first.done()
        np.testing.assert_array_equal(first.result(60)[0], second.result(60)[0])
    assert batcher.stats()["batches"] == 2


def test_one_worker_is_the_default(add_session):
    with fastort.Batcher(add_session) as batcher:
        assert batcher.workers == 1


def test_concurrent_futures_wait_and_as_completed_take_batch_futures(slow_session):
    rows = np.ones((1, 256), np.float32)
    with (
        fastort.Batcher(slow_session, max_batch_size=1) as batcher,
        concurrent.futures.ThreadPoolExecutor(1) as executor,
    ):
        long_run = start_long_run(batcher)
        queued = [batcher.submit({"x": rows * i}) for i in range(4)]
        assert queued[1].cancel()
        # A cancelled request is done; the others wait behind the long run.
        done, pending = concurrent.futures.wait(
            [long_run, *queued], timeout=0, return_when=concurrent.futures.FIRST_COMPLETED
        )
        assert done == {queued[1]} and len(pending) == 4
        from_executor = executor.submit(long_run.result, 60)
        everything = [from_executor, long_run, *queued]
        order = list(concurrent.futures.as_completed(everything, timeout=60))
        assert sorted(map(id, order)) == sorted(map(id, everything))
        assert order[0] is queued[1]  # done before as_completed began
        # One worker runs one row at a time, in order.
        ran = [future for future in order if future in queued[0:1] + queued[2:]]
        assert ran == [queued[0], queued[2], queued[3]]
        done, pending = concurrent.futures.wait(everything, timeout=60)
        assert len(done) == len(everything) and not pending
        assert [future._state for future in queued] == [
            "FINISHED",
            "CANCELLED_AND_NOTIFIED",
            "FINISHED",
            "FINISHED",
        ]


def test_concurrent_futures_wait_first_exception(save):
    session = fastort.Session(save(gather_model()), threads=1)
    with fastort.Batcher(session, max_batch_size=1) as batcher:
        futures = [batcher.submit({"rows": np.array([i])}) for i in (1, 2, 99, 3)]
        done, _ = concurrent.futures.wait(
            futures, timeout=60, return_when=concurrent.futures.FIRST_EXCEPTION
        )
        assert futures[2] in done
        assert isinstance(futures[2].exception(), fastort.FastortError)


def test_a_waiter_added_under_the_condition_after_the_request_finished_is_told(slow_session):
    # wait() holds the future's condition while it reads the state and adds its waiter; the
    # request may finish in between (the GIL switches), and its hook must then wait for the
    # condition rather than find no waiters yet.
    class Waiter:
        def __init__(self) -> None:
            self.told = threading.Event()

        def add_result(self, future: object) -> None:
            self.told.set()

        add_exception = add_cancelled = add_result

    waiter = Waiter()
    with fastort.Batcher(slow_session, max_batch_size=1) as batcher:
        long_run = start_long_run(batcher)
        future = batcher.submit({"x": np.ones((1, 256), np.float32)})
        with future._condition:
            assert future._state in ("PENDING", "RUNNING")
            # Finished (its repr reads the request), its hook waiting for the condition; not
            # result() or done(): those tell the waiters themselves, as the lock is this
            # thread's.
            deadline = time.monotonic() + 60
            while "finished" not in repr(future):
                assert time.monotonic() < deadline
                time.sleep(0.001)
            time.sleep(0.05)
            # wait() reads the state again before it adds its waiter to every future: it must
            # not change under the condition, or the waiter would count this one twice.
            assert future._state == "RUNNING"
            future._waiters.append(waiter)
        assert waiter.told.wait(60)
        assert future._state == "FINISHED"
        long_run.result(timeout=60)


def test_threads_asking_a_future_for_its_condition_at_once_share_one(slow_session):
    # Making the condition runs Python code, between which the GIL may pass to another thread
    # making its own: all must end up holding the one the hook will take.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        with fastort.Batcher(slow_session) as batcher:
            long_run = start_long_run(batcher)
            for _ in range(100):
                future = batcher.submit({"x": np.ones((1, 256), np.float32)})
                seen: list[object] = []
                threads = [
                    threading.Thread(target=lambda f=future, s=seen: s.append(f._condition))
                    for _ in range(4)
                ]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
                assert all(condition is future._condition for condition in seen)
            long_run.result(timeout=60)
    finally:
        sys.setswitchinterval(interval)


@pytest.mark.skipif(not hasattr(signal, "SIGINT"), reason="no SIGINT here")
@pytest.mark.skipif(UNDER_ASAN, reason="runs under AddressSanitizer are not quick")
def test_ctrl_c_while_cancel_waits_for_the_condition_still_tells_the_waiters(slow_session):
    # cancel() on the main thread tells the waiters under the future's condition; Ctrl-C while
    # it waits for another thread to release it must neither leave them untold nor be lost.
    assert threading.current_thread() is threading.main_thread()
    with (
        fastort.Batcher(slow_session, max_batch_size=1) as batcher,
        concurrent.futures.ThreadPoolExecutor(2) as executor,
    ):
        long_run = batcher.submit({"x": np.ones((20000, 256), np.float32)})  # seconds long
        future = batcher.submit({"x": np.ones((1, 256), np.float32)})
        waited = executor.submit(
            concurrent.futures.wait, [future], 60, concurrent.futures.FIRST_COMPLETED
        )
        time.sleep(0.1)
        held = threading.Event()

        def hold_the_condition() -> None:
            with future._condition:
                held.set()
                time.sleep(0.5)

        holder = executor.submit(hold_the_condition)
        assert held.wait(30)
        timer = threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGINT))
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            future.cancel()
            time.sleep(30)  # the Ctrl-C comes once the waiters are told, if not before
        timer.join()
        holder.result(timeout=30)
        done, _ = waited.result(timeout=30)
        assert future.cancelled() and future in done
        long_run.result(timeout=120)


def test_a_future_whose_result_returned_is_done_for_wait(slow_session):
    # Its hook may still wait for the GIL on the worker: result() tells the waiters itself.
    rows = np.ones((1, 256), np.float32)
    with fastort.Batcher(slow_session) as batcher:
        for _ in range(200):
            future = batcher.submit({"x": rows})
            assert future._condition is not None  # as wait() begins: the hook is set
            future.result(timeout=60)
            done, _ = concurrent.futures.wait([future], timeout=0)
            assert done == {future}


def test_a_request_done_while_wait_begins_is_never_missed(slow_session):
    # Requests that complete on the worker while wait() or as_completed() reads their state
    # and adds its waiter, in every order: none may be left waiting.
    rows = np.ones((1, 256), np.float32)
    with fastort.Batcher(slow_session) as batcher:
        for i in range(300):
            futures = [batcher.submit({"x": rows}) for _ in range(1 + i % 3)]
            if i % 2:
                _, pending = concurrent.futures.wait(futures, timeout=30)
                assert not pending
            else:
                assert len(list(concurrent.futures.as_completed(futures, timeout=30))) == len(
                    futures
                )


def test_stats_report_counts_and_percentiles(add_session, xy):
    x, y = xy
    with fastort.Batcher(add_session) as batcher:
        assert batcher.stats()["queue_delay_ms"]["p50"] is None
        for _ in range(20):
            batcher.submit({"x": x, "y": y}).result(timeout=30)
        stats = batcher.stats()
    assert stats["requests"] == 20 and stats["rejected"] == 0
    assert stats["batches"] == sum(stats["batch_rows"].values())
    for key in ("queue_delay_ms", "run_ms"):
        p = stats[key]
        assert 0 <= p["p50"] <= p["p90"] <= p["p99"] <= p["max"]
    assert "max_batch_size=32" in repr(batcher)
