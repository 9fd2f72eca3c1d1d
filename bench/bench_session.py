"""Per-call overhead of fastort's `run` against onnxruntime and the raw ORT C++ API.

Methods are interleaved round by round in one process (the machine is shared and noisy, so
only ratios measured side by side mean anything), all with one intra-op thread:

  raw C++             ORT's C++ API in a C++ loop (wrap input, Run, free outputs): the floor
  fastort run         Session.run(None, feed)
  fastort run(out=)   results written into preallocated arrays
  onnxruntime run     InferenceSession.run(None, feed)
  onnxruntime IOBinding   inputs and pre-bound outputs, run_with_iobinding

Also `import fastort` against `import numpy` and `import onnxruntime`, each in a fresh
interpreter.

    python bench/bench_session.py [--rounds 15] [--quick] [--json results.json]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

import fastort


def large_add_model(path: Path) -> None:
    shape = [1, 3, 1024, 1024]
    graph = helper.make_graph(
        [helper.make_node("Add", ["a", "b"], ["c"])],
        "add",
        [
            helper.make_tensor_value_info("a", TensorProto.FLOAT, shape),
            helper.make_tensor_value_info("b", TensorProto.FLOAT, shape),
        ],
        [helper.make_tensor_value_info("c", TensorProto.FLOAT, shape)],
    )
    onnx.save_model(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def ort_session(path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(os.fspath(path), options, providers=["CPUExecutionProvider"])


def methods(path: Path, feed: dict[str, np.ndarray]) -> dict[str, Callable[[int], float]]:
    """name -> function(calls) returning seconds for that many calls."""
    ours = fastort.Session(path, threads=1)
    theirs = ort_session(path)
    outputs = ours.run(None, feed)
    out = {info.name: np.empty_like(value) for info, value in zip(ours.outputs, outputs)}
    binding = theirs.io_binding()
    for name, value in feed.items():
        binding.bind_cpu_input(name, value)
    for info, value in zip(ours.outputs, outputs):
        bound = np.empty_like(value)
        binding.bind_output(info.name, "cpu", 0, value.dtype, bound.shape, bound.ctypes.data)
        out.setdefault(info.name, bound)

    def timed(call: Callable[[], object]) -> Callable[[int], float]:
        def run(calls: int) -> float:
            start = time.perf_counter()
            for _ in range(calls):
                call()
            return time.perf_counter() - start

        return run

    return {
        "raw C++": lambda calls: ours._impl.time_raw_runs(feed, calls),
        "fastort run": timed(lambda: ours.run(None, feed)),
        "fastort run(out=)": timed(lambda: ours.run(None, feed, out=out)),
        "onnxruntime run": timed(lambda: theirs.run(None, feed)),
        "onnxruntime IOBinding": timed(lambda: theirs.run_with_iobinding(binding)),
    }


def measure(path: Path, feed: dict[str, np.ndarray], rounds: int, calls: int) -> dict[str, float]:
    """Median microseconds per call of each method, interleaved round by round."""
    candidates = methods(path, feed)
    for run in candidates.values():
        run(max(1, calls // 10))  # warm-up
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(rounds):
        for name, run in candidates.items():
            samples[name].append(run(calls) / calls * 1e6)
    return {name: statistics.median(values) for name, values in samples.items()}


def import_time_ms(module: str, rounds: int) -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    times = []
    for _ in range(rounds):
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        times.append(float(result.stdout) * 1e3)
    return statistics.median(times)


def report(title: str, medians: dict[str, float]) -> list[str]:
    raw = medians["raw C++"]
    ort_run = medians["onnxruntime run"]
    lines = [
        f"\n{title}",
        f"  {'method':24s} {'median':>10s} {'vs raw C++':>11s} {'vs ort run':>11s}",
    ]
    for name, value in medians.items():
        lines.append(f"  {name:24s} {value:8.2f}us {value / raw:10.2f}x {value / ort_run:10.2f}x")
    return lines


def verdicts(tiny: dict[str, float], large: dict[str, float]) -> list[str]:
    checks = [
        ("fastort run <= 1.2x raw C++ (tiny)", tiny["fastort run"] / tiny["raw C++"], 1.2),
        (
            "fastort run <= 0.6x onnxruntime run (tiny)",
            tiny["fastort run"] / tiny["onnxruntime run"],
            0.6,
        ),
        (
            "fastort run(out=) <= 1.0x onnxruntime IOBinding (tiny)",
            tiny["fastort run(out=)"] / tiny["onnxruntime IOBinding"],
            1.0,
        ),
        (
            "fastort run ~ onnxruntime run (large, <= 1.05x)",
            large["fastort run"] / large["onnxruntime run"],
            1.05,
        ),
    ]
    return [
        f"  {'MET ' if ratio <= target else 'MISSED'} {name}: {ratio:.2f}x"
        for name, ratio, target in checks
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds (median taken)")
    parser.add_argument("--quick", action="store_true", help="few rounds, for CI smoke runs")
    parser.add_argument("--json", type=Path, help="write the medians here")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be >= 1")
    rounds = 3 if args.quick else args.rounds

    spec = importlib.util.find_spec("onnxruntime")
    assert spec is not None and spec.submodule_search_locations
    sigmoid = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "sigmoid.onnx"
    x = np.random.default_rng(0).standard_normal((3, 4, 5), np.float32)
    tiny = measure(sigmoid, {"x": x}, rounds, 200 if args.quick else 2000)

    with tempfile.TemporaryDirectory() as folder:
        big = Path(folder) / "add_1x3x1024x1024.onnx"
        large_add_model(big)
        rng = np.random.default_rng(1)
        a = rng.standard_normal((1, 3, 1024, 1024), np.float32)
        b = rng.standard_normal((1, 3, 1024, 1024), np.float32)
        large = measure(big, {"a": a, "b": b}, rounds, 3 if args.quick else 20)

    import_rounds = 3 if args.quick else 9
    imports = {m: import_time_ms(m, import_rounds) for m in ("numpy", "fastort", "onnxruntime")}

    lines = [
        f"fastort {fastort.__version__}, ONNX Runtime {fastort.ort_version()}, 1 intra-op thread"
    ]
    lines += report("sigmoid.onnx (float32[3,4,5])", tiny)
    lines += report("Add 1x3x1024x1024 float32", large)
    lines.append("\nimport time (fresh interpreter, median)")
    for module, ms in imports.items():
        lines.append(f"  import {module:12s} {ms:7.1f} ms")
    lines.append(f"  fastort adds {imports['fastort'] - imports['numpy']:.1f} ms to numpy's import")
    lines.append("\ntargets")
    lines += verdicts(tiny, large)
    print("\n".join(lines))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps({"tiny_us": tiny, "large_us": large, "import_ms": imports}, indent=2)
        )


if __name__ == "__main__":
    main()
