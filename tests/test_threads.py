"""Concurrent runs on shared sessions, with the cache churning underneath."""

from __future__ import annotations

import threading

import numpy as np

import fastort
from gil import python_steps_during


def test_eight_threads_on_one_cached_session_while_the_cache_is_cleared(add_path):
    errors: list[BaseException] = []
    stop = threading.Event()

    def worker(seed: int) -> None:
        rng = np.random.default_rng(seed)
        try:
            for i in range(300):
                session = fastort.Session(add_path)  # a cache hit or a reload
                batch = 1 + (i % 5)
                x = rng.random((batch, 3), dtype=np.float32)
                y = rng.random((batch, 3), dtype=np.float32)
                z, w = session.run(None, {"x": x, "y": y})
                np.testing.assert_array_equal(z, x + y)
                np.testing.assert_array_equal(w, x * 2)
        except BaseException as error:
            errors.append(error)

    def churn() -> None:
        while not stop.is_set():
            fastort.clear_cache()

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(8)]
    churner = threading.Thread(target=churn)
    churner.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stop.set()
    churner.join()
    assert errors == []


def test_shared_session_with_out_buffers_per_thread(add_path):
    session = fastort.Session(add_path, threads=1)
    errors: list[BaseException] = []

    def worker(value: float) -> None:
        x = np.full((4, 3), value, np.float32)
        z = np.empty_like(x)
        try:
            for _ in range(2000):
                session.run(["z"], {"x": x, "y": x}, out={"z": z})
                assert (z == 2 * value).all()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(float(v),)) for v in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_the_gil_is_released_while_ort_runs(save):
    # One long MatMul on one ORT thread. If run() held the GIL, this thread could not count
    # while it runs; with the GIL released it counts freely.
    import onnx
    from onnx import TensorProto, helper

    size = 1536
    model = helper.make_model(
        helper.make_graph(
            [helper.make_node("MatMul", ["a", "a"], ["b"])],
            "matmul",
            [helper.make_tensor_value_info("a", TensorProto.FLOAT, [size, size])],
            [helper.make_tensor_value_info("b", TensorProto.FLOAT, [size, size])],
        ),
        opset_imports=[helper.make_opsetid("", 17)],
    )
    onnx.checker.check_model(model)
    session = fastort.Session(save(model, "matmul.onnx"), threads=1)
    a = np.ones((size, size), np.float32)
    session.run(None, {"a": a})  # warm-up
    assert python_steps_during(lambda: session.run(None, {"a": a})) > 1000
