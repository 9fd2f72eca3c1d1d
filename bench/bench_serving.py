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
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

import fastort
from bench.serving_load import (
    WORKER_CLIENTS,
    WORKER_ROWS,
    PythonBatcher,
    interleaved_throughput,
    mlp_model,
    open_loop,
    percentile,
    ratio,
    sigmoid_model,
    summary,
)
from bench.serving_report import plot_latency, report

HERE = Path(__file__).resolve().parent
MAX_BATCH_SIZE = 32
MAX_DELAY_MS = 2.0
LOADS = (0.25, 0.5, 0.7, 0.9)  # offered load, as a fraction of the Batcher's throughput


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
