"""The serving benchmark's models and load: the MLP and Sigmoid models, PythonBatcher (the
baseline), closed-loop clients and open-loop Poisson arrivals."""

from __future__ import annotations

import concurrent.futures
import queue
import statistics
import threading
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import fastort

MLP_WIDTHS = (256, 1024, 1024, 10)
# The workers comparison: clients, each submitting this many rows at a time.
WORKER_CLIENTS, WORKER_ROWS = 8, 8


def _save(graph: onnx.GraphProto, path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # ONNX Runtime releases older than the onnx package accept IR 8
    onnx.checker.check_model(model)
    onnx.save_model(model, path)
    return path


def mlp_model(path: Path, seed: int = 0) -> Path:
    """x float32[N, 256] -> y float32[N, 10]: MatMul + bias + Relu layers, fixed weights."""
    rng = np.random.default_rng(seed)
    nodes, weights, name = [], [], "x"
    layers = len(MLP_WIDTHS) - 1
    for layer, (fan_in, fan_out) in enumerate(zip(MLP_WIDTHS, MLP_WIDTHS[1:])):
        weight = (rng.standard_normal((fan_in, fan_out)) / np.sqrt(fan_in)).astype(np.float32)
        bias = (rng.standard_normal(fan_out) * 0.1).astype(np.float32)
        weights += [
            numpy_helper.from_array(weight, f"w{layer}"),
            numpy_helper.from_array(bias, f"b{layer}"),
        ]
        nodes.append(helper.make_node("MatMul", [name, f"w{layer}"], [f"m{layer}"]))
        added = "y" if layer == layers - 1 else f"a{layer}"
        nodes.append(helper.make_node("Add", [f"m{layer}", f"b{layer}"], [added]))
        if layer < layers - 1:
            name = f"r{layer}"
            nodes.append(helper.make_node("Relu", [added], [name]))
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", MLP_WIDTHS[0]])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", MLP_WIDTHS[-1]])],
        weights,
    )
    return _save(graph, path)


def sigmoid_model(path: Path) -> Path:
    """x float32[N, 5] -> y float32[N, 5]."""
    graph = helper.make_graph(
        [helper.make_node("Sigmoid", ["x"], ["y"])],
        "sigmoid",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 5])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 5])],
    )
    return _save(graph, path)


class PythonBatcher:
    """The baseline: dynamic batching in pure Python, with the Batcher's policy.

    A `queue.Queue` of (feed, Future) and one worker thread that takes a request, waits at
    most `max_delay_ms` for more (up to `max_batch_size` rows), joins the rows with
    `np.concatenate`, runs once and hands each request its rows of the outputs through a
    `concurrent.futures.Future`. This is what `@serve.batch`-style batching costs.
    """

    def __init__(self, session: fastort.Session, max_batch_size: int, max_delay_ms: float) -> None:
        self._session = session
        self._max_rows = max_batch_size
        self._delay = max_delay_ms / 1e3
        self._queue: queue.Queue[Any] = queue.Queue()
        self._worker = threading.Thread(target=self._work, daemon=True)
        self._worker.start()

    def submit(self, feed: dict[str, np.ndarray]) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._queue.put((feed, future))
        return future

    def close(self) -> None:
        self._queue.put(None)
        self._worker.join()

    def _gather(self, first: Any) -> list[Any]:
        batch, rows = [first], len(next(iter(first[0].values())))
        deadline = time.perf_counter() + self._delay
        while rows < self._max_rows:
            remaining = deadline - time.perf_counter()
            try:
                if remaining > 0:
                    item = self._queue.get(timeout=remaining)
                else:
                    item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                self._queue.put(None)  # close(): run this batch, then stop
                break
            batch.append(item)
            rows += len(next(iter(item[0].values())))
        return batch

    def _work(self) -> None:
        while (first := self._queue.get()) is not None:
            batch = self._gather(first)
            names = list(batch[0][0])
            joined = {name: np.concatenate([feed[name] for feed, _ in batch]) for name in names}
            try:
                outputs = self._session.run(None, joined)
            except Exception as error:
                for _, future in batch:
                    future.set_exception(error)
                continue
            start = 0
            for feed, future in batch:
                stop = start + len(feed[names[0]])
                future.set_result([output[start:stop] for output in outputs])
                start = stop


def closed_loop(call: Callable[[], object], threads: int, seconds: float) -> float:
    """Requests per second of `threads` threads each calling `call` back to back."""
    counts = [0] * threads
    barrier = threading.Barrier(threads + 1)
    stop = 0.0

    def client(index: int) -> None:
        barrier.wait()
        count = 0
        while time.perf_counter() < stop:
            call()
            count += 1
        counts[index] = count

    clients = [threading.Thread(target=client, args=(i,)) for i in range(threads)]
    for thread in clients:
        thread.start()
    stop = time.perf_counter() + seconds
    start = time.perf_counter()
    barrier.wait()
    for thread in clients:
        thread.join()
    return sum(counts) / (time.perf_counter() - start)


def summary(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def interleaved_throughput(
    methods: dict[str, tuple[Callable[[], object], int]], repetitions: int, seconds: float
) -> dict[str, Any]:
    """Rows/s of each method (call, threads), repetitions interleaved; samples kept."""
    for call, _ in methods.values():
        call()
    names = list(methods)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for repetition in range(repetitions):
        shift = repetition % len(names)
        for name in names[shift:] + names[:shift]:
            call, threads = methods[name]
            samples[name].append(closed_loop(call, threads, seconds))
    return {
        name: {"threads": methods[name][1], "rows_per_s": summary(values), "samples": values}
        for name, values in samples.items()
    }


def ratio(part: dict[str, Any], ours: str, peer: str) -> dict[str, float]:
    """ours / peer throughput, repetition by repetition."""
    pairs = zip(part[ours]["samples"], part[peer]["samples"])
    return summary([a / b for a, b in pairs])


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def open_loop(batcher: fastort.Batcher, rate: float, seconds: float, seed: int) -> dict[str, Any]:
    """Poisson arrivals at `rate` per second from one thread; latency from each request's
    scheduled arrival (so a late submit counts against the batcher) to its completion.
    Requests refused with QueueFullError (an overloaded batcher) are counted, not timed."""
    rng = np.random.default_rng(seed)
    arrivals = np.cumsum(rng.exponential(1.0 / rate, int(rate * seconds) + 1))
    arrivals = arrivals[arrivals < seconds]
    feed = {"x": rng.standard_normal((1, 256)).astype(np.float32)}
    done = [0.0] * len(arrivals)
    accepted, futures = [], []
    start = time.perf_counter()
    for index, due in enumerate(arrivals):
        wait = start + due - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        try:
            future = batcher.submit(feed)
        except fastort.QueueFullError:
            continue
        future.add_done_callback(lambda _, i=index: done.__setitem__(i, time.perf_counter()))
        accepted.append(index)
        futures.append(future)
    for future in futures:
        future.result()
    latencies = [(done[i] - start - arrivals[i]) * 1e3 for i in accepted]
    return {
        "offered_per_s": rate,
        "achieved_per_s": len(accepted) / (max(done) - start),
        "requests": len(arrivals),
        "rejected": len(arrivals) - len(accepted),
        **{f"p{q}_ms": percentile(latencies, q) for q in (50, 90, 99)},
    }
