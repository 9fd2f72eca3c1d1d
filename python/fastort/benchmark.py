"""Side-by-side latency of fastort and onnxruntime on one model (`fastort bench`).

Every method runs the same inputs, interleaved round by round in one process, so that the
noise of a shared machine hits all of them alike; only medians and ratios are reported.
onnxruntime is imported here, never by `import fastort`.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .session import Session

_NUMPY_TYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(float16)": np.float16,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8,
    "tensor(bool)": np.bool_,
}


@dataclass
class MethodResult:
    name: str
    median_us: float
    spread_us: float  # interquartile range of the per-round means
    samples_us: list[float] = field(default_factory=list)


@dataclass
class BenchResult:
    model: str
    batch: int
    threads: int
    methods: list[MethodResult]

    def method(self, name: str) -> MethodResult:
        return next(m for m in self.methods if m.name == name)

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "batch": self.batch,
            "threads": self.threads,
            "methods": {
                m.name: {"median_us": m.median_us, "spread_us": m.spread_us} for m in self.methods
            },
        }


def random_inputs(session: Session, batch: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Inputs for every model input: dynamic axis 0 is `batch`, other dynamic axes are 1."""
    rng = np.random.default_rng(seed)
    feed: dict[str, np.ndarray[Any, Any]] = {}
    for info in session.inputs:
        dtype = _NUMPY_TYPES.get(info.type)
        if dtype is None:
            raise ValueError(
                f"input {info.name!r} is {info.type}; fastort bench takes numeric tensors"
            )
        shape = [
            d if isinstance(d, int) else (batch if axis == 0 else 1)
            for axis, d in enumerate(info.shape)
        ]
        if np.issubdtype(dtype, np.floating):
            feed[info.name] = rng.standard_normal(shape).astype(dtype)
        else:
            feed[info.name] = np.zeros(shape, dtype)
    return feed


def _methods(
    path: str, feed: dict[str, np.ndarray], threads: int
) -> dict[str, Callable[[int], float]]:
    import onnxruntime as ort

    ours = Session(path, threads=threads)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    theirs = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    results = ours.run(None, feed)
    out = {info.name: np.empty_like(value) for info, value in zip(ours.outputs, results)}
    binding = theirs.io_binding()
    for name, value in feed.items():
        binding.bind_cpu_input(name, value)
    bound = [np.empty_like(value) for value in results]
    for info, array in zip(ours.outputs, bound):
        binding.bind_output(info.name, "cpu", 0, array.dtype, array.shape, array.ctypes.data)
    ort_values = {name: ort.OrtValue.ortvalue_from_numpy(value) for name, value in feed.items()}
    output_names = [info.name for info in ours.outputs]

    def loop(call: Callable[[], object]) -> Callable[[int], float]:
        def run(calls: int) -> float:
            start = time.perf_counter()
            for _ in range(calls):
                call()
            return time.perf_counter() - start

        return run

    return {
        "raw ORT C++": lambda calls: ours._impl.time_raw_runs(feed, calls),
        "fastort run": loop(lambda: ours.run(None, feed)),
        "fastort run(out=)": loop(lambda: ours.run(None, feed, out=out)),
        "fastort Session() cached": loop(lambda: Session(path, threads=threads)),
        "onnxruntime run": loop(lambda: theirs.run(None, feed)),
        # IOBinding holds raw pointers into `bound`: the closure keeps the arrays alive.
        "onnxruntime IOBinding": loop(lambda: (theirs.run_with_iobinding(binding), bound)),
        "onnxruntime run_with_ort_values": loop(
            lambda: theirs.run_with_ort_values(output_names, ort_values)
        ),
    }


def _calls_per_round(run: Callable[[int], float], budget_seconds: float) -> int:
    elapsed = run(1)
    return max(1, min(10_000, int(budget_seconds / max(elapsed, 1e-7))))


def bench_model(
    path: str | os.PathLike[str],
    batch: int = 1,
    threads: int = 1,
    rounds: int = 15,
    round_seconds: float = 0.05,
    progress: bool = False,
) -> BenchResult:
    """Median microseconds per call of every method at one batch size."""
    path = os.fspath(path)
    session = Session(path, threads=threads)
    feed = random_inputs(session, batch)
    methods = _methods(path, feed, threads)
    calls = {name: _calls_per_round(run, round_seconds) for name, run in methods.items()}
    samples: dict[str, list[float]] = {name: [] for name in methods}
    for round_index in range(rounds):
        for name, run in methods.items():
            samples[name].append(run(calls[name]) / calls[name] * 1e6)
        if progress:
            _progress(round_index + 1, rounds, f"batch {batch}")
    results = []
    for name, values in samples.items():
        ordered = sorted(values)
        spread = ordered[(3 * len(ordered)) // 4] - ordered[len(ordered) // 4]
        results.append(MethodResult(name, statistics.median(values), spread, values))
    return BenchResult(path, batch, threads, results)


def _progress(done: int, total: int, label: str) -> None:
    width = 30
    filled = width * done // total
    end = "\n" if done == total else ""
    print(
        f"\r  {label:10s} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}",
        end=end,
        file=sys.stderr,
    )


def format_results(results: Sequence[BenchResult]) -> str:
    lines = []
    for result in results:
        ort_run = result.method("onnxruntime run").median_us
        raw = result.method("raw ORT C++").median_us
        lines.append(
            f"\n{os.path.basename(result.model)}, batch {result.batch}, {result.threads} thread(s)"
        )
        header = f"{'median':>11s} {'spread':>9s} {'vs ort run':>11s} {'vs raw C++':>11s}"
        lines.append(f"  {'method':34s} {header}")
        for m in result.methods:
            lines.append(
                f"  {m.name:34s} {m.median_us:9.2f}us {m.spread_us:7.2f}us "
                f"{m.median_us / ort_run:10.2f}x {m.median_us / raw:10.2f}x"
            )
    return "\n".join(lines)


def plot_results(results: Sequence[BenchResult], path: str | os.PathLike[str]) -> None:
    """Bar chart of median latency per method and batch size (needs matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("plots need matplotlib: pip install matplotlib") from None
    names = [m.name for m in results[0].methods if m.name != "fastort Session() cached"]
    figure, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 4), squeeze=False)
    for axis, result in zip(axes[0], results):
        values = [result.method(name).median_us for name in names]
        colours = ["#d62728" if name.startswith("fastort") else "#7f7f7f" for name in names]
        axis.barh(names, values, color=colours)
        axis.invert_yaxis()
        axis.set_xlabel("median latency per call (us), lower is better")
        axis.set_title(f"{os.path.basename(result.model)}, batch {result.batch}")
        for y, value in enumerate(values):
            axis.text(value, y, f" {value:.1f}", va="center", fontsize=8)
    figure.tight_layout()
    figure.savefig(os.fspath(path), dpi=120)
    plt.close(figure)


def native_binary() -> str | None:
    """The fastort-bench executable shipped with the package, or one on PATH."""
    import shutil

    here = os.path.join(os.path.dirname(__file__), "bin", "fastort-bench")
    return here if os.access(here, os.X_OK) else shutil.which("fastort-bench")
