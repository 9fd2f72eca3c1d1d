"""The serving benchmark's report, README rows and latency plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.serving_load import WORKER_CLIENTS, WORKER_ROWS


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
