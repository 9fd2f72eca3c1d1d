"""The `fastort` command: inspect, view and classify models.

Exit codes: 0 success, 1 an error (a message on stderr, never a traceback), 2 bad usage.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Sequence

from . import __version__
from ._core import FastortError


class CliError(Exception):
    """An error shown as one line on stderr with exit code 1."""


def _inspect(args: argparse.Namespace) -> int:
    from .inspect_model import format_report, inspect_model

    report = inspect_model(args.model)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0


def _view(args: argparse.Namespace) -> int:
    try:
        import netron
    except ImportError:
        raise CliError("viewing needs Netron: pip install netron") from None
    from .inspect_model import inspect_model

    inspect_model(args.model)  # a clear error for files that are not models
    netron.start(args.model, address=args.port, browse=not args.no_browser)
    print(f"serving {args.model} on http://localhost:{args.port} (Ctrl-C to stop)")
    with contextlib.suppress(KeyboardInterrupt):
        netron.wait()
    return 0


def _classify(args: argparse.Namespace) -> int:
    from .session import Session

    session = Session(args.model)
    if session.transform is None:
        raise CliError(f"{args.model} stores no image transform (export it with transform=...)")
    results = session.classify(list(args.images), top_k=args.top_k)
    if args.json:
        payload = [
            {
                "image": image,
                "top": [{"index": i, "label": label, "probability": p} for i, label, p in top],
            }
            for image, top in zip(args.images, results)
        ]
        print(json.dumps(payload, indent=2))
        return 0
    for image, top in zip(args.images, results):
        print(image)
        for index, label, probability in top:
            print(f"  {probability:7.2%}  {index:5d}  {label or ''}")
    return 0


def _bench(args: argparse.Namespace) -> int:
    import os
    import subprocess

    from .benchmark import bench_model, format_results, native_binary, plot_results

    if not os.path.isfile(args.model):
        raise CliError(f"no such model file: {args.model}")
    if args.native:
        binary = native_binary()
        if binary is None:
            raise CliError("the native benchmark (fastort-bench) is not installed with this build")
        from ._runtime import find_library

        command = [
            binary,
            "--model",
            args.model,
            "--library",
            find_library(),
            "--threads",
            str(args.threads),
        ]
        command += ["--batch", ",".join(map(str, args.batch))]
        if args.json:
            command += ["--json", args.json]
        return subprocess.call(command)
    results = [
        bench_model(args.model, batch, args.threads, args.rounds, progress=not args.quiet)
        for batch in args.batch
    ]
    print(format_results(results))
    if args.json:
        import json

        with open(args.json, "w") as file:
            json.dump([result.as_dict() for result in results], file, indent=2)
    if args.plot:
        plot_results(results, args.plot)
        print(f"plot written to {args.plot}")
    return 0


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fastort", description="Fast, zero-copy ONNX Runtime tools."
    )
    parser.add_argument("--version", action="version", version=f"fastort {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    inspect = commands.add_parser(
        "inspect", help="print a model's inputs, outputs, operators and metadata"
    )
    inspect.add_argument("model")
    inspect.add_argument("--json", action="store_true", help="print JSON")
    inspect.set_defaults(run=_inspect)

    view = commands.add_parser("view", help="open the model's graph in Netron")
    view.add_argument("model")
    view.add_argument("--port", type=_positive, default=8080)
    view.add_argument("--no-browser", action="store_true", help="serve only (for servers)")
    view.set_defaults(run=_view)

    classify = commands.add_parser("classify", help="top-k classes of images with a classifier")
    classify.add_argument("model")
    classify.add_argument("images", nargs="+", metavar="IMAGE")
    classify.add_argument("--top-k", type=_positive, default=5)
    classify.add_argument("--json", action="store_true", help="print JSON")
    classify.set_defaults(run=_classify)

    bench = commands.add_parser(
        "bench", help="latency of fastort and onnxruntime on a model, side by side"
    )
    bench.add_argument("model")
    bench.add_argument(
        "--batch", type=_positive, nargs="+", default=[1], help="batch sizes (default 1)"
    )
    bench.add_argument("--threads", type=_positive, default=1, help="intra-op threads (default 1)")
    bench.add_argument(
        "--rounds", type=_positive, default=15, help="interleaved rounds (default 15)"
    )
    bench.add_argument("--json", metavar="FILE", help="write the medians as JSON")
    bench.add_argument("--plot", metavar="FILE", help="write a PNG bar chart (needs matplotlib)")
    bench.add_argument("--native", action="store_true", help="run the native C++ benchmark instead")
    bench.add_argument("--quiet", action="store_true", help="no progress bar")
    bench.set_defaults(run=_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(args.run(args))
    except (CliError, FastortError, OSError, ValueError, TypeError, ImportError) as error:
        message = str(error)
        if isinstance(error, OSError) and error.strerror:
            message = error.strerror
            if error.filename and str(error.filename) not in message:
                message = f"{message}: {error.filename}"
        print(f"fastort {args.command}: error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
