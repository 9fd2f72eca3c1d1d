"""Running torch's ONNX exporters for `fastort.export`: quietly, with their warnings kept.

The exporters print progress, log, and on failure dump whole graphs, some of it from C++
straight to the file descriptors; all of that stays out of the user's terminal unless
`verbose=True`. Their warnings are recorded for the report instead of printed, and their
errors are summarised in one clean line.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_LOGGERS = (
    "torch.onnx",
    "torch.export",
    "torch._export",
    "torch.fx",
    "torch._dynamo",
    "onnxscript",
)
# The words of the tracer's warnings that say a trace may not fit other inputs (torch's
# tracer.cpp and _tensor.py: tensors turned into Python numbers, bools or lists, constants).
_TRACE_MAY_BE_WRONG = ("trace to be incorrect", "might not generalize", "does not match")
_REASON_LIMIT = 300


@dataclass(frozen=True)
class ExporterWarning:
    """A warning the exporter raised, in one line."""

    category: str
    message: str
    location: str
    trace_may_be_wrong: bool

    def __str__(self) -> str:
        return f"{self.category} at {self.location}: {self.message}"


@contextlib.contextmanager
def exporter_session(torch: Any, verbose: bool) -> Iterator[list[ExporterWarning]]:
    """Record the exporter's warnings; unless `verbose`, silence its output and logs."""
    recorded: list[ExporterWarning] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # As torch does (TracerWarning.ignore_lib_warnings): tracer warnings raised in torch's
        # own modules are not about the model's code.
        warnings.filterwarnings(
            "ignore", category=torch.jit.TracerWarning, module=r"torch\.(?!jit)"
        )
        if verbose:
            yield recorded
        else:
            with _quiet_loggers(), _silenced_output():
                yield recorded
    recorded.extend(_unique(_describe(item) for item in caught if _relevant(item)))


def _relevant(item: warnings.WarningMessage) -> bool:
    # Deprecations concern the APIs the exporter and fastort call, not the model.
    return not issubclass(
        item.category, (DeprecationWarning, PendingDeprecationWarning, FutureWarning)
    )


def _describe(item: warnings.WarningMessage) -> ExporterWarning:
    category = item.category.__name__
    message = one_line(str(item.message))
    tracer = category == "TracerWarning"
    return ExporterWarning(
        category=category,
        message=message,
        location=f"{os.path.basename(item.filename)}:{item.lineno}",
        trace_may_be_wrong=tracer and any(words in message for words in _TRACE_MAY_BE_WRONG),
    )


def _unique(items: Iterator[ExporterWarning]) -> list[ExporterWarning]:
    return list(dict.fromkeys(items))


@contextlib.contextmanager
def _quiet_loggers() -> Iterator[None]:
    loggers = [logging.getLogger(name) for name in _LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


@contextlib.contextmanager
def _silenced_output() -> Iterator[None]:
    """stdout and stderr to /dev/null: Python's streams and file descriptors 1 and 2, for what
    C++ writes. Process-wide while it lasts, like any redirection of the descriptors."""
    _flush()
    sink = os.open(os.devnull, os.O_WRONLY)
    saved: list[tuple[int, int]] = []
    try:
        for descriptor in (1, 2):
            with contextlib.suppress(OSError):  # a closed descriptor stays closed
                saved.append((descriptor, os.dup(descriptor)))
                os.dup2(sink, descriptor)
        with (
            contextlib.redirect_stdout(io.StringIO()),
            contextlib.redirect_stderr(io.StringIO()),
        ):
            yield
    finally:
        _flush()
        for descriptor, copy in saved:
            os.dup2(copy, descriptor)
            os.close(copy)
        os.close(sink)


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.flush()
    with contextlib.suppress(Exception):  # C's stdio buffers (C++ streams write through them)
        import ctypes

        ctypes.CDLL(None).fflush(None)


def run_exporters(
    torch: Any,
    model: Any,
    inputs: tuple[Any, ...],
    path: str,
    names_in: list[str],
    names_out: list[str],
    axes: dict[str, dict[int, str]],
    opset: int | None,
    exporter: str,
    verbose: bool,
) -> tuple[str, str, list[ExporterWarning]]:
    """Export with `exporter` ("auto", "dynamo" or "legacy"): (exporter used, why, warnings).

    A failure raises `ExporterFailed` with a one-line message, chained to the exporter's error.
    """
    common: dict[str, Any] = {"input_names": names_in, "output_names": names_out}
    if opset is not None:
        common["opset_version"] = opset
    dynamo_reason = ""
    if exporter in ("auto", "dynamo"):
        try:
            with exporter_session(torch, verbose) as recorded, torch.no_grad():
                torch.onnx.export(
                    model,
                    inputs,
                    path,
                    dynamo=True,
                    dynamic_shapes=_dynamic_shapes(torch, names_in, axes),
                    external_data=False,
                    **common,
                )
            reason = "requested" if exporter == "dynamo" else "the dynamo exporter succeeded"
            return "dynamo", reason, recorded
        except Exception as error:
            if exporter == "dynamo":
                raise ExporterFailed(f"the dynamo exporter failed: {summary(error)}") from error
            dynamo_reason = summary(error)
    try:
        with exporter_session(torch, verbose) as recorded, torch.no_grad():
            torch.onnx.export(
                model, inputs, path, dynamo=False, dynamic_axes=axes or None, **common
            )
    except Exception as error:
        first = f" (the dynamo exporter failed first: {dynamo_reason})" if dynamo_reason else ""
        raise ExporterFailed(f"the legacy exporter failed: {summary(error)}{first}") from error
    reason = "requested" if exporter == "legacy" else f"the dynamo exporter failed: {dynamo_reason}"
    return "legacy", reason, recorded


class ExporterFailed(Exception):
    """An exporter raised; the message is one clean line."""


def _dynamic_shapes(torch: Any, names_in: list[str], axes: dict[str, dict[int, str]]) -> Any:
    dims: dict[str, Any] = {}
    return tuple(
        {
            axis: dims.setdefault(name, torch.export.Dim(name, min=1))
            for axis, name in axes.get(n, {}).items()
        }
        or None
        for n in names_in
    )


def summary(error: BaseException) -> str:
    """One clean line for an exporter's error: the root cause's first paragraph, without
    terminal colours, cut at a sentence, and where in the model's code it happened.

    The exporters' own messages open with colour codes, "step 1/3" banners and lists of
    next steps; the cause at the bottom of the chain is what went wrong.
    """
    root, seen = error, {id(error)}
    while root.__cause__ is not None and id(root.__cause__) not in seen:
        root = root.__cause__
        seen.add(id(root))
    text = _ANSI.sub("", str(root)).strip()
    first = one_line(text.split("\n\n")[0]) if text else ""
    line = f"{type(root).__name__}: {first}" if first else type(root).__name__
    where = re.search(
        r'The following call raised this error:\s*File "([^"]+)", line (\d+), in (\S+)\n\s*(.*)',
        _ANSI.sub("", str(error)),
    )
    if where:
        file, number, function, code = where.groups()
        line += f" (in {function} at {os.path.basename(file)}:{number}: {code.strip()})"
    return line


def one_line(text: str, limit: int = _REASON_LIMIT) -> str:
    """`text` on one line, colours removed; if longer than `limit`, cut after a sentence."""
    line = " ".join(_ANSI.sub("", text).split())
    if len(line) <= limit:
        return line
    cut = line.rfind(". ", 0, limit)
    if cut > limit // 3:
        return line[: cut + 1]
    return line[: line.rfind(" ", 0, limit)] + " ..."
