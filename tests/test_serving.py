"""The serving engine: Batcher (threads and asyncio), Session.run_async, warmup, threads="auto"."""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import weakref

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import fastort
from gil import quick_runs, run_until_quick
from hammer import parallelize
from isolated import UNDER_ASAN, describe, run_python
from models import endless_model, identity_model, make_model, matmul_model, mlp_model


def gather_model():
    """rows int64[N] -> picked float[N, 3]: rows of a 10 x 3 table (an index >= 10 fails)."""
    table = np.arange(30, dtype=np.float32).reshape(10, 3)
    return make_model(
        [helper.make_node("Gather", ["table", "rows"], ["picked"], axis=0)],
        [helper.make_tensor_value_info("rows", TensorProto.INT64, ["N"])],
        [helper.make_tensor_value_info("picked", TensorProto.FLOAT, ["N", 3])],
        [numpy_helper.from_array(table, "table")],
    )


@pytest.fixture
def add_session(add_path) -> fastort.Session:
    return fastort.Session(add_path, threads=1)


@pytest.fixture
def slow_session(save) -> fastort.Session:
    """A model whose run of a few thousand rows takes long enough to queue requests behind."""
    return fastort.Session(save(mlp_model(width=256, layers=12), "slow.onnx"), threads=1)


def start_long_run(batcher: fastort.Batcher) -> fastort.BatchFuture:
    """Submits a large request and returns once the worker runs it: with one worker, later
    ones queue."""
    long_run = batcher.submit({"x": np.ones((4000, 256), np.float32)})
    deadline = time.monotonic() + 30
    while not long_run.running() and not long_run.done():
        assert time.monotonic() < deadline
        time.sleep(0.0005)
    return long_run


# ---- results -----------------------------------------------------------------------------


def test_submit_returns_what_run_returns(add_session, xy):
    x, y = xy
    with fastort.Batcher(add_session) as batcher:
        future = batcher.submit({"x": x, "y": y})
        outputs = future.result(timeout=30)
        assert future.done() and not future.cancelled() and future.exception() is None
    expected = add_session.run(None, {"x": x, "y": y})
    assert len(outputs) == 2
    for got, want in zip(outputs, expected):
        np.testing.assert_array_equal(got, want)
    assert future.result() is outputs  # the same arrays every time


@pytest.mark.parametrize("workers", [1, 3])
def test_every_request_gets_its_own_rows_under_32_threads(save, workers):
    session = fastort.Session(save(mlp_model()), threads=1)
    rng = np.random.default_rng(1)
    requests = [
        rng.standard_normal((int(rng.integers(1, 6)), 64)).astype(np.float32) for _ in range(640)
    ]
    expected = [session.run(None, {"x": rows})[0] for rows in requests]
    with fastort.Batcher(session, max_batch_size=16, max_delay_ms=1, workers=workers) as batcher:
        assert batcher.workers == workers

        def client(thread: int) -> int:
            for index in range(thread, len(requests), 32):
                feed = {"x": requests[index]}
                # Half the threads wait on futures, half call run().
                (got,) = batcher.run(feed) if thread % 2 else batcher.submit(feed).result(60)
                assert got.shape == expected[index].shape
                np.testing.assert_allclose(got, expected[index], rtol=1e-5, atol=1e-5)
            return thread

        parallelize(client, 32)
        stats = batcher.stats()
    assert stats["requests"] == len(requests)
    assert sum(stats["batch_rows"].values()) == stats["batches"]
    assert sum(rows * count for rows, count in stats["batch_rows"].items()) == sum(
        len(rows) for rows in requests
    )
    assert max(stats["batch_rows"]) > 1, "concurrent requests should share batches"


def test_run_on_an_idle_batcher_runs_at_once_without_a_copy(add_session, xy):
    x, y = xy
    with fastort.Batcher(add_session, max_delay_ms=1000) as batcher:
        before = fastort._core.debug_counters()["input_bytes_copied"]
        started = time.perf_counter()
        z, w = batcher.run({"x": x, "y": y})
        assert time.perf_counter() - started < 0.5  # never waits out max_delay_ms
        assert fastort._core.debug_counters()["input_bytes_copied"] == before
        np.testing.assert_array_equal(z, x + y)
        np.testing.assert_array_equal(w, x * 2)
        with pytest.raises(fastort.InvalidArgumentError):
            batcher.run({"x": x})
        with pytest.raises(fastort.InvalidArgumentError):
            batcher.run({"x": x, "y": y}, timeout=0)
        with pytest.raises(fastort.InvalidArgumentError, match="rows"):
            batcher.run({"x": x[:0], "y": y[:0]})  # and close() still returns
        stats = batcher.stats()
        batcher.submit({"x": x, "y": y}).result(30)  # a queued request is copied, once
        copied = fastort._core.debug_counters()["input_bytes_copied"] - before
        assert copied == x.nbytes + y.nbytes
    assert stats["requests"] == 1 and stats["batches"] == 1
    with pytest.raises(fastort.FastortError, match="closed"):
        batcher.run({"x": x, "y": y})


@pytest.mark.skipif(UNDER_ASAN, reason="runs under AddressSanitizer are not quick")
def test_run_of_a_quick_model_on_an_idle_batcher_keeps_the_gil(add_session):
    # As Session.run: handing the GIL over would cost more than such a run.
    rng = np.random.default_rng(3)
    with fastort.Batcher(add_session) as batcher:

        def client(index: int) -> int:
            for _ in range(300):
                x, y = rng.random((1, 3), dtype=np.float32), np.full((1, 3), index, np.float32)
                z, w = batcher.run({"x": x, "y": y})
                np.testing.assert_array_equal(z, x + y)
                np.testing.assert_array_equal(w, x * 2)
            return 300

        x = np.zeros((1, 3), np.float32)
        assert run_until_quick(lambda: batcher.run({"x": x, "y": x}))
        warm_up = batcher.stats()["requests"]
        assert parallelize(client, 8) == [300] * 8
        stats = batcher.stats()
        assert stats["requests"] == warm_up + 8 * 300
        assert sum(stats["batch_rows"].values()) == stats["batches"]


@pytest.mark.skipif(UNDER_ASAN, reason="runs under AddressSanitizer are not quick")
def test_quick_requests_write_small_outputs_into_arrays_the_batcher_keeps(add_session):
    # As Session.run's: once a run of the request's shapes has shown its outputs' shapes,
    # they are written into arrays of their own, and one still held is never written again.
    rng = np.random.default_rng(5)
    with fastort.Batcher(add_session) as batcher:
        zeros = np.zeros((2, 3), np.float32)
        # A busy machine may pause quick runs for a while (a run that took long): then the
        # block is run again, for up to 20 s.
        deadline = time.monotonic() + 20
        while True:
            assert run_until_quick(lambda: batcher.run({"x": zeros, "y": zeros}))
            held = []
            for i in range(60):
                x, y = rng.random((2, 3), dtype=np.float32), rng.random((2, 3), dtype=np.float32)
                call = batcher.run if i % 2 else lambda feed: batcher.submit(feed).result()
                held.append((x, y, *call({"x": x, "y": y})))
            for x, y, z, w in held:
                np.testing.assert_array_equal(z, x + y)
                np.testing.assert_array_equal(w, x * 2)
            owned = all(z.flags.owndata and w.flags.owndata for _, _, z, w in held[-10:])
            if owned or time.monotonic() > deadline:
                break
        assert all(z.flags.owndata and w.flags.owndata for _, _, z, w in held[-10:])
        assert len({a.ctypes.data for row in held[-10:] for a in row[2:]}) == 20


@pytest.mark.skipif(UNDER_ASAN, reason="runs under AddressSanitizer are not quick")
def test_submit_of_a_quick_request_returns_a_done_future_with_its_outcome(save):
    session = fastort.Session(save(gather_model()), threads=1)
    with fastort.Batcher(session, max_delay_ms=1000) as batcher:
        assert run_until_quick(lambda: batcher.run({"rows": np.array([2])}))
        before = quick_runs()
        good = batcher.submit({"rows": np.array([1])})
        bad = batcher.submit({"rows": np.array([99])})
        # Both ran quick in submit; the bad one again, unbound, when its output was bound.
        assert quick_runs() - before in (2, 3)
        assert good.done() and bad.done()  # ran in submit: nothing to wait for
        np.testing.assert_array_equal(good.result(), [[[3, 4, 5]]])
        assert isinstance(bad.exception(), fastort.FastortError)
        with pytest.raises(fastort.FastortError, match=r"out of|bounds|indices"):
            bad.result()
        called = []
        good.add_done_callback(called.append)  # done already: called at once
        assert called == [good]
        with pytest.raises(fastort.InvalidTypeError):  # a bad request still raises here
            batcher.submit({"rows": np.array([1.5])})
        assert asyncio.run(batcher.run_async({"rows": np.array([0])}))[0].tolist() == [[0, 1, 2]]
        # run_async gets a quick request's outputs, or its run's error, without a future.
        with pytest.raises(fastort.FastortError, match=r"out of|bounds|indices"):
            asyncio.run(batcher.run_async({"rows": np.array([99])}))
        with pytest.raises(fastort.InvalidTypeError):
            asyncio.run(batcher.run_async({"rows": np.array([1.5])}))


@pytest.mark.skipif(UNDER_ASAN, reason="runs under AddressSanitizer are not quick")
def test_a_client_that_only_submits_learns_that_its_runs_are_quick(save):
    # No Session.run teaches this model's quick runs: the worker's runs, begun on a woken
    # thread and slower than the same runs on a busy one, and the occasional trial run in
    # submit must. Then requests run in submit, and the client never waits for a hand-over.
    session = fastort.Session(save(gather_model()), threads=1)
    with fastort.Batcher(session) as batcher:
        submitted, ran_in_submit = 0, False
        while not ran_in_submit and submitted < 200:  # the worker's first run teaches it
            future = batcher.submit({"rows": np.array([2])})
            ran_in_submit = future.done()
            np.testing.assert_array_equal(future.result(30)[0], [[6, 7, 8]])
            submitted += 1
        assert ran_in_submit, f"none of {submitted} requests ran in submit"
        # Quick from now on; a busy machine may pause that for a while (a run that took long),
        # so a few rounds are allowed.
        deadline = time.monotonic() + 20
        while True:
            before = quick_runs()
            for _ in range(100):
                batcher.submit({"rows": np.array([1])}).result(30)
            if quick_runs() - before > 50 or time.monotonic() > deadline:
                break
        assert quick_runs() - before > 50


@pytest.mark.skipif(UNDER_ASAN, reason="runs under AddressSanitizer are not quick")
def test_an_asyncio_client_learns_that_its_runs_are_quick(save):
    session = fastort.Session(save(gather_model()), threads=1)

    async def until_quick() -> int:
        deadline = time.monotonic() + 20
        awaited = 0
        while time.monotonic() < deadline:
            before = quick_runs()
            (result,) = await batcher.run_async({"rows": np.array([0, 2])})
            np.testing.assert_array_equal(result, [[0, 1, 2], [6, 7, 8]])
            awaited += 1
            if quick_runs() > before:
                return awaited
        return 0

    with fastort.Batcher(session) as batcher:
        assert asyncio.run(until_quick()) > 0


@pytest.mark.skipif(UNDER_ASAN, reason="runs under AddressSanitizer are not quick")
def test_close_from_python_code_inside_a_quick_run_returns(save):
    # A log callback (or a signal handler, a finalizer) runs on the thread of a quick run
    # before the run is over; close() there must not wait for that run.
    model = save(gather_model())
    process = run_python(
        f"""
        import numpy as np, fastort, fastort.onnxruntime as ort
        from gil import run_until_quick
        batcher = fastort.Batcher(fastort.Session({model!r}, threads=1))
        assert run_until_quick(lambda: batcher.run({{"rows": np.array([2])}}))
        closed = []
        def on_log(*record):
            batcher.close()
            closed.append(record)
        ort.set_default_logger_callback(on_log)
        try:
            batcher.run({{"rows": np.array([99])}})  # fails: ORT logs an error
        except fastort.FastortError:
            pass
        assert closed
        print("closed")
        """,
        timeout=60,
    )
    assert process.returncode == 0 and "closed" in process.stdout, describe(process)


def test_run_raises_the_error_of_its_own_run(save):
    session = fastort.Session(save(gather_model()), threads=1)
    with fastort.Batcher(session) as batcher:
        with pytest.raises(fastort.FastortError, match=r"out of|bounds|indices"):
            batcher.run({"rows": np.array([1, 99])})
        np.testing.assert_array_equal(batcher.run({"rows": np.array([2])})[0], [[6, 7, 8]])


def test_one_client_at_a_time_never_waits_for_company(add_session, xy):
    # A client that submits again as soon as it has its result must not find the batcher
    # "under load" (still handing results out) and wait out max_delay_ms for more rows.
    x, y = xy
    with fastort.Batcher(add_session, max_delay_ms=2000) as batcher:
        for _ in range(60):
            batcher.submit({"x": x, "y": y}).result(timeout=60)
        delays = batcher.stats()["queue_delay_ms"]
    assert delays["p90"] < 500, delays  # lingering would wait seconds; a queue, microseconds


def test_outputs_are_views_of_the_batch_and_outlive_everything(add_session, xy):
    x, y = xy
    batcher = fastort.Batcher(add_session, max_batch_size=8)
    z, w = batcher.submit({"x": x, "y": y}).result(timeout=30)
    assert not z.flags.owndata and not w.flags.owndata  # rows of the batch's outputs
    batcher.close()
    del batcher, add_session
    gc.collect()
    np.testing.assert_array_equal(z, x + y)
    np.testing.assert_array_equal(w, x * 2)


def test_inputs_are_copied_at_submit(add_session, xy):
    x, y = (a.copy() for a in xy)
    with fastort.Batcher(add_session) as batcher:
        future = batcher.submit({"x": x, "y": y})
        x[:] = 100  # after submit: the request has its own copy of the rows
        z, _ = future.result(timeout=30)
    np.testing.assert_array_equal(z, xy[0] + xy[1])


def test_different_trailing_shapes_go_to_separate_batches(save):
    session = fastort.Session(save(identity_model(TensorProto.FLOAT, ("N", None))), threads=1)
    with fastort.Batcher(session, max_batch_size=64, max_delay_ms=5) as batcher:
        arrays = [np.full((2, 1 + i % 3), i, np.float32) for i in range(30)]
        futures = [batcher.submit({"x": a}) for a in arrays]
        for array, future in zip(arrays, futures):
            np.testing.assert_array_equal(future.result(timeout=30)[0], array)


def test_a_request_larger_than_a_batch_runs_alone(add_session):
    x = np.arange(300, dtype=np.float32).reshape(100, 3)
    with fastort.Batcher(add_session, max_batch_size=4) as batcher:
        z, _ = batcher.submit({"x": x, "y": x}).result(timeout=30)
    np.testing.assert_array_equal(z, 2 * x)


# ---- errors ------------------------------------------------------------------------------


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
        long_run.result(timeout=60)
        for future in queued:
            future.result(timeout=60)
        assert batcher.stats()["rejected"] == 1


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


# ---- cancel, close, callbacks --------------------------------------------------------------


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


def test_batch_futures_work_with_concurrent_futures_wait(add_session, xy):
    # Not a concurrent.futures.Future, so wait() and as_completed() do not take it; result()
    # with a timeout does what they would.
    x, y = xy
    with fastort.Batcher(add_session) as batcher:
        futures = [batcher.submit({"x": x, "y": y}) for _ in range(10)]
        assert all(len(f.result(timeout=30)) == 2 for f in futures)


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


# ---- asyncio -------------------------------------------------------------------------------


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


# ---- process events -------------------------------------------------------------------------


@pytest.mark.skipif(
    UNDER_ASAN,
    reason="AddressSanitizer's runtime fails its own CHECK when a daemon thread throws while "
    "the process exits",
)
def test_exit_without_close_is_clean(add_path):
    process = run_python(
        """
        import sys, threading, numpy as np, fastort
        session = fastort.Session(sys.argv[1])
        batcher = fastort.Batcher(session, max_delay_ms=50)
        x = np.ones((2, 3), np.float32)
        batcher.submit({"x": x, "y": x}).add_done_callback(lambda f: None)

        def client():
            while True:
                batcher.submit({"x": x, "y": x}).result()

        def runner():
            while True:
                batcher.run({"x": x, "y": x})

        threading.Thread(target=client, daemon=True).start()
        threading.Thread(target=runner, daemon=True).start()
        for _ in range(50):
            batcher.submit({"x": x, "y": x})
        print("bye")
        """,
        add_path,
        timeout=60,
    )
    assert process.returncode == 0 and "bye" in process.stdout, describe(process)


# Where the workers are when the interpreter exits: waiting for the GIL to run a done-callback
# (the main thread keeps it until it exits), or inside one, running Python code that gives the
# GIL up and takes it back.
EXIT_DURING_CALLBACKS = {
    "waiting": """
        for _ in range(20):
            batcher.submit({"x": x}).add_done_callback(print)
        sys.setswitchinterval(1000)
        began = time.perf_counter()
        while time.perf_counter() - began < 0.5:
            pass
    """,
    "running": """
        started = threading.Event()

        def callback(future):
            started.set()
            began = time.perf_counter()
            while time.perf_counter() - began < 2:
                pass

        for _ in range(3):
            future = batcher.submit({"x": x})
            future.add_done_callback(callback)
            future.add_done_callback(print)
        assert started.wait(30)
    """,
}


@pytest.mark.parametrize("workers", [1, 3])
@pytest.mark.parametrize("where", sorted(EXIT_DURING_CALLBACKS))
def test_exit_during_done_callbacks_is_clean(save, workers, where):
    # Python ends a thread that takes the GIL back once the interpreter shuts down, by unwinding
    # it without the GIL: the batcher's teardown must not wait for such a worker (it hung), and
    # nothing may be released on the worker's way out (it crashed).
    process = run_python(
        """
        import sys, textwrap, threading, time, numpy as np, fastort
        session = fastort.Session(sys.argv[1], threads=1)
        batcher = fastort.Batcher(session, workers=int(sys.argv[2]))
        x = np.ones((64, 256), np.float32)
        exec(textwrap.dedent(sys.argv[3]))
        print("bye")
        """,
        save(mlp_model(width=256, layers=12), "slow.onnx"),
        str(workers),
        EXIT_DURING_CALLBACKS[where],
        timeout=60,
    )
    assert process.returncode == 0 and "bye" in process.stdout, describe(process)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork here")
def test_fork_leaves_the_child_able_to_make_its_own(add_path):
    process = run_python(
        """
        import os, sys, warnings, numpy as np, fastort
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads
        x = np.ones((2, 3), np.float32)
        session = fastort.Session(sys.argv[1])
        batcher = fastort.Batcher(session)
        batcher.submit({"x": x, "y": x}).result()
        pid = os.fork()
        if pid == 0:
            try:
                batcher.submit({"x": x, "y": x})
                os._exit(3)
            except fastort.FastortError as error:
                assert "fork" in str(error)
            with fastort.Batcher(fastort.Session(sys.argv[1])) as own:
                z, _ = own.submit({"x": x, "y": x}).result(timeout=30)
                assert (z == 2).all()
            batcher.close()  # the parent's: no workers here to wait for
            with batcher:
                pass
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, status
        z, _ = batcher.submit({"x": x, "y": x}).result(timeout=30)
        assert (z == 2).all()
        batcher.close()
        print("ok")
        """,
        add_path,
        timeout=60,
    )
    assert process.returncode == 0 and "ok" in process.stdout, describe(process)


# ---- warmup and threads -------------------------------------------------------------------


def test_warmup_runs_each_batch_size(add_session, save):
    add_session.warmup()
    add_session.warmup(batch_sizes=[1, 3, 64])
    with pytest.raises(fastort.InvalidArgumentError):
        add_session.warmup(batch_sizes=[0])
    fixed = fastort.Session(save(matmul_model(4), "fixed.onnx"))
    fixed.warmup(batch_sizes=[4])
    with pytest.raises(fastort.InvalidArgumentError, match="fixed first axis"):
        fixed.warmup(batch_sizes=[8])
    strings = fastort.Session(save(identity_model(TensorProto.STRING), "strings.onnx"))
    strings.warmup()


def test_threads_auto_is_the_default_and_shows_in_repr(add_path):
    budget = fastort._core.cpu_budget()
    assert 1 <= budget["session_threads"] <= budget["physical_cores"] <= budget["affinity"]
    assert budget["affinity"] <= budget["online"]
    session = fastort.Session(add_path)
    assert session.threads == budget["session_threads"]
    assert f"threads={session.threads}" in repr(session)
    assert fastort.Session(add_path, threads="auto").threads == session.threads
    assert fastort.Session(add_path, threads=3).threads == 3
    assert "threads=default" in repr(fastort.Session(add_path, threads=None))
    with pytest.raises(fastort.InvalidTypeError):
        fastort.Session(add_path, threads="many")  # type: ignore[arg-type]
    with pytest.raises(fastort.InvalidTypeError):
        fastort.Session(add_path, inter_op_threads="auto")  # type: ignore[arg-type]


AUTO_THREADS = """
import sys, fastort
print(fastort._core.cpu_budget()["session_threads"], fastort.Session(sys.argv[1]).threads,
      fastort._core.hardware_threads())
"""


def test_threads_auto_follows_omp_num_threads(add_path):
    process = run_python(AUTO_THREADS, add_path, env={"OMP_NUM_THREADS": "1"})
    assert process.returncode == 0, describe(process)
    assert process.stdout.split() == ["1", "1", "1"]
    process = run_python(AUTO_THREADS, add_path, env={"OMP_NUM_THREADS": "not a number"})
    budget = fastort._core.cpu_budget()
    assert process.stdout.split()[0] == str(budget["session_threads"]), describe(process)


@pytest.mark.skipif(shutil.which("taskset") is None, reason="no taskset")
def test_threads_auto_follows_the_affinity_mask(add_path):
    process = subprocess.run(
        ["taskset", "-c", "0", sys.executable, "-c", AUTO_THREADS, add_path],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"},
    )
    assert process.returncode == 0, describe(process)  # type: ignore[arg-type]
    assert process.stdout.split() == ["1", "1", "1"]


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts Linux threads")
def test_batchers_made_and_dropped_leave_no_threads(add_session, xy):
    x, y = xy

    def native_threads() -> int:
        return len(os.listdir("/proc/self/task"))

    fastort.Batcher(add_session).close()  # any thread made once per process exists now
    before = native_threads()
    for _ in range(50):
        batcher = fastort.Batcher(add_session)
        batcher.submit({"x": x, "y": y}).result(timeout=30)
        del batcher
    gc.collect()
    assert native_threads() == before
