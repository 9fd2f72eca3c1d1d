"""Batcher errors: typed errors at submit, isolation, queue-full, timeouts, the future type."""

from __future__ import annotations

import concurrent.futures
import gc
import os
import signal
import threading
import weakref

import numpy as np
import pytest

import fastort
from batching import start_long_run
from isolated import UNDER_ASAN
from models import gather_model, matmul_model


def test_bad_requests_raise_the_errors_of_run_at_submit(add_session, xy):
    x, y = xy
    with fastort.Batcher(add_session) as batcher:
        with pytest.raises(fastort.InvalidArgumentError, match="y"):
            batcher.submit({"x": x})  # missing input
        with pytest.raises(fastort.InvalidArgumentError):
            batcher.submit({"x": x, "y": y, "nope": y})
        with pytest.raises(fastort.InvalidTypeError):
            batcher.submit({"x": x.astype(np.float64), "y": y})
        with pytest.raises(fastort.InvalidArgumentError):
            batcher.submit({"x": x[:, :2], "y": y[:, :2]})  # wrong trailing dim
        with pytest.raises(fastort.InvalidArgumentError):
            batcher.submit({"x": x, "y": y[:2]})  # inputs disagree on rows
        with pytest.raises(fastort.InvalidTypeError):
            batcher.submit([x, y])  # type: ignore[arg-type]
        with pytest.raises(fastort.InvalidArgumentError):
            batcher.submit({"x": x, "y": y}, timeout=-1)
        with pytest.raises(fastort.InvalidTypeError):
            batcher.submit({"x": x, "y": y}, timeout="soon")  # type: ignore[arg-type]
        for endless in (float("inf"), 10**400, 1e10):  # past what a clock's duration holds
            with pytest.raises(fastort.InvalidArgumentError, match="at most 1e9"):
                batcher.submit({"x": x, "y": y}, timeout=endless)
        with pytest.raises(fastort.InvalidArgumentError, match="rows"):
            batcher.submit({"x": x[:0], "y": y[:0]})
        with pytest.raises(fastort.InvalidArgumentError, match=r"input 'x' has 0$"):
            batcher.submit({"x": x[:0], "y": y[:0]})
        # Still serving after all that.
        np.testing.assert_array_equal(batcher.submit({"x": x, "y": y}).result(30)[0], x + y)
        assert batcher.stats()["requests"] == 1


def test_a_request_refused_on_the_callers_thread_is_not_counted(add_session, xy):
    # An idle batcher would run a request on its caller's thread; inputs the model refuses
    # raise as submit() raises them, and count neither as a request nor as a run.
    x, y = xy
    with fastort.Batcher(add_session) as batcher:
        np.testing.assert_array_equal(batcher.run({"x": x, "y": y})[0], x + y)
        for _ in range(3):
            with pytest.raises(fastort.InvalidTypeError, match="'x'"):
                batcher.run({"x": x.astype(np.float64), "y": y})
            with pytest.raises(fastort.InvalidArgumentError, match="'y'"):
                batcher.run({"x": x, "y": np.ones((4, 5), np.float32)})
        stats = batcher.stats()
        assert stats["requests"] == stats["batches"] == 1
        assert stats["batch_rows"] == {4: 1}


@pytest.mark.parametrize(
    "options",
    [
        {"max_batch_size": 0},
        {"max_batch_size": -3},
        {"max_delay_ms": -1.0},
        {"max_delay_ms": float("nan")},
        {"max_queue": 0},
        {"workers": 0},
        {"workers": 65},
        {"workers": -1},
        {"workers": 10**20},
        {"max_queue": 10**20},
        {"max_batch_size": -(10**30)},
    ],
)
def test_absurd_options_are_refused(add_session, options):
    with pytest.raises(fastort.InvalidArgumentError):
        fastort.Batcher(add_session, **options)


@pytest.mark.parametrize(
    "options",
    [
        {"max_batch_size": 2.5},
        {"max_queue": "9"},
        {"max_delay_ms": True},
        {"workers": 2.0},
        {"workers": "auto"},
        {"workers": True},
    ],
)
def test_options_of_the_wrong_type_are_refused(add_session, options):
    with pytest.raises(fastort.InvalidTypeError):
        fastort.Batcher(add_session, **options)


def test_only_sessions_are_batched():
    with pytest.raises(fastort.InvalidTypeError):
        fastort.Batcher("model.onnx")  # type: ignore[arg-type]


def test_models_without_a_dynamic_first_axis_are_refused(save):
    session = fastort.Session(save(matmul_model(4)))
    with pytest.raises(fastort.InvalidArgumentError, match="dynamic first"):
        fastort.Batcher(session)


def test_a_failing_request_fails_alone(save):
    session = fastort.Session(save(gather_model()), threads=1)
    table = np.arange(30, dtype=np.float32).reshape(10, 3)
    with fastort.Batcher(session, max_batch_size=64, max_delay_ms=20) as batcher:
        # Queued together behind one another so that they share batches.
        requests = [np.array([i % 10, (i + 3) % 10]) for i in range(40)]
        requests[17] = np.array([1, 99])  # out of range: fails in ONNX Runtime
        futures = [batcher.submit({"rows": rows}) for rows in requests]
        for index, (rows, future) in enumerate(zip(requests, futures)):
            if index == 17:
                with pytest.raises(fastort.FastortError, match=r"out of|bounds|indices"):
                    future.result(timeout=30)
                assert isinstance(future.exception(), fastort.FastortError)
                # The same exception each time, as concurrent.futures gives.
                assert future.exception() is future.exception()
                with pytest.raises(fastort.FastortError) as raised:
                    future.result()
                assert raised.value is future.exception()
            else:
                np.testing.assert_array_equal(future.result(timeout=30)[0], table[rows])
    # The runs alone after the failed batch count as runs, in the histogram too.
    stats = batcher.stats()
    assert stats["batches"] > 1
    assert sum(stats["batch_rows"].values()) == stats["batches"]


def test_queue_full(slow_session):
    with fastort.Batcher(slow_session, max_queue=2) as batcher:
        long_run = start_long_run(batcher)
        queued = [batcher.submit({"x": np.ones((1, 256), np.float32)}) for _ in range(2)]
        with pytest.raises(fastort.QueueFullError, match="max_queue=2"):
            batcher.submit({"x": np.ones((1, 256), np.float32)})
        assert issubclass(fastort.QueueFullError, fastort.FastortError)
        # A cancelled request gives its place back at once, and is counted at once.
        assert queued[0].cancel()
        assert batcher.stats()["cancelled"] == 1
        queued[0] = batcher.submit({"x": np.ones((1, 256), np.float32)})
        with pytest.raises(fastort.QueueFullError):
            batcher.submit({"x": np.ones((1, 256), np.float32)})
        long_run.result(timeout=60)
        for future in queued:
            future.result(timeout=60)
        stats = batcher.stats()
        assert (stats["rejected"], stats["cancelled"], stats["requests"]) == (2, 1, 4)


def test_a_request_not_started_in_time_times_out(slow_session):
    with fastort.Batcher(slow_session) as batcher:
        long_run = start_long_run(batcher)
        late = batcher.submit({"x": np.ones((1, 256), np.float32)}, timeout=0.001)
        with pytest.raises(TimeoutError):
            late.result(timeout=60)
        long_run.result(timeout=60)
    assert batcher.stats()["timed_out"] == 1  # counted once the worker is done with it


def test_result_timeout_is_concurrent_futures_timeout(slow_session):
    with fastort.Batcher(slow_session) as batcher:
        long_run = start_long_run(batcher)
        queued = batcher.submit({"x": np.ones((1, 256), np.float32)})
        with pytest.raises(concurrent.futures.TimeoutError):
            queued.result(timeout=0)
        queued.result(timeout=60)
        long_run.result(timeout=60)


@pytest.mark.skipif(not hasattr(signal, "SIGINT"), reason="no SIGINT here")
@pytest.mark.skipif(UNDER_ASAN, reason="runs under AddressSanitizer are not quick")
def test_ctrl_c_stops_a_wait_for_a_request_at_once(slow_session):
    # As concurrent.futures: KeyboardInterrupt while result() waits, not once the run ends.
    # Batcher.run drops its request then, unless it runs already.
    assert threading.current_thread() is threading.main_thread()
    with fastort.Batcher(slow_session) as batcher:
        for wait in ("result", "run"):
            long_run = batcher.submit({"x": np.ones((20000, 256), np.float32)})
            queued = batcher.submit({"x": np.ones((1, 256), np.float32)})
            timer = threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGINT))
            timer.start()
            with pytest.raises(KeyboardInterrupt):
                if wait == "result":
                    queued.result()
                else:
                    batcher.run({"x": np.ones((2, 256), np.float32)})
            timer.join()
            assert not long_run.done()  # the wait ended long before the runs
            long_run.result(timeout=120)
            queued.result(timeout=60)
        stats = batcher.stats()
    assert stats["cancelled"] == 1 and stats["batch_rows"].get(2) is None


def test_a_future_says_its_state_and_is_made_only_by_submit(slow_session):
    with fastort.Batcher(slow_session) as batcher:
        long_run = start_long_run(batcher)
        queued = batcher.submit({"x": np.ones((1, 256), np.float32)})
        dropped = batcher.submit({"x": np.ones((1, 256), np.float32)})
        assert repr(long_run).endswith("state=running>")
        assert repr(queued).startswith("<BatchFuture at 0x") and "state=pending" in repr(queued)
        assert dropped.cancel() and repr(dropped).endswith("state=cancelled>")
        long_run.result(timeout=60)
        assert repr(long_run).endswith("state=finished returned list>")
        alive = weakref.ref(queued)
        queued.result(timeout=60)
        del queued
        gc.collect()
        assert alive() is None
    future_type = type(long_run)
    assert future_type is fastort.BatchFuture and future_type.__module__ == "fastort._core"
    with pytest.raises(TypeError, match="cannot create"):
        fastort.BatchFuture()
    with pytest.raises(TypeError):
        object.__new__(fastort.BatchFuture)
    with pytest.raises(TypeError, match="not an acceptable base type"):
        type("Mine", (fastort.BatchFuture,), {})
    # Its methods on anything else, and bad arguments, raise TypeError.
    for method in ("done", "running", "cancelled", "cancel", "result", "exception"):
        with pytest.raises(TypeError):
            getattr(fastort.BatchFuture, method)(object())
    with pytest.raises(TypeError, match="multiple values for timeout"):
        long_run.result(1, timeout=1)
    with pytest.raises(TypeError, match="unexpected keyword argument 'wait'"):
        long_run.exception(wait=1)
    with pytest.raises(TypeError, match="at most 1 argument"):
        long_run.result(1, 2)
    with pytest.raises(TypeError, match="fn"):
        long_run.add_done_callback()
    called: list[object] = []
    long_run.add_done_callback(fn=called.append)  # done: called at once, here
    assert called == [long_run]
    assert long_run.exception(timeout=0) is None


def test_cycles_through_a_future_are_collected_once_it_is_done(slow_session):
    rows = np.ones((1, 256), np.float32)
    fired = threading.Event()
    with fastort.Batcher(slow_session) as batcher:
        long_run = start_long_run(batcher)
        in_its_result = batcher.submit({"x": rows})

        # A pending future only its own callback refers to is kept by its hook until it fires.
        def submit_in_a_cycle() -> None:
            future = batcher.submit({"x": rows})
            future.add_done_callback(lambda _: (future, fired.set()))

        submit_in_a_cycle()
        gc.collect()
        long_run.result(timeout=60)
        assert fired.wait(60)
        in_its_result.result(timeout=60).append(in_its_result)
        alive = weakref.ref(in_its_result)
        del in_its_result
        gc.collect()
        assert alive() is None
