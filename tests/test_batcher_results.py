"""Batcher results: every request gets its own rows, zero-copy, quick requests, idle batchers."""

from __future__ import annotations

import asyncio
import gc
import time

import numpy as np
import pytest
from onnx import TensorProto

import fastort
from gil import quick_runs, run_until_quick
from hammer import parallelize
from isolated import UNDER_ASAN, describe, run_python
from models import gather_model, identity_model, mlp_model


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
