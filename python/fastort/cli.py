"""The `fastort` command: inspect, view, classify, serve and bench models.

Exit codes: 0 success, 1 an error (one line on stderr, never a traceback), 2 bad usage,
130 interrupted (Ctrl-C), 143 terminated (SIGTERM, which `serve` takes as a request to stop).
`FASTORT_TRACEBACK=1` adds the traceback of an error, for bug reports.
Text that comes from a model or a path (names, labels, metadata, error messages) is printed
with control characters escaped, so that a model cannot drive the terminal.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
import traceback
import warnings
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from . import __version__
from ._core import FastortError

if TYPE_CHECKING:
    from .image import ImageTransform

__all__ = ["CliError", "main"]

TRACEBACK_VARIABLE = "FASTORT_TRACEBACK"
TRANSFORM_PRESETS = ("imagenet",)


class CliError(Exception):
    """An error shown as one line on stderr with exit code 1."""


class _Terminated(Exception):
    """Raised by `serve`'s SIGTERM handler: stop like Ctrl-C, with exit code 143."""


class _ImageError(Exception):
    """An error while classifying one image, shown with the image's path."""

    def __init__(self, image: str, error: Exception) -> None:
        super().__init__(f"{image}: {error}")
        self.image = image
        self.error = error


def _print(line: str) -> None:
    from .inspect_model import printable

    print(printable(line))


def _inspect(args: argparse.Namespace) -> int:
    from .inspect_model import format_report, inspect_model

    report = inspect_model(args.model)
    # json.dumps escapes control characters itself.
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
    _print(f"serving {args.model} on http://localhost:{args.port} (Ctrl-C to stop)")
    with contextlib.suppress(KeyboardInterrupt):
        netron.wait()
    return 0


def _classify(args: argparse.Namespace) -> int:
    from .session import Session

    session = Session(args.model)
    transform = _load_transform(args.transform) if args.transform else None
    if transform is None and session.transform is None:
        raise CliError(
            f"{args.model} stores no image transform: pass --transform "
            f"({'|'.join(TRANSFORM_PRESETS)}, a JSON object or a JSON file)"
        )
    labels = _load_labels(args.labels) if args.labels else None
    payload = []
    for image in args.images:
        # One image at a time: a failure names its file, and memory stays one image's.
        try:
            (top,) = session.classify([image], args.top_k, transform=transform, labels=labels)
        except FastortError:
            raise  # about the model or its metadata, not this image
        except Exception as error:
            raise _ImageError(image, error) from error
        if args.json:
            entries = [{"index": i, "label": label, "probability": p} for i, label, p in top]
            payload.append({"image": image, "top": entries})
            continue
        _print(image)
        for index, label, probability in top:
            _print(f"  {probability:7.2%}  {index:5d}  {label or ''}")
    if args.json:
        print(json.dumps(payload, indent=2))
    return 0


def _serve(args: argparse.Namespace) -> int:
    """A Ray Serve application of the model on a local Ray, until Ctrl-C or SIGTERM."""
    try:
        import ray
        from ray import serve
    except ImportError:
        raise CliError("serving needs Ray Serve: pip install 'fastort[ray]'") from None
    from .inspect_model import inspect_model
    from .ray import deployment

    inspect_model(args.model)  # a clear error for files that are not models
    ray.init(num_cpus=args.cpus, include_dashboard=False, configure_logging=False)
    try:
        serve.start(http_options={"host": args.host, "port": args.port})
        app = deployment(
            os.path.abspath(args.model),
            num_replicas=args.replicas,
            max_batch_size=args.max_batch_size,
            top_k=args.top_k,
        )
        serve.run(app, route_prefix="/")
        _print(
            f"serving {args.model} on http://{args.host}:{args.port}/ with {args.replicas} "
            "replica(s): POST image bytes (Ctrl-C or SIGTERM to stop)"
        )
        with _sigterm_raises():
            signal_wait()
    finally:
        # A second signal during the shutdown takes its default action.
        with contextlib.suppress(Exception):
            serve.shutdown()  # type: ignore[no-untyped-call]
        ray.shutdown()


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """SIGTERM (a process manager stopping the service) raises `_Terminated` meanwhile, so that
    the caller's cleanup runs: Ray's processes are stopped with the driver, not orphaned."""
    import signal

    def terminated(signum: int, frame: object) -> None:
        raise _Terminated

    previous = signal.signal(signal.SIGTERM, terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def signal_wait() -> NoReturn:
    """Sleeps until a signal's Python handler has run (Ctrl-C raises KeyboardInterrupt out of it).

    Not `signal.pause()`: the kernel hands a process-directed signal to any thread that does not
    block it, and when one of Ray's or ONNX Runtime's threads takes it, a paused main thread never
    wakes up to run the handler. The wakeup fd is written by whichever thread takes it.
    """
    import select
    import signal
    import socket

    reader, writer = socket.socketpair()
    writer.setblocking(False)
    previous = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    try:
        while True:
            # A signal on this thread interrupts select() and its handler raises out of it; one
            # on another thread wakes it, and the handler runs before the next line here.
            select.select([reader], [], [])
            reader.recv(512)
    finally:
        signal.set_wakeup_fd(previous)
        reader.close()
        writer.close()


def _load_transform(value: str) -> ImageTransform:
    """A preset name, a JSON object or a JSON file, in `ImageTransform.to_dict()` form."""
    from .image import ImageTransform

    if value == "imagenet":
        return ImageTransform.imagenet()
    if value.lstrip().startswith("{"):
        text = value
    elif os.path.isfile(value):
        text = _read_text(value, "--transform")
    else:
        raise CliError(
            f"--transform: {value!r} is not a preset ({', '.join(TRANSFORM_PRESETS)}), "
            "a JSON object or a JSON file"
        )
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise CliError(f"--transform: not valid JSON: {_reason(error)}") from None
    try:
        return ImageTransform.from_dict(data)
    except (TypeError, ValueError) as error:
        raise CliError(f"--transform: {error}") from None


def _load_labels(path: str) -> list[str]:
    """One label per line, or a JSON list of strings."""
    text = _read_text(path, "--labels")
    labels: Any = None
    if text.lstrip().startswith("["):
        with contextlib.suppress(ValueError, RecursionError):
            labels = json.loads(text)
        if labels is not None and (
            not isinstance(labels, list) or not all(isinstance(item, str) for item in labels)
        ):
            raise CliError(f"--labels: {path} must hold a JSON list of strings")
    if labels is None:
        labels = text.splitlines()
        while labels and not labels[-1].strip():
            labels.pop()
    if not labels:
        raise CliError(f"--labels: {path} holds no labels")
    return list(labels)


def _read_text(path: str, option: str) -> str:
    try:
        with open(path, encoding="utf-8-sig") as file:
            return file.read()
    except UnicodeDecodeError:
        raise CliError(f"{option}: {path} is not UTF-8 text") from None
    except OSError as error:
        raise CliError(f"{option}: cannot read {path}: {error.strerror or error}") from None


def _reason(error: BaseException) -> str:
    return "nested too deeply" if isinstance(error, RecursionError) else str(error)


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
    for line in format_results(results).split("\n"):
        _print(line)
    if args.json:
        import json

        with open(args.json, "w") as file:
            json.dump([result.as_dict() for result in results], file, indent=2)
    if args.plot:
        plot_results(results, args.plot)
        _print(f"plot written to {args.plot}")
    return 0


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _port(text: str) -> int:
    value = _positive(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 1 to 65535, got {value}")
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
    view.add_argument("--port", type=_port, default=8080)
    view.add_argument("--no-browser", action="store_true", help="serve only (for servers)")
    view.set_defaults(run=_view)

    classify = commands.add_parser("classify", help="top-k classes of images with a classifier")
    classify.add_argument("model")
    classify.add_argument("images", nargs="+", metavar="IMAGE")
    classify.add_argument(
        "--top-k", type=_positive, default=5, help="classes per image (default 5)"
    )
    classify.add_argument(
        "--transform",
        metavar="SPEC",
        help="preprocessing, instead of the one stored in the model: a preset (imagenet), "
        "a JSON object or a JSON file, as ImageTransform.to_dict() writes it",
    )
    classify.add_argument(
        "--labels",
        metavar="FILE",
        help="class names, instead of the ones stored in the model: one per line, or a JSON list",
    )
    classify.add_argument("--json", action="store_true", help="print JSON")
    classify.set_defaults(run=_classify)

    serve = commands.add_parser(
        "serve", help="serve a classifier over HTTP with Ray Serve (POST image bytes)"
    )
    serve.add_argument("model")
    serve.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    serve.add_argument("--port", type=_port, default=8000, help="port (default 8000)")
    serve.add_argument("--replicas", type=_positive, default=1, help="replicas (default 1)")
    serve.add_argument(
        "--cpus", type=_positive, default=None, help="CPUs of the local Ray (default: all)"
    )
    serve.add_argument(
        "--max-batch-size", type=_positive, default=32, help="rows per batch (default 32)"
    )
    serve.add_argument("--top-k", type=_positive, default=5, help="classes per image (default 5)")
    serve.set_defaults(run=_serve)

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
        with _one_line_warnings(args.command):
            return int(args.run(args))
    except KeyboardInterrupt:
        _error(args.command, "interrupted")
        return 130
    except _Terminated:
        _error(args.command, "terminated")
        return 143
    except BrokenPipeError:
        # The reader left (`fastort inspect m.onnx | head`): stop quietly, and keep Python's
        # own flush at exit from failing on the closed pipe too.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as error:
        message = _describe(error)
        if os.environ.get(TRACEBACK_VARIABLE):
            traceback.print_exc()
        elif message is None:
            message = (
                f"internal error: {type(error).__name__}: {error} "
                f"(set {TRACEBACK_VARIABLE}=1 to see the traceback)"
            )
        _error(args.command, message or f"{type(error).__name__}: {error}")
        return 1


def _describe(error: BaseException) -> str | None:
    """The one-line message of an expected error; None for a bug."""
    if isinstance(error, _ImageError):
        cause = error.error
        inner = cause.strerror if isinstance(cause, OSError) else _describe(cause)
        if inner is None:
            return None
        # The transform numbers images within a call; here there is one per call.
        return f"{error.image}: {re.sub(r'^image 0: ', '', inner)}"
    if isinstance(error, OSError) and error.strerror:
        message = str(error.strerror)
        if error.filename and str(error.filename) not in message:
            message = f"{message}: {error.filename}"
        return message
    if isinstance(error, MemoryError):
        return f"out of memory{': ' + str(error) if str(error) else ''}"
    if isinstance(error, (CliError, FastortError, OSError, ValueError, TypeError, ImportError)):
        return str(error) or type(error).__name__
    return None


def _error(command: str, message: str) -> None:
    from .inspect_model import printable

    lines = (line.strip() for line in message.splitlines())
    print(f"fastort {command}: error: {printable(' '.join(filter(None, lines)))}", file=sys.stderr)


@contextlib.contextmanager
def _one_line_warnings(command: str) -> Iterator[None]:
    from .inspect_model import printable

    def show(message: Warning | str, *_: Any, **__: Any) -> None:
        lines = (line.strip() for line in str(message).splitlines())
        text = printable(" ".join(filter(None, lines)))
        print(f"fastort {command}: warning: {text}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


if __name__ == "__main__":
    sys.exit(main())
