"""Concurrent runs on shared sessions, with the cache churning underneath."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from onnx import TensorProto, helper

import fastort
from gil import python_steps_during, quick_runs, run_until_quick
from hammer import parallelize
from isolated import UNDER_ASAN, describe, run_python
from models import make_model, matmul_model, range_model


@pytest.mark.slow
def test_eight_threads_on_one_cached_session_while_the_cache_is_cleared(add_path):
    stop = threading.Event()
    churns = []

    def churn() -> None:
        while not stop.is_set():
            fastort.clear_cache()
            churns.append(1)

    def worker(seed: int) -> int:
        rng = np.random.default_rng(seed)
        for i in range(300):
            session = fastort.Session(add_path)  # a cache hit or a reload
            batch = 1 + (i % 5)
            x = rng.random((batch, 3), dtype=np.float32)
            y = rng.random((batch, 3), dtype=np.float32)
            z, w = session.run(None, {"x": x, "y": y})
            np.testing.assert_array_equal(z, x + y)
            np.testing.assert_array_equal(w, x * 2)
        return i + 1

    churner = threading.Thread(target=churn)
    churner.start()
    try:
        assert parallelize(worker, 8) == [300] * 8
    finally:
        stop.set()
        churner.join()
    assert churns, "the cache was never cleared while the threads ran"


def test_shared_session_with_out_buffers_per_thread(add_path):
    session = fastort.Session(add_path, threads=1)

    def worker(index: int) -> bool:
        x = np.full((4, 3), float(index), np.float32)
        z = np.empty_like(x)
        for _ in range(2000):
            session.run(["z"], {"x": x, "y": x}, out={"z": z})
            assert (z == 2 * index).all()
        return True

    assert parallelize(worker, 8) == [True] * 8


def test_the_gil_is_released_while_ort_runs(save):
    # One long MatMul on one ORT thread. If run() held the GIL, this thread could not count
    # while it runs; with the GIL released it counts freely.
    size = 1536
    session = fastort.Session(save(matmul_model(size), "matmul.onnx"), threads=1)
    a = np.ones((size, size), np.float32)
    session.run(None, {"a": a})  # warm-up
    assert python_steps_during(lambda: session.run(None, {"a": a})) > 1000


@pytest.mark.skipif(UNDER_ASAN, reason="runs under AddressSanitizer are not quick")
def test_runs_of_a_few_microseconds_keep_the_gil(sigmoid_path):
    # Handing the GIL to another thread and back costs more than such a run: eight threads
    # calling run() would get less done than one. The runs' results are unchanged.
    session = fastort.Session(sigmoid_path, threads=1)
    x = np.random.default_rng(0).standard_normal((3, 4, 5)).astype(np.float32)
    expected = 1 / (1 + np.exp(-x))
    assert run_until_quick(lambda: session.run(None, {"x": x})), "no run was found quick"

    def worker(index: int) -> bool:
        for _ in range(500):
            np.testing.assert_allclose(session.run(None, {"x": x})[0], expected, rtol=1e-6)
        return True

    assert parallelize(worker, 8) == [True] * 8


def test_sessions_whose_ort_threads_may_need_the_gil_never_keep_it(sigmoid_path):
    # Nodes run side by side on the inter-op pool, or custom operators, may call into Python
    # from ORT's threads: the GIL must be free however quick the run.
    import fastort.onnxruntime as ort

    options = ort.SessionOptions()
    options.execution_mode = ort.ExecutionMode.ORT_PARALLEL
    session = ort.InferenceSession(sigmoid_path, options)
    x = np.zeros((3, 4, 5), np.float32)
    before = quick_runs()
    for _ in range(300):
        session.run(None, {"x": x})
    assert quick_runs() == before


@pytest.mark.skipif(UNDER_ASAN, reason="runs under AddressSanitizer are not quick")
def test_a_model_whose_runs_turn_long_gets_the_gil_released_again(save):
    # Its run time follows the value of an input, not the inputs' shapes: after quick runs, a
    # long one may keep the GIL once, then runs release it again, quick ones too (until a
    # pause of some hundred runs is over).
    session = fastort.Session(save(range_model()), threads=1)

    def run(count: int) -> int:
        return len(session.run(None, {"n": np.array(count, np.float32)})[0])

    long_run = 30_000_000  # tens of milliseconds
    assert run_until_quick(lambda: run(1))
    assert run(long_run) == long_run  # may keep the GIL: nothing told it from run(1) before
    before = quick_runs()
    assert python_steps_during(lambda: run(long_run)) > 100
    assert run(1) == 1
    assert quick_runs() == before


@pytest.mark.skipif(UNDER_ASAN, reason="runs under AddressSanitizer are not quick")
def test_runs_of_other_shapes_are_not_taken_for_quick_ones(save):
    # As many input bytes, but broadcast to 27 million elements instead of 900.
    node = helper.make_node("Sum", ["x", "y", "z"], ["s"])
    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [None] * 3) for n in "xyz"]
    output = helper.make_tensor_value_info("s", TensorProto.FLOAT, [None] * 3)
    session = fastort.Session(save(make_model([node], inputs, [output])), threads=1)
    one = np.ones((1, 1, 1), np.float32)
    assert run_until_quick(
        lambda: session.run(None, {"x": np.ones((900, 1, 1), np.float32), "y": one, "z": one})
    )
    x, y, z = (np.ones(shape, np.float32) for shape in ((300, 1, 1), (1, 300, 1), (1, 1, 300)))
    before = quick_runs()
    assert python_steps_during(lambda: session.run(None, {"x": x, "y": y, "z": z})) > 1000
    assert quick_runs() == before


@pytest.mark.skipif(
    UNDER_ASAN, reason="AddressSanitizer's runtime aborts on its own when threads run during exit"
)
@pytest.mark.parametrize("work", ["run", "transform"])
def test_daemon_threads_inside_fastort_at_interpreter_exit(save, work):
    # The interpreter exits while daemon threads are inside run() or a transform, with the GIL
    # released. Taking it back then must not abort the process.
    process = run_python(
        """
        import sys, threading, time, numpy as np, fastort

        session = fastort.Session(sys.argv[1], threads=1)
        a = np.ones((512, 512), np.float32)
        image = np.zeros((2000, 3000, 3), np.uint8)
        transform = fastort.ImageTransform(threads=1)

        def work():
            while True:
                if sys.argv[2] == "run":
                    session.run(None, {"a": a})
                else:
                    transform(image)

        for _ in range(4):
            threading.Thread(target=work, daemon=True).start()
        time.sleep(0.3)
        print("exiting")
        """,
        save(matmul_model(512), "matmul.onnx"),
        work,
    )
    assert process.returncode == 0, describe(process)
    assert process.stdout == "exiting\n"


@pytest.mark.skipif(
    UNDER_ASAN, reason="AddressSanitizer's runtime aborts on its own when threads run during exit"
)
def test_daemon_threads_taking_the_gil_back_at_interpreter_exit(sigmoid_path):
    # Many tiny runs: the threads take the GIL back thousands of times a second, so the exit
    # catches some of them doing it, which CPython answers by ending the thread with
    # pthread_exit. That unwinding must pass through run(); swallowing it aborted the
    # process ("FATAL: exception not rethrown") in every one of 30 tries.
    script = """
        import sys, threading, time, numpy as np, fastort

        session = fastort.Session(sys.argv[1], threads=1)
        x = np.ones((3, 4, 5), np.float32)
        call = session.prepare({"x": x})

        def work(index):
            while True:
                if index % 2:
                    session.run(None, {"x": x})
                else:
                    call.run()

        for index in range(8):
            threading.Thread(target=work, args=(index,), daemon=True).start()
        time.sleep(0.2)
        print("exiting")
        """
    for _ in range(3):
        process = run_python(script, sigmoid_path)
        assert process.returncode == 0, describe(process)
        assert process.stdout == "exiting\n"
