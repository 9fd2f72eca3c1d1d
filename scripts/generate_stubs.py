"""Regenerate python/fastort/_core.pyi from the built extension, or check that it is current.

    python scripts/generate_stubs.py           # rewrite the stub
    python scripts/generate_stubs.py --check   # exit 1 if the stub differs from the build

Uses pybind11-stubgen (pinned in the `dev` extra, since its output differs between versions)
on the installed `fastort._core`, then ruff's formatter, so the stub is stable and readable.
"""

from __future__ import annotations

import argparse
import difflib
import re
import subprocess
import sys
import tempfile
from pathlib import Path

STUB = Path(__file__).resolve().parent.parent / "python" / "fastort" / "_core.pyi"

# The exception classes are made with PyErr_NewException, which stubgen only sees as names
# re-exported from `fastort`; the stub declares them with their real bases.
EXCEPTIONS = """
class FastortError(RuntimeError):
    code: str | None
    ort_code: int | None

class InvalidModelError(FastortError): ...
class InvalidArgumentError(FastortError, ValueError): ...
class InvalidTypeError(FastortError, TypeError): ...
class RuntimeLoadError(FastortError, ImportError): ...
class RunTerminatedError(FastortError): ...
class RunTimeoutError(RunTerminatedError, TimeoutError): ...
class QueueFullError(FastortError): ...
"""


# Bindings returning py::list / py::dict, and the METH_FASTCALL methods, whose docstrings give
# CPython a text signature (so that inspect.signature works) without types, are spelled out
# for type checkers.
SIGNATURES = {
    "def run(self, output_names, input_feed, run_options = None, *, out = None):": (
        "def run(self, output_names: typing.Sequence[str] | None,"
        " input_feed: typing.Mapping[str, typing.Any],"
        " run_options: RunOptionsBase | None = None, *,"
        " out: typing.Mapping[str, numpy.ndarray[typing.Any, typing.Any]] | None = None)"
        " -> list[typing.Any]:"
    ),
    "def run(self, run_options = None):": (
        "def run(self, run_options: RunOptionsBase | None = None) -> list[typing.Any]:"
    ),
    "def run(self, feed, *, timeout = None):": (
        "def run(self, feed: typing.Any, *, timeout: typing.Any = None) -> list[typing.Any]:"
    ),
    "def submit(self, feed, *, timeout = None):": (
        "def submit(self, feed: typing.Any, *, timeout: typing.Any = None) -> BatchFuture:"
    ),
    "def _submit_or_run(self, feed, *, timeout = None):": (
        "def _submit_or_run(self, feed: typing.Any, *, timeout: typing.Any = None) -> typing.Any:"
    ),
    "def result(self, timeout = None):": (
        "def result(self, timeout: typing.Any = None) -> list[typing.Any]:"
    ),
    # BatchFuture, a type of its own (not a pybind11 class).
    "def add_done_callback(self, fn):": (
        "def add_done_callback(self, fn: typing.Callable[[BatchFuture], object]) -> None:"
    ),
    "def cancel(self):": "def cancel(self) -> bool:",
    "def cancelled(self):": "def cancelled(self) -> bool:",
    "def done(self):": "def done(self) -> bool:",
    "def running(self):": "def running(self) -> bool:",
    "def exception(self, timeout = None):": (
        "def exception(self, timeout: typing.Any = None) -> BaseException | None:"
    ),
    "def __reduce_ex__(self, protocol):": (
        "def __reduce_ex__(self, protocol: typing.SupportsIndex, /) -> typing.NoReturn:"
    ),
    "def __repr__(self):": "def __repr__(self) -> str:",
    "def __call__(self, **kwargs) -> dict:": (
        "def __call__(self, **kwargs: typing.Any) -> dict[str, typing.Any]:"
    ),
}


def _typed(line: str) -> str:
    if line.startswith("__all__: list ="):  # the module's own list (of names)
        return line.replace("list", "list[str]", 1)
    stripped = line.strip()
    if stripped in SIGNATURES:
        return line[: len(line) - len(line.lstrip())] + SIGNATURES[stripped]
    line = re.sub(r"(-> |: )list(?=[:,)])", r"\1list[typing.Any]", line)
    return re.sub(r"(-> |: )dict(?=[:,)])", r"\1dict[str, typing.Any]", line)


def generate() -> str:
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pybind11_stubgen",
                "fastort._core",
                "-o",
                folder,
                "--numpy-array-use-type-var",
            ],
            check=True,
            capture_output=True,
        )
        generated = Path(folder) / "fastort" / "_core.pyi"
        lines = generated.read_text().splitlines()
        # The module's __getattr__ and __dir__ only register parts on first use: type checkers
        # must not read __getattr__ as "any name exists".
        dropped = ("from fastort import ", "def __getattr__(", "def __dir__(")
        kept = [line for line in lines if not line.startswith(dropped)]
        first_class = next(i for i, line in enumerate(kept) if line.startswith(("class ", "def ")))
        kept[first_class:first_class] = EXCEPTIONS.splitlines()
        kept = [_typed(line) for line in kept]
        generated.write_text("\n".join(kept) + "\n")
        # The project's ruff settings, though the file is outside the project for now.
        ruff = [sys.executable, "-m", "ruff"]
        config = ["--config", str(STUB.parents[2] / "pyproject.toml")]
        # What `check --fix` cannot fix (line lengths) is the formatter's job: no report.
        subprocess.run(
            [*ruff, "check", *config, "--quiet", "--fix", "--exit-zero", str(generated)],
            check=True,
            capture_output=True,
        )
        subprocess.run([*ruff, "format", *config, "--quiet", str(generated)], check=True)
        return generated.read_text()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="fail if the committed stub is stale")
    args = parser.parse_args()
    fresh = generate()
    if not args.check:
        STUB.write_text(fresh)
        print(f"wrote {STUB}")
        return 0
    current = STUB.read_text() if STUB.exists() else ""
    if current == fresh:
        print(f"{STUB.name} is up to date")
        return 0
    diff = difflib.unified_diff(
        current.splitlines(), fresh.splitlines(), "committed", "built", lineterm=""
    )
    print("\n".join(diff))
    print(f"{STUB} is stale: run `python scripts/generate_stubs.py` and commit it", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
