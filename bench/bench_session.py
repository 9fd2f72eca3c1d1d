"""Per-call overhead of fastort's `run` against onnxruntime and the raw ORT C++ API.

Methods are interleaved round by round in one process (the machine is shared and noisy, so
only ratios measured side by side mean anything), all with one intra-op thread; see
`fastort.benchmark` for the list. Models: onnxruntime's tiny sigmoid.onnx and a
1x3x1024x1024 Add. Also `import fastort` against `import numpy` and `import onnxruntime`,
each in a fresh interpreter.

    python -m bench.bench_session [--rounds 15] [--quick] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import onnx
from onnx import TensorProto, helper

import fastort
from fastort._ort_wheel import datasets_dir
from fastort.benchmark import RAW_FLOOR, BenchResult, bench_model, format_results


def sigmoid_path() -> Path:
    return Path(datasets_dir()) / "sigmoid.onnx"


def large_add_model(path: Path) -> Path:
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
    return path


def import_time_ms(module: str, rounds: int) -> float:
    """Median ms to import `module` in a fresh interpreter, numpy already imported (except
    for numpy itself): the cost a module adds on top of numpy."""
    before = "" if module == "numpy" else "import numpy; "
    timed = f"import {module}; print(time.perf_counter() - t)"
    code = f"{before}import time; t = time.perf_counter(); {timed}"
    times = []
    for _ in range(rounds):
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        times.append(float(result.stdout) * 1e3)
    return statistics.median(times)


def verdicts(tiny: BenchResult, large: BenchResult) -> list[str]:
    """Each target met or missed: the ratio of the two methods taken round by round, its
    median and (in brackets) its interquartile range."""

    def ratio(result: BenchResult, ours: str, theirs: str) -> tuple[float, str]:
        r = result.ratio(ours, theirs)
        return r.median, f" ({r.low:.2f}-{r.high:.2f})"

    pairs = [
        ("fastort run <= 0.6x onnxruntime run (tiny)", tiny, "fastort run", "onnxruntime run", 0.6),
        (
            "fastort run(out=) <= 1.0x onnxruntime IOBinding (tiny)",
            tiny,
            "fastort run(out=)",
            "onnxruntime IOBinding",
            1.0,
        ),
        (
            "fastort.onnxruntime run <= 0.6x onnxruntime run (tiny)",
            tiny,
            "fastort.onnxruntime run",
            "onnxruntime run",
            0.6,
        ),
        (
            "fastort.onnxruntime IOBinding <= 1.0x onnxruntime IOBinding (tiny)",
            tiny,
            "fastort.onnxruntime IOBinding",
            "onnxruntime IOBinding",
            1.0,
        ),
        (
            "fastort run ~ onnxruntime run (large, <= 1.05x)",
            large,
            "fastort run",
            "onnxruntime run",
            1.05,
        ),
    ]
    checks = [
        (name, *ratio(result, ours, theirs), target) for name, result, ours, theirs, target in pairs
    ]
    cached = tiny.method("fastort Session() cached").median_us / 50
    checks.append(("second Session(path) < 50 us", cached, "", 1.0))
    floor = "fastort run <= 1.2x raw C++ (tiny)"
    if RAW_FLOOR in tiny.names():
        checks.insert(0, (floor, *ratio(tiny, "fastort run", RAW_FLOOR), 1.2))
        out_floor = "fastort run(out=) <= 1.15x raw C++ (tiny)"
        checks.insert(1, (out_floor, *ratio(tiny, "fastort run(out=)", RAW_FLOOR), 1.15))
    skipped = [] if RAW_FLOOR in tiny.names() else [f"  SKIPPED {floor}: no raw floor measured"]
    return skipped + [
        f"  {'MET   ' if value <= target else 'MISSED'} {name}: {value:.2f}{spread}"
        for name, value, spread, target in checks
    ]


def run(rounds: int, quick: bool) -> dict[str, object]:
    tiny = bench_model(sigmoid_path(), rounds=rounds, round_seconds=0.01 if quick else 0.05)
    with tempfile.TemporaryDirectory() as folder:
        path = large_add_model(Path(folder) / "add_1x3x1024x1024.onnx")
        large = bench_model(path, rounds=rounds, round_seconds=0.01 if quick else 0.05)
        large.model = "add_1x3x1024x1024.onnx"
    imports = {m: import_time_ms(m, 3 if quick else 9) for m in ("numpy", "fastort", "onnxruntime")}
    return {"tiny": tiny, "large": large, "imports": imports}


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
    results = run(3 if args.quick else args.rounds, args.quick)
    tiny, large, imports = results["tiny"], results["large"], results["imports"]
    print(f"fastort {fastort.__version__}, ONNX Runtime {fastort.ort_version()}, 1 intra-op thread")
    print(format_results([tiny, large]))
    print("\nimport time (fresh interpreter, median; fastort and onnxruntime after numpy)")
    for module, ms in imports.items():
        print(f"  import {module:12s} {ms:7.1f} ms")
    print("\ntargets")
    print("\n".join(verdicts(tiny, large)))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {"tiny": tiny.as_dict(), "large": large.as_dict(), "import_ms": imports}
        args.json.write_text(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()
