"""Stopping runs from outside: RunOptions' terminate flag and timeout, Ctrl-C and signal handlers.

The model runs forever unless stopped; each scenario that could hang runs in a child process
with a time limit, so a regression fails the test instead of hanging the suite.
"""

from __future__ import annotations

import math
import textwrap
import threading

import numpy as np
import pytest

import fastort
from hammer import parallelize
from isolated import describe, run_python
from models import endless_model, matmul_model, mlp_model

X = {"x": np.zeros(1, np.float32)}


@pytest.fixture
def endless_path(save) -> str:
    return save(endless_model(), "endless.onnx")


def _child(code: str, path: str) -> str:
    process = run_python(
        "import os, signal, sys, threading, time, numpy as np, fastort\n"
        "session = fastort.Session(sys.argv[1])\n"
        "X = {'x': np.zeros(1, np.float32)}\n" + textwrap.dedent(code),
        path,
        timeout=60,
    )
    assert process.returncode == 0, describe(process)
    return process.stdout


def test_a_timeout_stops_the_run_and_the_thread_runs_again(endless_path, add_path):
    out = _child(
        """
        try:
            session.run(None, X, fastort.RunOptions(timeout=0.2))
        except fastort.RunTimeoutError as error:
            print(isinstance(error, TimeoutError), isinstance(error, fastort.FastortError))
            print(error)
        add = fastort.Session(sys.argv[2])
        ones = np.ones((1, 3), np.float32)
        print(add.run(["z"], {"x": ones, "y": ones})[0].tolist())
        """.replace("sys.argv[2]", repr(add_path)),
        endless_path,
    )
    assert out.splitlines() == [
        "True True",
        "the run was stopped after its timeout of 0.2 s",
        "[[2.0, 2.0, 2.0]]",
    ]


def test_terminate_from_another_thread(endless_path):
    out = _child(
        """
        options = fastort.RunOptions()
        threading.Timer(0.2, lambda: setattr(options, "terminate", True)).start()
        try:
            session.run(None, X, options)
        except fastort.RunTerminatedError as error:
            print("stopped:", error)
        try:
            session.run(None, X, options)  # still set: fails at once
        except fastort.RunTerminatedError:
            print("refused while set")
        """,
        endless_path,
    )
    assert out.splitlines() == [
        "stopped: the run was terminated: its RunOptions' terminate flag was set",
        "refused while set",
    ]


def test_terminate_stops_every_run_sharing_the_options(endless_path):
    session = fastort.Session(endless_path)
    options = fastort.RunOptions()
    threading.Timer(0.2, lambda: setattr(options, "terminate", True)).start()

    def worker(index: int) -> str:
        with pytest.raises(fastort.RunTerminatedError) as info:
            session.run(None, X, options)
        return str(info.value)

    assert set(parallelize(worker, 3, timeout=60)) == {
        "the run was terminated: its RunOptions' terminate flag was set"
    }
    options.terminate = False
    assert options.terminate is False


def test_ctrl_c_raises_keyboard_interrupt(endless_path):
    out = _child(
        """
        # Python leaves SIGINT alone when it starts ignored (a job run in the background).
        signal.signal(signal.SIGINT, signal.default_int_handler)
        main = threading.main_thread().ident
        threading.Timer(0.3, lambda: signal.pthread_kill(main, signal.SIGINT)).start()
        try:
            session.run(None, X)
        except KeyboardInterrupt:
            print("KeyboardInterrupt")
        """,
        endless_path,
    )
    assert out == "KeyboardInterrupt\n"


def test_a_sigalrm_handler_raising_timeout_error(endless_path):
    out = _child(
        """
        def expire(signum, frame):
            raise TimeoutError("too slow")

        signal.signal(signal.SIGALRM, expire)
        for attempt in range(3):  # again and again: the watchdog stays armed
            signal.setitimer(signal.ITIMER_REAL, 0.2)
            try:
                session.run(None, X)
            except TimeoutError as error:
                print(type(error).__name__, error)
        """,
        endless_path,
    )
    assert out == "TimeoutError too slow\n" * 3


def test_a_handler_that_returns_lets_the_run_start_again(endless_path):
    # After a handler returned, its signal waits for runs to end for 1 s, then 2 s: the third
    # signal that stops this endless run comes about 3 s after the first.
    out = _child(
        """
        calls = []

        def count(signum, frame):
            calls.append(signum)
            if len(calls) == 3:
                raise RuntimeError("third signal")

        signal.signal(signal.SIGALRM, count)
        signal.setitimer(signal.ITIMER_REAL, 0.1, 0.1)
        try:
            session.run(None, X)
        except RuntimeError as error:
            signal.setitimer(signal.ITIMER_REAL, 0)
            print(error, len(calls))
        """,
        endless_path,
    )
    assert out == "third signal 3\n"


def test_runs_finish_under_a_timer_signal_more_frequent_than_they_are_long(save):
    # A sampling profiler's SIGPROF, a heartbeat: its handler returns, and each run it stopped
    # would start again only to be stopped again. After the first time, it waits for runs.
    path = save(matmul_model(600), "matmul.onnx")
    out = _child(
        """
        a = np.random.default_rng(0).standard_normal((600, 600)).astype(np.float32)
        ticks = []
        signal.signal(signal.SIGALRM, lambda signum, frame: ticks.append(signum))
        signal.setitimer(signal.ITIMER_REAL, 0.002, 0.002)
        started = time.perf_counter()
        for _ in range(5):
            (b,) = session.run(None, {"a": a})
        signal.setitimer(signal.ITIMER_REAL, 0)
        np.testing.assert_allclose(b, a @ a, rtol=1e-3, atol=1e-2)
        print(len(ticks) > 0, time.perf_counter() - started < 30)
        """,
        path,
    )
    assert out == "True True\n"


def test_a_signal_stops_a_batcher_run_on_the_callers_thread(save):
    # An idle batcher runs the request on the caller's thread, as Session.run runs it: a
    # signal's exception stops it there too, long before the run would end.
    path = save(mlp_model(width=256, layers=12), "slow.onnx")
    out = _child(
        """
        x = {"x": np.ones((20000, 256), np.float32)}
        started = time.perf_counter()
        session.run(None, x)
        whole = time.perf_counter() - started
        batcher = fastort.Batcher(session)

        def expire(signum, frame):
            raise TimeoutError("late")

        signal.signal(signal.SIGALRM, expire)
        signal.setitimer(signal.ITIMER_REAL, 0.02)
        started = time.perf_counter()
        try:
            batcher.run(x)
        except TimeoutError:
            print("stopped early:", time.perf_counter() - started < whole / 2)
        batcher.close()
        """,
        path,
    )
    assert out == "stopped early: True\n"


def test_an_asyncio_loops_wakeup_fd_is_left_alone(endless_path, add_path):
    # The loop owns Python's wakeup fd for its signal handlers; runs must not take it away.
    out = _child(
        """
        import asyncio

        add = fastort.Session(sys.argv[2])
        ones = np.ones((1, 3), np.float32)

        async def main():
            loop = asyncio.get_running_loop()
            received = asyncio.Event()
            loop.add_signal_handler(signal.SIGUSR1, received.set)
            add.run(None, {"x": ones, "y": ones})
            time.sleep(1.1)  # past the watchdog's periodic check
            add.run(None, {"x": ones, "y": ones})
            os.kill(os.getpid(), signal.SIGUSR1)
            await asyncio.wait_for(received.wait(), 10)
            print("handled by the loop")

        asyncio.run(main())
        """.replace("sys.argv[2]", repr(add_path)),
        endless_path,
    )
    assert out == "handled by the loop\n"


def test_run_options_values_and_validation(add_path):
    options = fastort.RunOptions(
        log_severity_level=3,
        tag="request-17",
        timeout=2.5,
        config={"memory.enable_memory_arena_shrinkage": "cpu:0"},
    )
    assert (options.log_severity_level, options.tag, options.timeout) == (3, "request-17", 2.5)
    assert options.config == {"memory.enable_memory_arena_shrinkage": "cpu:0"}
    assert options.terminate is False
    session = fastort.Session(add_path)
    ones = np.ones((2, 3), np.float32)
    (z,) = session.run(["z"], {"x": ones, "y": ones}, options)
    assert z.tolist() == [[2.0] * 3] * 2
    assert options.replace(timeout=None).timeout is None
    assert options.replace(tag="other").tag == "other"
    assert fastort.RunOptions().log_severity_level == -1  # the session's
    with pytest.raises(fastort.InvalidArgumentError, match="log_severity_level"):
        fastort.RunOptions(log_severity_level=7)
    for timeout in (-1, 0, math.nan, math.inf):
        with pytest.raises(fastort.InvalidArgumentError, match="timeout"):
            fastort.RunOptions(timeout=timeout)
    with pytest.raises(fastort.InvalidTypeError, match="timeout"):
        fastort.RunOptions(timeout="1")
    with pytest.raises(fastort.InvalidTypeError, match="config"):
        fastort.RunOptions(config=["a"])
    with pytest.raises(
        fastort.InvalidTypeError, match=r"run_options must be a fastort\.RunOptions"
    ):
        session.run(None, {"x": ones, "y": ones}, run_options={"timeout": 1})
    with pytest.raises(fastort.InvalidArgumentError):
        session.run(None, {"x": ones, "y": ones}, fastort.RunOptions(config={"": "x"}))


def test_runs_off_the_main_thread_are_not_slowed_or_stopped_by_signals(add_path):
    session = fastort.Session(add_path)
    ones = np.ones((2, 3), np.float32)
    results = []
    thread = threading.Thread(
        target=lambda: results.append(session.run(["z"], {"x": ones, "y": ones}))
    )
    thread.start()
    thread.join()
    assert results[0][0].tolist() == [[2.0] * 3] * 2
