"""The standard benchmark suite: every speed claim of fastort, measured side by side.

  per-call       sigmoid.onnx, a 1x3x1024x1024 Add, EfficientNet-Lite0 at batch 1 and 8:
                 fastort run / run(out=) / cached Session() against onnxruntime's run,
                 IOBinding and run_with_ort_values and the raw ORT C++ API
  preprocess     640x480, 1920x1080, 4000x3000 photos against torchvision's steps and OpenCV,
                 with each method's deviation from torchvision; a batch of 32 on 1 and 2 threads
  image input    JPEG bytes and files decoded natively, PIL images read in place, against
                 Pillow's decode and the array path; see bench/bench_decode.py
  end to end     JPEG -> top-5 against the tutorial pipeline, exact and with fast_decode
  sessions       creation cold, cached, and from an optimised model file
  threads        1 and 2 Python threads calling run on one session, fastort and onnxruntime
  import         `import fastort` against numpy and onnxruntime
  serving        fastort.Batcher against threads calling run and a pure-Python batcher
                 (throughput, one request at a time, asyncio loop stall, latency under
                 Poisson load); see bench/bench_serving.py
  ray            fastort.ray.classify against Ray Data's canonical pipeline, and the Serve
                 deployment against Ray's onnxruntime template; see bench/bench_ray.py

Writes bench/results/suite.json and PNG plots (per_call, preprocess, serving_latency);
`--readme` regenerates the README's table from the JSON (`--from-json FILE` does only that,
from an earlier run). `--quick` is a smoke run for CI (few rounds; nothing is asserted about
speed). The model, the photo and the end-to-end pipelines are the demo's
(examples/pipelines.py). From the repository's root:

    python -m bench.run_suite [--quick] [--readme] [--out bench/results]
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from pathlib import Path
from typing import Any, Callable

import onnxruntime as ort

import fastort
from bench import (
    bench_decode,
    bench_preprocess,
    bench_ray,
    bench_serving,
    bench_session,
    serving_report,
)
from examples.pipelines import export_model, interleaved_ms, median_ms, photo_jpeg, pipelines
from fastort.benchmark import (
    RAW_FLOOR,
    RAW_PREBOUND,
    bench_model,
    format_results,
    plot_results,
    random_inputs,
)

HERE = Path(__file__).resolve().parent
README_START, README_END = "<!-- suite:start -->", "<!-- suite:end -->"
# The suite's names (the JSON's keys, the README's rows) for the demo's end-to-end pipelines.
END_TO_END = {
    "tutorial": "tutorial (Pillow + torchvision steps + onnxruntime)",
    "fastort": "fastort classify",
    "fastort, fast_decode": "fastort classify, fast_decode",
}


def efficientnet(cache: Path) -> Path:
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / "efficientnet_lite0.onnx"
    if not path.exists():
        export_model(path)
    return path


def end_to_end(model: Path, rounds: int) -> dict[str, float]:
    """Median ms of JPEG 1920x1080 -> top-5, the tutorial pipeline and fastort's."""
    _, methods = pipelines(model, photo_jpeg())
    samples = interleaved_ms(methods, rounds)
    return {END_TO_END[name]: statistics.median(values) for name, values in samples.items()}


def session_creation(model: Path, folder: Path, rounds: int) -> dict[str, float]:
    optimised = folder / "efficientnet_lite0.optimised.onnx"
    fastort.Session(model, optimized_model_path=optimised, cache=False)
    fastort.Session(model)  # fill the cache
    return {
        "cold (load and optimise)": median_ms(
            lambda: fastort.Session(model, cache=False), max(3, rounds // 3)
        ),
        "from the optimised file": median_ms(
            lambda: fastort.Session(optimised, optimization="disable", cache=False),
            max(3, rounds // 3),
        ),
        "cached": median_ms(lambda: fastort.Session(model), rounds * 20),
    }


def thread_scaling(model: Path, seconds: float) -> dict[str, float]:
    ours = fastort.Session(model, threads=1)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    theirs = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    feed = random_inputs(ours, 1)

    def throughput(call: Callable[[], object], threads: int) -> float:
        counts = [0] * threads
        stop = time.perf_counter() + seconds

        def worker(index: int) -> None:
            while time.perf_counter() < stop:
                call()
                counts[index] += 1

        workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
        for worker_thread in workers:
            worker_thread.start()
        for worker_thread in workers:
            worker_thread.join()
        return sum(counts) / seconds

    result = {}
    for name, call in (
        ("fastort", lambda: ours.run(None, feed)),
        ("onnxruntime", lambda: theirs.run(None, feed)),
    ):
        one, two = throughput(call, 1), throughput(call, 2)
        result[name] = {"1 thread calls/s": one, "2 threads calls/s": two, "speedup": two / one}
    return result


def plot_preprocess(preprocess: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [key for key in preprocess if key != "batch32"]
    figure, axes = plt.subplots(1, len(sizes), figsize=(6 * len(sizes), 4), squeeze=False)
    for axis, size in zip(axes[0], sizes):
        rows = preprocess[size]
        names = [row["method"] for row in rows]
        values = [row["ms"] for row in rows]
        colours = ["#d62728" if name == "fastort" else "#7f7f7f" for name in names]
        axis.barh(names, values, color=colours)
        axis.invert_yaxis()
        axis.set_xscale("log")
        axis.set_xlabel("ms per image, log scale (lower is better)")
        axis.set_title(f"{size} -> 1x3x224x224")
        for y, row in enumerate(rows):
            axis.text(
                row["ms"],
                y,
                f" {row['ms']:.2f} ms, {row['deviation']:.0f} levels off",
                va="center",
                fontsize=7,
            )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _row(what: str, ours: str, peer: str, speedup: float) -> str:
    return f"| {what} | {ours} | {peer} | {speedup:.2f}x |"


def readme_table(results: dict[str, Any]) -> str:
    """Markdown rows; speed-up is the peer's time over fastort's (above 1: fastort faster)."""
    lines = ["| measurement | fastort | peer | speed-up |", "|---|---|---|---|"]
    for key in ("tiny", "large", "efficientnet_b1", "efficientnet_b8"):
        result = results["per_call"][key]
        median = {name: m["median_us"] for name, m in result["methods"].items()}
        name = f"{Path(result['model']).name}, batch {result['batch']}"
        ours = median["fastort run"]
        ort_run = median["onnxruntime run"]
        lines.append(
            _row(
                f"`run`, {name}",
                f"{ours:.1f} us",
                f"onnxruntime `run` {ort_run:.1f} us",
                ort_run / ours,
            )
        )
        if key == "tiny":
            out, bound = median["fastort run(out=)"], median["onnxruntime IOBinding"]
            turns = median.get("fastort run, eight feeds in turn")
            their_turns = median.get("onnxruntime run, eight feeds in turn")
            if turns is not None and their_turns is not None:
                lines.append(
                    _row(
                        f"`run`, eight feeds in turn, {name}",
                        f"{turns:.1f} us",
                        f"onnxruntime `run` {their_turns:.1f} us",
                        their_turns / turns,
                    )
                )
            if RAW_FLOOR in median:  # left out when fastort-bench is not installed
                raw = median[RAW_FLOOR]
                for what, value in (
                    ("`run`", ours),
                    ("`run(out=)`", out),
                    ("`run`, eight feeds in turn", turns),
                ):
                    if value is None:
                        continue
                    lines.append(
                        _row(
                            f"{what}, {name}",
                            f"{value:.1f} us",
                            f"raw ORT C++ {raw:.1f} us",
                            raw / value,
                        )
                    )
            prepared = median["fastort prepared run()"]
            prepared_out = median["fastort prepared run() into out"]
            if RAW_PREBOUND in median:
                floor = median[RAW_PREBOUND]
                for what, value in (("", prepared), (" into out", prepared_out)):
                    lines.append(
                        _row(
                            f"prepared `call.run()`{what}, {name}",
                            f"{value:.1f} us",
                            f"raw ORT C++ pre-bound {floor:.1f} us",
                            floor / value,
                        )
                    )
            lines.append(
                _row(
                    f"prepared `call.run()` into out, {name}",
                    f"{prepared_out:.1f} us",
                    f"onnxruntime IOBinding {bound:.1f} us",
                    bound / prepared_out,
                )
            )
            lines.append(
                _row(
                    f"`run(out=)`, {name}",
                    f"{out:.1f} us",
                    f"IOBinding {bound:.1f} us",
                    bound / out,
                )
            )
            ported, ported_bound = (
                median["fastort.onnxruntime run"],
                median["fastort.onnxruntime IOBinding"],
            )
            lines.append(
                _row(
                    f"fastort.onnxruntime `run`, {name}",
                    f"{ported:.1f} us",
                    f"onnxruntime `run` {ort_run:.1f} us",
                    ort_run / ported,
                )
            )
            lines.append(
                _row(
                    f"fastort.onnxruntime IOBinding, {name}",
                    f"{ported_bound:.1f} us",
                    f"onnxruntime IOBinding {bound:.1f} us",
                    bound / ported_bound,
                )
            )
    for size, rows in results["preprocess"].items():
        if size == "batch32":
            continue
        by_name = {row["method"]: row for row in rows}
        ours = by_name["fastort"]
        for peer_name in (
            "torchvision on PIL",
            "torchvision steps on PIL",
            "cv2 INTER_LINEAR + numpy",
        ):
            if peer_name in by_name:
                peer = by_name[peer_name]
                lines.append(
                    _row(
                        f"preprocess {size} -> 224",
                        f"{ours['ms']:.2f} ms, {ours['deviation']:.0f} levels off",
                        f"{peer_name} {peer['ms']:.2f} ms, {peer['deviation']:.0f} levels off",
                        peer["ms"] / ours["ms"],
                    )
                )
    batch = results["preprocess"]["batch32"]
    lines.append(
        _row(
            "preprocess a batch of 32, 2 threads",
            f"{batch['2 threads ms']:.1f} ms",
            f"1 thread {batch['1 thread ms']:.1f} ms",
            batch["speedup"],
        )
    )
    if "decode" in results:  # absent from the JSON of suites older than native decoding
        lines += bench_decode.readme_rows(results["decode"])
    e2e = results["end_to_end"]
    tutorial = e2e["tutorial (Pillow + torchvision steps + onnxruntime)"]
    for name in ("fastort classify", "fastort classify, fast_decode"):
        lines.append(
            _row(
                f"JPEG 1920x1080 -> top-5, {name}",
                f"{e2e[name]:.1f} ms",
                f"tutorial {tutorial:.1f} ms",
                tutorial / e2e[name],
            )
        )
    sessions = results["sessions"]
    cold = sessions["cold (load and optimise)"]
    lines.append(
        _row(
            "second `Session(path)` (cached)",
            f"{sessions['cached'] * 1e3:.1f} us",
            f"cold load {cold:.1f} ms",
            cold / sessions["cached"],
        )
    )
    for model, scaling in results["threads"].items():
        for name, figures in scaling.items():
            lines.append(
                _row(
                    f"2 threads calling `run`, {model}, {name}",
                    f"{figures['2 threads calls/s']:.0f} calls/s",
                    f"1 thread {figures['1 thread calls/s']:.0f} calls/s",
                    figures["speedup"],
                )
            )
    imports = results["imports"]  # fastort and onnxruntime timed with numpy already imported
    peer = f"`import onnxruntime` {imports['onnxruntime']:.1f} ms"
    ours = f"{imports['fastort']:.1f} ms"
    lines.append(
        _row(
            "`import fastort` after numpy", ours, peer, imports["onnxruntime"] / imports["fastort"]
        )
    )
    if "serving" in results:  # absent from the JSON of suites older than the Batcher
        lines += serving_report.readme_rows(results["serving"])
    if "ray" in results:  # absent from the JSON of suites older than fastort.ray
        lines += bench_ray.readme_rows(results["ray"])
    return "\n".join(lines)


def update_readme(table: str) -> None:
    readme = HERE.parent / "README.md"
    text = readme.read_text()
    if README_START not in text or README_END not in text:
        raise SystemExit(f"README.md has no {README_START} ... {README_END} section")
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    readme.write_text(f"{head}{README_START}\n{table}\n{README_END}{tail}")


def readme_from_json(path: Path) -> None:
    """Regenerate the README's table from a suite.json without measuring again."""
    update_readme(readme_table(json.loads(path.read_text())))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="few rounds, for CI smoke runs")
    parser.add_argument("--readme", action="store_true", help="regenerate the README's table")
    parser.add_argument(
        "--from-json", type=Path, help="only rebuild the README table from this JSON"
    )
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--cache", type=Path, default=HERE.parent / ".cache" / "demo")
    args = parser.parse_args()
    if args.from_json:
        readme_from_json(args.from_json)
        return
    rounds = 3 if args.quick else 15
    args.out.mkdir(parents=True, exist_ok=True)
    model = efficientnet(args.cache)
    results: dict[str, Any] = {"fastort": fastort.__version__, "onnxruntime": fastort.ort_version()}

    print("per-call latency ...", flush=True)
    session_part = bench_session.run(rounds, args.quick)
    effnet = [
        bench_model(model, batch, 1, rounds, round_seconds=0.05, progress=not args.quick)
        for batch in (1, 8)
    ]
    per_call = [session_part["tiny"], session_part["large"], *effnet]
    print(format_results(per_call))
    results["per_call"] = dict(
        zip(
            ("tiny", "large", "efficientnet_b1", "efficientnet_b8"), (r.as_dict() for r in per_call)
        )
    )
    results["imports"] = session_part["imports"]
    plot_results(per_call, args.out / "per_call.png")

    print("\npreprocessing ...", flush=True)
    results["preprocess"] = {
        f"{w}x{h}": bench_preprocess.bench_size(w, h, rounds, args.quick)
        for w, h in bench_preprocess.SIZES
    }
    results["preprocess"]["batch32"] = bench_preprocess.bench_batch(rounds)
    plot_preprocess(results["preprocess"], args.out / "preprocess.png")

    print("image input ...", flush=True)
    results["decode"] = bench_decode.run(rounds)

    print("end to end, sessions, threads ...", flush=True)
    results["end_to_end"] = end_to_end(model, rounds)
    results["sessions"] = session_creation(model, args.out, rounds)
    results["threads"] = {
        "sigmoid.onnx": thread_scaling(bench_session.sigmoid_path(), 0.5 if args.quick else 2.0),
        "EfficientNet-Lite0": thread_scaling(model, 0.5 if args.quick else 2.0),
    }

    print("serving ...", flush=True)
    results["serving"] = bench_serving.run(args.quick)
    print(serving_report.report(results["serving"]))
    serving_report.plot_latency(results["serving"]["under_load"], args.out / "serving_latency.png")

    print("ray ...", flush=True)
    results["ray"] = bench_ray.run(model, args.quick)
    (args.out / "suite.json").write_text(json.dumps(results, indent=2))
    table = readme_table(results)
    print("\n" + table)
    print(f"\nwrote {args.out / 'suite.json'}, per_call.png, preprocess.png, serving_latency.png")
    if args.readme:
        update_readme(table)


if __name__ == "__main__":
    main()
