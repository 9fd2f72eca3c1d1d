"""Serving many requests: `fastort.Batcher` against direct `run` calls and a Python batcher.

Every request is one row. Methods are measured side by side in one process, their
repetitions interleaved (each repetition starts one method further along); each figure is
the median over repetitions with its min-max range, and each ratio is taken repetition by
repetition. All sessions have one intra-op thread (`threads=1`, stated in the output; the
default is "auto") unless `--threads` says otherwise.

  throughput   MLP float32 256 -> 1024 -> 1024 -> 10 (x: float32[1, 256] per request),
               16 Python threads in a closed loop, each submitting one row and waiting:
               Batcher(max_batch_size=32, max_delay_ms=2).submit(feed).result() and
               .run(feed) (which runs at once on the caller's thread when idle), the same
               threads calling `session.run`, and `PythonBatcher`, the same policy in pure
               Python (what `@serve.batch`-style batching costs)
  tiny model   Sigmoid float32[N, 5] (x: float32[1, 5]): 8 threads through the Batcher, one
               thread calling `run`, 8 threads calling `run`, 8 threads through PythonBatcher
  new batcher  Sigmoid: one asyncio client awaiting `run_async`, each repetition on a new
               session and batcher (which find out by themselves that its runs are quick),
               against `run` on that session
  workers      MLP, 8 threads each submitting 8 rows: Batcher(workers=2) against
               Batcher(workers=1) (batches side by side on a session of one thread), and the
               same threads calling `run`
  latency      one request at a time from one thread, MLP, Batcher(max_delay_ms=10) against
               `run`: median and p99
  asyncio      1000 concurrent `await batcher.run_async(...)` in one loop, MLP: the longest
               stall of a 1 ms ticker task
  under load   open-loop Poisson arrivals from one thread at fractions of the Batcher's
               throughput above, MLP: p50/p90/p99 latency from each request's scheduled
               arrival to its completion (recorded by `add_done_callback`)

    python -m bench.bench_serving [--quick] [--repetitions 5] [--json FILE] [--plot FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import json
import queue
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import fastort

HERE = Path(__file__).resolve().parent
MLP_WIDTHS = (256, 1024, 1024, 10)
MAX_BATCH_SIZE = 32
MAX_DELAY_MS = 2.0
LOADS = (0.25, 0.5, 0.7, 0.9)  # offered load, as a fraction of the Batcher's throughput


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


def clients_throughput(
    session: fastort.Session,
    feed: dict[str, np.ndarray],
    threads: int,
    repetitions: int,
    seconds: float,
    *,
    one_thread_run: bool,
) -> dict[str, Any]:
    """Rows/s of `threads` closed-loop clients through the Batcher (submit and run), calling
    `run` directly (and one thread calling it, when asked), and through PythonBatcher."""
    with fastort.Batcher(session, max_batch_size=MAX_BATCH_SIZE, max_delay_ms=MAX_DELAY_MS) as ours:
        python = PythonBatcher(session, MAX_BATCH_SIZE, MAX_DELAY_MS)
        methods: dict[str, tuple[Callable[[], object], int]] = {
            "Batcher": (lambda: ours.submit(feed).result(), threads),
            "Batcher.run": (lambda: ours.run(feed), threads),
        }
        if one_thread_run:
            methods["run, 1 thread"] = (lambda: session.run(None, feed), 1)
        methods["run"] = (lambda: session.run(None, feed), threads)
        methods["PythonBatcher"] = (lambda: python.submit(feed).result(), threads)
        try:
            part = interleaved_throughput(methods, repetitions, seconds)
        finally:
            python.close()
        part["Batcher"]["stats"] = ours.stats()
    return part


def throughput_mlp(session: fastort.Session, repetitions: int, seconds: float) -> dict[str, Any]:
    feed = {"x": np.random.default_rng(1).standard_normal((1, 256)).astype(np.float32)}
    part = clients_throughput(session, feed, 16, repetitions, seconds, one_thread_run=False)
    return {
        "methods": part,
        "Batcher / run": ratio(part, "Batcher", "run"),
        "Batcher.run / run": ratio(part, "Batcher.run", "run"),
        "Batcher / PythonBatcher": ratio(part, "Batcher", "PythonBatcher"),
    }


def throughput_tiny(session: fastort.Session, repetitions: int, seconds: float) -> dict[str, Any]:
    feed = {"x": np.random.default_rng(2).standard_normal((1, 5)).astype(np.float32)}
    part = clients_throughput(session, feed, 8, repetitions, seconds, one_thread_run=True)
    return {
        "methods": part,
        "Batcher / run, 1 thread": ratio(part, "Batcher", "run, 1 thread"),
        "Batcher.run / run, 1 thread": ratio(part, "Batcher.run", "run, 1 thread"),
        "Batcher / run": ratio(part, "Batcher", "run"),
        "Batcher / PythonBatcher": ratio(part, "Batcher", "PythonBatcher"),
    }


WORKER_CLIENTS, WORKER_ROWS = 8, 8


def throughput_workers(
    session: fastort.Session, repetitions: int, seconds: float
) -> dict[str, Any]:
    """Rows/s of 8 clients x 8 rows through Batchers of one and of two workers, and calling
    `run`: what running batches side by side gives when the batches keep the cores busy."""
    rows = np.random.default_rng(4).standard_normal((WORKER_ROWS, 256)).astype(np.float32)
    feed = {"x": rows}
    options = {"max_batch_size": MAX_BATCH_SIZE, "max_delay_ms": MAX_DELAY_MS}
    with (
        fastort.Batcher(session, workers=1, **options) as one,
        fastort.Batcher(session, workers=2, **options) as two,
    ):
        part = interleaved_throughput(
            {
                "Batcher, 1 worker": (lambda: one.submit(feed).result(), WORKER_CLIENTS),
                "Batcher, 2 workers": (lambda: two.submit(feed).result(), WORKER_CLIENTS),
                "run": (lambda: session.run(None, feed), WORKER_CLIENTS),
            },
            repetitions,
            seconds,
        )
    for method in part.values():  # requests/s -> rows/s
        method["rows_per_s"] = {k: v * WORKER_ROWS for k, v in method["rows_per_s"].items()}
        method["samples"] = [v * WORKER_ROWS for v in method["samples"]]
    return {
        "methods": part,
        "2 workers / 1 worker": ratio(part, "Batcher, 2 workers", "Batcher, 1 worker"),
        "2 workers / run": ratio(part, "Batcher, 2 workers", "run"),
    }


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def one_at_a_time(session: fastort.Session, repetitions: int, calls: int) -> dict[str, Any]:
    """Latency in ms of one request at a time, Batcher(max_delay_ms=10) against run."""
    feed = {"x": np.random.default_rng(3).standard_normal((1, 256)).astype(np.float32)}
    with fastort.Batcher(session, max_batch_size=MAX_BATCH_SIZE, max_delay_ms=10.0) as ours:
        methods: dict[str, Callable[[], object]] = {
            "Batcher": lambda: ours.submit(feed).result(),
            "Batcher.run": lambda: ours.run(feed),
            "run": lambda: session.run(None, feed),
        }
        samples: dict[str, list[float]] = {name: [] for name in methods}
        medians: dict[str, list[float]] = {name: [] for name in methods}
        for call in methods.values():
            call()
        for repetition in range(repetitions):
            shift = repetition % len(methods)
            names = list(methods)[shift:] + list(methods)[:shift]
            for name in names:
                times = []
                for _ in range(calls):
                    start = time.perf_counter()
                    methods[name]()
                    times.append((time.perf_counter() - start) * 1e3)
                samples[name] += times
                medians[name].append(statistics.median(times))
    result: dict[str, Any] = {
        name: {
            "median_ms": statistics.median(values),
            "p99_ms": percentile(values, 99),
            "repetition_medians_ms": summary(medians[name]),
        }
        for name, values in samples.items()
    }
    result["extra median ms"] = summary([a - b for a, b in zip(medians["Batcher"], medians["run"])])
    return result


async def _gather_with_ticker(batcher: fastort.Batcher, feeds: list[dict[str, Any]]) -> float:
    longest = 0.0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal longest
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            longest = max(longest, now - last)
            last = now

    ticking = asyncio.ensure_future(ticker())
    await asyncio.sleep(0.01)
    await asyncio.gather(*[batcher.run_async(feed) for feed in feeds])
    stop.set()
    await ticking
    return longest * 1e3


def loop_stall(session: fastort.Session, repetitions: int, requests: int = 1000) -> dict[str, Any]:
    rng = np.random.default_rng(4)
    feeds = [{"x": rng.standard_normal((1, 256)).astype(np.float32)} for _ in range(requests)]
    stalls = []
    with fastort.Batcher(session, max_batch_size=MAX_BATCH_SIZE, max_delay_ms=MAX_DELAY_MS) as ours:
        for _ in range(repetitions):
            stalls.append(asyncio.run(_gather_with_ticker(ours, feeds)))
    return {"requests": requests, "longest_stall_ms": summary(stalls)}


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


def under_load(
    session: fastort.Session, capacity: float, loads: tuple[float, ...], seconds: float
) -> dict[str, Any]:
    with fastort.Batcher(session, max_batch_size=MAX_BATCH_SIZE, max_delay_ms=MAX_DELAY_MS) as ours:
        ours.submit({"x": np.zeros((1, 256), np.float32)}).result()
        points = {
            f"{load:g}": {"load": load, **open_loop(ours, load * capacity, seconds, seed=10 + i)}
            for i, load in enumerate(loads)
        }
    return {"capacity_per_s": capacity, "points": points}


def plot_latency(load: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    points = sorted(load["points"].values(), key=lambda point: point["load"])
    figure, axis = plt.subplots(figsize=(6, 4))
    for q, style in (("p50", "o-"), ("p90", "s--"), ("p99", "^:")):
        axis.plot([100 * p["load"] for p in points], [p[f"{q}_ms"] for p in points], style, label=q)
    axis.set_yscale("log")
    axis.yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    axis.set_xlabel(f"offered load, % of the Batcher's {load['capacity_per_s']:.0f} rows/s")
    axis.set_ylabel("latency, ms (log scale)")
    axis.set_title("MLP 256-1024-1024-10, Batcher(32, 2 ms), Poisson arrivals")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def asyncio_client(path: Path, threads: int, repetitions: int, requests: int) -> dict[str, Any]:
    """Microseconds per request of one asyncio client awaiting `run_async` on the tiny model,
    each repetition with a new session and batcher (no `run` has shown them which runs are
    quick: the batcher finds out itself), against `run` on the same session after it."""
    feed = {"x": np.random.default_rng(4).standard_normal((1, 5)).astype(np.float32)}
    ours, theirs = [], []
    for _ in range(repetitions):
        session = fastort.Session(path, threads=threads, cache=False)
        with fastort.Batcher(session, max_batch_size=MAX_BATCH_SIZE) as batcher:

            async def client() -> float:
                start = time.perf_counter()
                for _ in range(requests):
                    await batcher.run_async(feed)
                return time.perf_counter() - start

            ours.append(asyncio.run(client()) / requests * 1e6)
        start = time.perf_counter()
        for _ in range(requests):
            session.run(None, feed)
        theirs.append((time.perf_counter() - start) / requests * 1e6)
    ratios = [b / a for a, b in zip(ours, theirs)]
    return {"run_async us": summary(ours), "run us": summary(theirs), "ratio": summary(ratios)}


def run(quick: bool, repetitions: int = 5, threads: int = 1) -> dict[str, Any]:
    """Every part; `quick` is the CI smoke run (a few seconds, nothing asserted)."""
    repetitions = 2 if quick else repetitions
    seconds = 0.25 if quick else 1.5
    with tempfile.TemporaryDirectory() as folder:
        mlp = fastort.Session(mlp_model(Path(folder) / "mlp.onnx"), threads=threads, cache=False)
        tiny_path = sigmoid_model(Path(folder) / "sigmoid.onnx")
        tiny = fastort.Session(tiny_path, threads=threads, cache=False)
        print("serving: one asyncio client, a new batcher ...", flush=True)
        fresh = asyncio_client(tiny_path, threads, repetitions, 2000 if quick else 20000)
    mlp.warmup((1, MAX_BATCH_SIZE))
    tiny.warmup((1, MAX_BATCH_SIZE))
    results: dict[str, Any] = {"session_threads": threads, "cpu_budget": fastort._core.cpu_budget()}
    print(f"serving: MLP throughput ({repetitions} x {seconds} s per method) ...", flush=True)
    results["mlp"] = throughput_mlp(mlp, repetitions, seconds)
    print("serving: tiny model throughput ...", flush=True)
    results["tiny"] = throughput_tiny(tiny, repetitions, seconds)
    results["asyncio_client"] = fresh
    print("serving: batches side by side (workers) ...", flush=True)
    results["workers"] = throughput_workers(mlp, repetitions, seconds)
    print("serving: one request at a time ...", flush=True)
    results["one_at_a_time"] = one_at_a_time(mlp, repetitions, 50 if quick else 300)
    print("serving: asyncio loop stall ...", flush=True)
    results["asyncio"] = loop_stall(mlp, 1 if quick else 3)
    print("serving: latency under load ...", flush=True)
    capacity = results["mlp"]["methods"]["Batcher"]["rows_per_s"]["median"]
    loads = (0.5, 0.9) if quick else LOADS
    results["under_load"] = under_load(mlp, capacity, loads, 0.5 if quick else 3.0)
    return results


def _range(figures: dict[str, float], unit: str = "", digits: int = 2) -> str:
    f = f"{{:.{digits}f}}"
    low, high = f.format(figures["min"]), f.format(figures["max"])
    return f"{f.format(figures['median'])}{unit} ({low}-{high})"


def report(results: dict[str, Any]) -> str:
    """The figures and each target of the issue, met or missed (nothing is asserted)."""
    mlp, tiny, single = results["mlp"], results["tiny"], results["one_at_a_time"]
    lines = [f"sessions: threads={results['session_threads']}; medians (min-max) over repetitions"]
    for title, part in (("MLP 256-1024-1024-10, 1 row per request", mlp), ("Sigmoid [N,5]", tiny)):
        lines.append(title)
        for name, method in part["methods"].items():
            rate = _range(method["rows_per_s"], digits=0)
            lines.append(f"  {name:16s} {method['threads']:2d} threads {rate} rows/s")
    batcher, run_ = single["Batcher"], single["run"]
    lines.append(
        f"one request at a time: Batcher {batcher['median_ms']:.3f} ms (p99 "
        f"{batcher['p99_ms']:.3f}), run {run_['median_ms']:.3f} ms (p99 {run_['p99_ms']:.3f})"
    )
    if "workers" in results:
        lines.append(f"MLP, {WORKER_CLIENTS} threads x {WORKER_ROWS} rows per request")
        for name, method in results["workers"]["methods"].items():
            lines.append(f"  {name:18s} {_range(method['rows_per_s'], digits=0)} rows/s")
        lines.append(f"  2 workers / 1 worker {_range(results['workers']['2 workers / 1 worker'])}")
    if "asyncio_client" in results:
        fresh = results["asyncio_client"]
        lines.append(
            f"one asyncio client, a new batcher, Sigmoid: run_async "
            f"{_range(fresh['run_async us'], ' us', 1)}, run {_range(fresh['run us'], ' us', 1)}"
        )
    stall = results["asyncio"]["longest_stall_ms"]
    lines.append(f"1000 concurrent run_async: longest loop stall {_range(stall, ' ms', 1)}")
    load = results["under_load"]
    for point in load["points"].values():
        lines.append(
            f"open loop at {100 * point['load']:.0f}% of {load['capacity_per_s']:.0f} rows/s: "
            f"p50 {point['p50_ms']:.2f} ms, p99 {point['p99_ms']:.2f} ms "
            f"(achieved {point['achieved_per_s']:.0f}/s, {point['rejected']} rejected)"
        )
    checks = [
        ("MLP Batcher >= 3x 16 threads calling run", mlp["Batcher / run"], 3.0, True),
        ("MLP Batcher >= 1.5x PythonBatcher", mlp["Batcher / PythonBatcher"], 1.5, True),
        (
            "tiny Batcher (8 threads) >= 1.0x one thread's run",
            tiny["Batcher / run, 1 thread"],
            1.0,
            True,
        ),
        ("one at a time: Batcher < run + 3 ms (extra ms)", single["extra median ms"], 3.0, False),
        ("1000 run_async: loop stall < 50 ms", stall, 50.0, False),
    ]
    lines.append("targets")
    for name, figures, target, at_least in checks:
        met = figures["median"] >= target if at_least else figures["median"] < target
        lines.append(f"  {'MET   ' if met else 'MISSED'} {name}: {_range(figures)}")
    return "\n".join(lines)


def readme_rows(results: dict[str, Any]) -> list[str]:
    """Rows of the suite's README table; speed-up above 1: the Batcher does better."""
    mlp, tiny, single = results["mlp"], results["tiny"], results["one_at_a_time"]
    threads = results["session_threads"]

    def rate(part: dict[str, Any], name: str) -> str:
        return f"{part['methods'][name]['rows_per_s']['median']:.0f} rows/s"

    def row(what: str, ours: str, peer: str, speedup: str) -> str:
        return f"| {what} | {ours} | {peer} | {speedup} |"

    def spread(figures: dict[str, float]) -> str:
        return f"{figures['median']:.2f}x ({figures['min']:.2f}-{figures['max']:.2f})"

    mlp_name = f"MLP 256-1024-1024-10, threads={threads}"
    lines = [
        row(
            f"`Batcher`, 16 threads x 1 row, {mlp_name}",
            rate(mlp, "Batcher"),
            f"16 threads calling `run` {rate(mlp, 'run')}",
            spread(mlp["Batcher / run"]),
        ),
        row(
            f"`Batcher`, 16 threads x 1 row, {mlp_name}",
            rate(mlp, "Batcher"),
            f"Python batcher {rate(mlp, 'PythonBatcher')}",
            spread(mlp["Batcher / PythonBatcher"]),
        ),
        row(
            f"`Batcher.run`, 16 threads x 1 row, {mlp_name}",
            rate(mlp, "Batcher.run"),
            f"16 threads calling `run` {rate(mlp, 'run')}",
            spread(mlp["Batcher.run / run"]),
        ),
        row(
            "`Batcher`, 8 threads x 1 row, Sigmoid [N,5]",
            rate(tiny, "Batcher"),
            f"1 thread calling `run` {rate(tiny, 'run, 1 thread')}",
            spread(tiny["Batcher / run, 1 thread"]),
        ),
        row(
            "`Batcher.run`, 8 threads x 1 row, Sigmoid [N,5]",
            rate(tiny, "Batcher.run"),
            f"1 thread calling `run` {rate(tiny, 'run, 1 thread')}",
            spread(tiny["Batcher.run / run, 1 thread"]),
        ),
    ]
    if "workers" in results:  # absent from the JSON of older suites
        workers = results["workers"]
        lines.append(
            row(
                f"`Batcher(workers=2)`, {WORKER_CLIENTS} threads x {WORKER_ROWS} rows, {mlp_name}",
                rate(workers, "Batcher, 2 workers"),
                f"`workers=1` {rate(workers, 'Batcher, 1 worker')}; `run` {rate(workers, 'run')}",
                spread(workers["2 workers / 1 worker"]),
            )
        )
    if "asyncio_client" in results:  # absent from the JSON of older suites
        fresh = results["asyncio_client"]
        lines.append(
            row(
                "one asyncio client awaiting `run_async`, a new `Batcher`, Sigmoid [N,5]",
                f"{fresh['run_async us']['median']:.1f} us per request",
                f"`run` {fresh['run us']['median']:.1f} us",
                spread(fresh["ratio"]),
            )
        )
    batcher, run_ = single["Batcher"], single["run"]
    lines.append(
        row(
            f"one request at a time, `Batcher(max_delay_ms=10)`, {mlp_name}",
            f"{batcher['median_ms']:.3f} ms (p99 {batcher['p99_ms']:.3f})",
            f"`run` {run_['median_ms']:.3f} ms (p99 {run_['p99_ms']:.3f})",
            f"{run_['median_ms'] / batcher['median_ms']:.2f}x",
        )
    )
    stall = results["asyncio"]["longest_stall_ms"]
    lines.append(
        row(
            "1000 concurrent `run_async`, longest event-loop stall",
            f"{stall['median']:.1f} ms (max {stall['max']:.1f})",
            "target < 50 ms",
            "",
        )
    )
    load = results["under_load"]
    for point in load["points"].values():
        if point["load"] in (0.5, 0.9):
            lines.append(
                row(
                    f"Poisson arrivals at {100 * point['load']:.0f}% of the `Batcher`'s "
                    f"{load['capacity_per_s']:.0f} rows/s, {mlp_name}",
                    f"p50 {point['p50_ms']:.2f} ms, p99 {point['p99_ms']:.2f} ms",
                    "",
                    "",
                )
            )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a few seconds, for CI smoke runs")
    parser.add_argument("--repetitions", type=int, default=5, help="interleaved repetitions")
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads per session")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--plot", type=Path, default=HERE / "results" / "serving_latency.png")
    args = parser.parse_args()
    if args.repetitions < 1:
        parser.error("--repetitions must be >= 1")
    results = run(args.quick, args.repetitions, args.threads)
    print(report(results))
    args.plot.parent.mkdir(parents=True, exist_ok=True)
    plot_latency(results["under_load"], args.plot)
    print(f"wrote {args.plot}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
