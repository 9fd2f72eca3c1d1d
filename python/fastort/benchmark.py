"""Side-by-side latency of fastort and onnxruntime on one model (`fastort bench`).

Every method runs the same inputs, interleaved round by round, so that the noise of a shared
machine hits all of them alike; only medians and ratios are reported, the ratios taken round
by round. The floor, ORT's C++ API alone, is measured by the native benchmark
(`fastort-bench --raw-only`), one process per round between the Python methods, on inputs of
the same shapes; without that binary its row is left out with a note. onnxruntime is
imported here, never by `import fastort`.
"""

from __future__ import annotations

import itertools
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .session import Session

__all__ = [
    "ORT_RUN",
    "RAW_FLOOR",
    "RAW_PREBOUND",
    "BenchResult",
    "MethodResult",
    "Ratio",
    "bench_model",
    "format_results",
    "native_binary",
    "plot_results",
    "random_inputs",
]

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


RAW_FLOOR = "raw ORT C++"
# The absolute floor: input values made once, only ORT's Run per call.
RAW_PREBOUND = "raw ORT C++ pre-bound"
ORT_RUN = "onnxruntime run"


@dataclass
class MethodResult:
    name: str
    median_us: float
    spread_us: float  # interquartile range of the per-round means
    samples_us: list[float] = field(default_factory=list)  # one per round, in round order


@dataclass
class Ratio:
    """A method's time over a peer's, taken round by round: median and interquartile range."""

    median: float
    low: float
    high: float


@dataclass
class BenchResult:
    model: str
    batch: int
    threads: int
    methods: list[MethodResult]
    notes: list[str] = field(default_factory=list)  # e.g. why a method was left out

    def method(self, name: str) -> MethodResult:
        for method in self.methods:
            if method.name == name:
                return method
        raise KeyError(f"no method {name!r} in this result; it has {self.names()}")

    def names(self) -> list[str]:
        return [method.name for method in self.methods]

    def ratio(self, name: str, peer: str) -> Ratio:
        ours, theirs = self.method(name).samples_us, self.method(peer).samples_us
        ratios = sorted(a / b for a, b in zip(ours, theirs))
        low, high = _quartiles(ratios)
        return Ratio(statistics.median(ratios), low, high)

    def as_dict(self) -> dict[str, Any]:
        peers = [peer for peer in (ORT_RUN, RAW_FLOOR) if peer in self.names()]
        methods: dict[str, dict[str, Any]] = {}
        for m in self.methods:
            methods[m.name] = {"median_us": m.median_us, "spread_us": m.spread_us}
            for peer in peers:
                methods[m.name][f"vs {peer}"] = vars(self.ratio(m.name, peer))
        return {
            "model": self.model,
            "batch": self.batch,
            "threads": self.threads,
            "methods": methods,
            "notes": self.notes,
        }


def _quartiles(ordered: Sequence[float]) -> tuple[float, float]:
    return ordered[len(ordered) // 4], ordered[(3 * len(ordered)) // 4]


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


@dataclass
class _Loop:
    """Seconds for `calls` back-to-back calls of `call`; `keep` holds what the calls point
    into (the buffers an IOBinding has raw pointers to)."""

    call: Callable[[], object]
    keep: tuple[object, ...] = ()

    def __call__(self, calls: int) -> float:
        start = time.perf_counter()
        for _ in range(calls):
            self.call()
        return time.perf_counter() - start


def _bound_io(session: Any, feed: dict[str, np.ndarray], outputs: list[Any]) -> Any:
    """An IOBinding of onnxruntime or fastort.onnxruntime: inputs and preallocated outputs."""
    binding = session.io_binding()
    for name, value in feed.items():
        binding.bind_cpu_input(name, value)
    for info, array in zip(session.get_outputs(), outputs):
        binding.bind_output(info.name, "cpu", 0, array.dtype, array.shape, array.ctypes.data)
    return binding


def _methods(
    path: str, feed: dict[str, np.ndarray], threads: int
) -> dict[str, Callable[[int], float]]:
    import onnxruntime as ort

    from . import onnxruntime as dropin

    ours = Session(path, threads=threads)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    theirs = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    dropin_options = dropin.SessionOptions()
    dropin_options.intra_op_num_threads = threads
    ported = dropin.InferenceSession(path, dropin_options, providers=["CPUExecutionProvider"])
    results = ours.run(None, feed)
    out = {info.name: np.empty_like(value) for info, value in zip(ours.outputs, results)}
    bound = [np.empty_like(value) for value in results]
    binding = _bound_io(theirs, feed, bound)
    ported_bound = [np.empty_like(value) for value in results]
    ported_binding = _bound_io(ported, feed, ported_bound)
    ort_values = {name: ort.OrtValue.ortvalue_from_numpy(value) for name, value in feed.items()}
    output_names = [info.name for info in ours.outputs]

    prepared = ours.prepare(feed)
    prepared_out = ours.prepare(feed, {name: np.empty_like(a) for name, a in out.items()})
    # Eight feeds of equal shapes in other memory, taken in turn: no call passes the arrays of
    # one of the few calls before, whose checks fastort's run would otherwise reuse.
    others = [feed] + [{name: value.copy() for name, value in feed.items()} for _ in range(7)]
    ours_feeds, their_feeds = itertools.cycle(others), itertools.cycle(others)

    return {
        "fastort run": _Loop(lambda: ours.run(None, feed)),
        "fastort run(out=)": _Loop(lambda: ours.run(None, feed, out=out)),
        "fastort run, eight feeds in turn": _Loop(lambda: ours.run(None, next(ours_feeds))),
        "fastort prepared run()": _Loop(prepared.run),
        "fastort prepared run() into out": _Loop(prepared_out.run),
        "fastort Session() cached": _Loop(lambda: Session(path, threads=threads)),
        "fastort.onnxruntime run": _Loop(lambda: ported.run(None, feed)),
        "fastort.onnxruntime IOBinding": _Loop(
            lambda: ported.run_with_iobinding(ported_binding), (ported_bound,)
        ),
        "onnxruntime run": _Loop(lambda: theirs.run(None, feed)),
        "onnxruntime run, eight feeds in turn": _Loop(lambda: theirs.run(None, next(their_feeds))),
        "onnxruntime IOBinding": _Loop(lambda: theirs.run_with_iobinding(binding), (bound,)),
        "onnxruntime run_with_ort_values": _Loop(
            lambda: theirs.run_with_ort_values(output_names, ort_values)
        ),
    }


class _NativeFloor:
    """The raw ORT C++ loop of fastort-bench: `calls` back-to-back calls in a process of its
    own, after a tenth as many to warm up; returns the seconds of the timed calls."""

    def __init__(
        self, binary: str, path: str, batch: int, threads: int, prebound: bool = False
    ) -> None:
        from ._runtime import find_library

        self.command = [binary, "--raw-only", "--model", path, "--library", find_library()]
        self.command += ["--prebound"] if prebound else []
        self.command += ["--batch", str(batch), "--threads", str(threads), "--json", "-"]

    def __call__(self, calls: int) -> float:
        command = [*self.command, "--iterations", str(calls), "--warmup", str(max(1, calls // 10))]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            lines = result.stderr.strip().splitlines() or [f"exit status {result.returncode}"]
            raise RuntimeError(f"fastort-bench --raw-only failed: {lines[-1]}")
        (row,) = json.loads(result.stdout)["model"]
        return float(row["seconds"])


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
    notes = []
    binary = native_binary()
    if binary is None:
        notes.append(
            f"{RAW_FLOOR}: left out, the native benchmark (fastort-bench) is not installed"
        )
    else:
        for name, prebound in ((RAW_PREBOUND, True), (RAW_FLOOR, False)):
            floor = _NativeFloor(binary, path, batch, threads, prebound)
            try:
                calls[name] = _calls_per_round(floor, round_seconds)
                methods = {name: floor, **methods}
            except (OSError, RuntimeError, ValueError, KeyError) as error:
                notes.append(f"{name}: left out, {error}")
    samples: dict[str, list[float]] = {name: [] for name in methods}
    for round_index in range(rounds):
        for name, run in methods.items():
            samples[name].append(run(calls[name]) / calls[name] * 1e6)
        if progress:
            _progress(round_index + 1, rounds, f"batch {batch}")
    results = []
    for name, values in samples.items():
        low, high = _quartiles(sorted(values))
        results.append(MethodResult(name, statistics.median(values), high - low, values))
    return BenchResult(path, batch, threads, results, notes)


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
    """A table per result: medians, spreads, and ratios to onnxruntime's run and to the raw
    floor, taken round by round (median, then the interquartile range in brackets)."""
    lines = []
    for result in results:
        peers = [peer for peer in (ORT_RUN, RAW_FLOOR) if peer in result.names()]
        lines.append(
            f"\n{os.path.basename(result.model)}, batch {result.batch}, {result.threads} thread(s)"
        )
        header = f"{'median':>11s} {'spread':>9s}" + "".join(f"  {'vs ' + p:>22s}" for p in peers)
        lines.append(f"  {'method':34s} {header}")
        for m in result.methods:
            ratios = ""
            for peer in peers:
                r = result.ratio(m.name, peer)
                ratios += f"  {f'{r.median:.2f}x ({r.low:.2f}-{r.high:.2f})':>22s}"
            lines.append(f"  {m.name:34s} {m.median_us:9.2f}us {m.spread_us:7.2f}us{ratios}")
        lines.extend(f"  {note}" for note in result.notes)
    return "\n".join(lines)


def plot_results(results: Sequence[BenchResult], path: str | os.PathLike[str]) -> None:
    """Bar chart of median latency per method and batch size (needs matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("plots need matplotlib: pip install matplotlib") from None
    figure, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 4), squeeze=False)
    for axis, result in zip(axes[0], results):
        names = [name for name in result.names() if name != "fastort Session() cached"]
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

    name = "fastort-bench.exe" if sys.platform == "win32" else "fastort-bench"
    here = os.path.join(os.path.dirname(__file__), "bin", name)
    return here if os.access(here, os.X_OK) else shutil.which("fastort-bench")
