"""`fastort.export`: PyTorch -> ONNX with a dynamic batch axis, checked and verified.

PyTorch and onnx are imported here only, when `export` is called: `import fastort` never
loads them (they come with the `export` extra: `pip install fastort[export]`).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import stat
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._core import FastortError, InvalidArgumentError, InvalidTypeError
from ._exporters import ExporterFailed, one_line, run_exporters
from ._metadata import LABELS_KEY, TRANSFORM_KEY
from .image import ImageTransform
from .session import Session

__all__ = ["ExportError", "ExportReport", "ExportVerificationError", "OutputCheck", "export"]

_EXPORTERS = ("auto", "dynamo", "legacy")


class ExportError(FastortError):
    """The exporter could not turn the model into ONNX (its message is included)."""


class ExportVerificationError(FastortError):
    """The exported model's outputs differ from PyTorch's beyond the tolerances."""

    def __init__(self, message: str, report: ExportReport) -> None:
        super().__init__(message)
        self.report = report


@dataclass
class OutputCheck:
    """One output compared with PyTorch at one batch size, on the example or random inputs."""

    batch: int
    name: str
    max_abs: float
    max_rel: float
    ok: bool
    inputs: str = "example"


@dataclass
class ExportReport:
    path: str
    exporter: str
    exporter_reason: str
    opset: int
    inputs: list[tuple[str, list[Any], str]]
    outputs: list[tuple[str, list[Any], str]]
    checks: list[OutputCheck] = field(default_factory=list)
    export_seconds: float = 0.0
    verify_seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    trace_warnings: list[str] = field(default_factory=list)  # "the trace may be wrong" ones

    @property
    def input_names(self) -> list[str]:
        return [name for name, _, _ in self.inputs]

    @property
    def output_names(self) -> list[str]:
        return [name for name, _, _ in self.outputs]

    def differences_table(self) -> str:
        rows = [
            f"  {'batch':>5}  {'inputs':8s} {'output':20s} {'max abs diff':>13s} "
            f"{'max rel diff':>13s}  ok"
        ]
        for check in self.checks:
            verdict = "yes" if check.ok else "NO"
            rows.append(
                f"  {check.batch:>5}  {check.inputs:8s} {check.name:20s} {check.max_abs:13.3g} "
                f"{check.max_rel:13.3g}  {verdict}"
            )
        return "\n".join(rows)

    def __str__(self) -> str:
        lines = [
            f"exported {self.path}",
            f"  exporter: {self.exporter} ({self.exporter_reason})",
            f"  opset: {self.opset}",
        ]
        for role, values in (("input", self.inputs), ("output", self.outputs)):
            for name, shape, dtype in values:
                lines.append(f"  {role:6s} {name}: {dtype}{shape}")
        lines.append(f"  export {self.export_seconds:.2f} s, verify {self.verify_seconds:.2f} s")
        if self.checks:
            lines.append("  verification against PyTorch:")
            lines.append(self.differences_table())
        lines.extend(f"  warning: {text}" for text in self.warnings)
        return "\n".join(lines)


def export(
    model: Any,
    example_inputs: Any,
    path: str | os.PathLike[str],
    *,
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
    dynamic_batch: bool = True,
    dynamic_axes: Mapping[str, Mapping[int, str]] | None = None,
    opset: int | None = None,
    exporter: str = "auto",
    verify: bool = True,
    rtol: float = 1e-3,
    atol: float = 1e-5,
    transform: ImageTransform | None = None,
    labels: Sequence[str] | None = None,
    metadata: Mapping[str, str] | None = None,
    allow_trace_warnings: bool = False,
    verbose: bool = False,
) -> ExportReport:
    """Export a PyTorch module to one self-contained ONNX file and verify it.

    The model is put in eval mode (a warning says so if it was training) and run under
    `torch.no_grad()`. Axis 0 of every input and output is dynamic unless
    `dynamic_batch=False`; `dynamic_axes={input name: {axis: dim name}}` adds more.
    `exporter="dynamo"` uses torch's dynamo exporter (needs onnxscript), `"legacy"` the
    TorchScript one, `"auto"` tries dynamo and falls back to legacy, recording why.

    The file is checked with `onnx.checker` (full check), then run with fastort and compared
    with PyTorch at batch 1 and at a batch > 1, on the example and on random inputs drawn
    with a fixed seed (floats standard normal, integers and bools within the example's
    range), since a trace can be right for the example only. An output beyond `rtol`/`atol`
    raises `ExportVerificationError` with a table of differences. So does a tracer warning
    that the trace may not generalise (the model turned a tensor into a Python number or
    bool, e.g. for an `if`), unless `allow_trace_warnings=True`. On an error no file is
    left behind. The exporter's warnings are in `report.warnings`.

    The exporters' progress, logs and graph dumps (stdout and stderr, also what C++ writes
    to the file descriptors) are hidden unless `verbose=True`; hiding them redirects the
    process's descriptors 1 and 2 while the exporter runs. The file is created with the
    permissions of any new file (0644 under umask 022).

    `transform` (an ImageTransform) and `labels` (class names) are stored in the model's
    metadata, where `Session.transform`, `Session.labels` and `Session.classify` find them.
    """
    torch = _import_torch()
    if not isinstance(model, torch.nn.Module):
        raise InvalidTypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    inputs = _as_tensor_tuple(torch, example_inputs)
    if exporter not in _EXPORTERS:
        raise InvalidArgumentError(
            f"exporter must be one of {', '.join(map(repr, _EXPORTERS))}, got {exporter!r}"
        )
    if transform is not None and not isinstance(transform, ImageTransform):
        raise InvalidTypeError(
            f"transform must be a fastort.ImageTransform, got {type(transform).__name__}"
        )
    target = os.path.abspath(os.fspath(path))
    folder = os.path.dirname(target)
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"directory does not exist: {folder}")
    names_in = _names(input_names, "input", len(inputs))
    report_warnings: list[str] = []
    if model.training:
        report_warnings.append("the model was in training mode; it was switched to eval mode")
        model.eval()
    if dynamic_batch:
        inputs = tuple(_at_least_two(torch, tensor) for tensor in inputs)
    with torch.no_grad():
        reference = _flatten(torch, model(*inputs))
    names_out = _names(output_names, "output", len(reference))
    if labels is not None:
        labels = _check_labels(labels, reference)
    axes = _axes(names_in, names_out, dynamic_batch, dynamic_axes)

    temporary, mode = _new_file(target)
    try:
        start = time.perf_counter()
        try:
            used, reason, exporter_warnings = run_exporters(
                torch, model, inputs, temporary, names_in, names_out, axes, opset, exporter, verbose
            )
        except ExporterFailed as error:
            hint = "" if verbose else " (verbose=True shows the exporter's output)"
            raise ExportError(f"{error}{hint}") from error.__cause__
        export_seconds = time.perf_counter() - start
        opset_used = _finish_file(temporary, transform, labels, metadata)
        report = ExportReport(
            path=target,
            exporter=used,
            exporter_reason=reason,
            opset=opset_used,
            inputs=[],
            outputs=[],
            export_seconds=export_seconds,
            warnings=report_warnings + [str(w) for w in exporter_warnings],
            trace_warnings=[str(w) for w in exporter_warnings if w.trace_may_be_wrong],
        )
        session = Session(temporary, cache=False)  # loaded once: describes and verifies
        report.inputs = [(i.name, i.shape, i.type) for i in session.inputs]
        report.outputs = [(o.name, o.shape, o.type) for o in session.outputs]
        if verify:
            start = time.perf_counter()
            _verify(
                torch,
                model,
                inputs,
                session,
                names_in,
                names_out,
                dynamic_batch,
                report,
                rtol,
                atol,
            )
            report.verify_seconds = time.perf_counter() - start
            _raise_if_wrong(report, rtol, atol, allow_trace_warnings)
        os.chmod(temporary, mode)  # in case an exporter replaced the file
        os.replace(temporary, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temporary)
    return report


def _new_file(target: str) -> tuple[str, int]:
    """A new, empty file beside `target` and its mode.

    Created like any new file (0666 less the umask, or the folder's default ACL), not 0600
    like `tempfile.mkstemp`'s: the mode survives `os.replace`, and a model is meant to be read
    by other users and services.
    """
    folder, name = os.path.split(target)
    for _ in range(100):
        path = os.path.join(folder, f".{name}.{secrets.token_hex(4)}.tmp.onnx")
        try:
            handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        try:
            return path, stat.S_IMODE(os.fstat(handle).st_mode)
        finally:
            os.close(handle)
    raise FileExistsError(f"cannot create a temporary file in {folder}")


def _import_torch() -> Any:
    try:
        import torch
    except ImportError:
        raise ImportError("fastort.export needs PyTorch: pip install 'fastort[export]'") from None
    return torch


def _as_tensor_tuple(torch: Any, example_inputs: Any) -> tuple[Any, ...]:
    items = (example_inputs,) if isinstance(example_inputs, torch.Tensor) else example_inputs
    if not isinstance(items, (tuple, list)) or not items:
        raise InvalidTypeError("example_inputs must be a tensor or a non-empty tuple of tensors")
    for index, item in enumerate(items):
        if not isinstance(item, torch.Tensor):
            raise InvalidTypeError(
                f"example_inputs[{index}] must be a torch.Tensor, got {type(item).__name__}"
            )
    return tuple(items)


def _at_least_two(torch: Any, tensor: Any) -> Any:
    # A batch of 1 lets the exporter specialise the batch axis to 1.
    if tensor.dim() == 0 or tensor.shape[0] >= 2:
        return tensor
    return torch.cat([tensor, tensor], dim=0)


def _flatten(torch: Any, outputs: Any) -> list[Any]:
    if isinstance(outputs, torch.Tensor):
        return [outputs]
    if isinstance(outputs, Mapping):
        outputs = list(outputs.values())
    if isinstance(outputs, (list, tuple)):
        flat: list[Any] = []
        for item in outputs:
            flat.extend(_flatten(torch, item))
        return flat
    raise TypeError(f"the model returned {type(outputs).__name__}; fastort.export needs tensors")


def _names(names: Sequence[str] | None, prefix: str, count: int) -> list[str]:
    if names is None:
        return [prefix] if count == 1 else [f"{prefix}_{i}" for i in range(count)]
    result = list(names)
    if len(result) != count or not all(isinstance(n, str) and n for n in result):
        raise InvalidArgumentError(
            f"{prefix}_names must be {count} non-empty strings, got {names!r}"
        )
    if len(set(result)) != len(result):
        raise InvalidArgumentError(f"{prefix}_names must be unique, got {names!r}")
    return result


def _check_labels(labels: Sequence[str], reference: list[Any]) -> list[str]:
    result = list(labels)
    if not all(isinstance(label, str) for label in result):
        raise InvalidTypeError("labels must be strings")
    classes = reference[0].shape[-1] if reference[0].dim() > 0 else 1
    if len(result) != classes:
        raise InvalidArgumentError(
            f"got {len(result)} labels but the first output has {classes} classes"
        )
    return result


def _axes(
    inputs: list[str],
    outputs: list[str],
    dynamic_batch: bool,
    extra: Mapping[str, Mapping[int, str]] | None,
) -> dict[str, dict[int, str]]:
    axes: dict[str, dict[int, str]] = (
        {name: {0: "batch"} for name in inputs + outputs} if dynamic_batch else {}
    )
    for name, mapping in (extra or {}).items():
        if name not in inputs and name not in outputs:
            raise InvalidArgumentError(
                f"dynamic_axes names {name!r}, which is not an input or output name"
            )
        axes.setdefault(name, {}).update({int(axis): str(dim) for axis, dim in mapping.items()})
    return axes


def _finish_file(
    path: str,
    transform: ImageTransform | None,
    labels: list[str] | None,
    metadata: Mapping[str, str] | None,
) -> int:
    """Store fastort's metadata, run the full ONNX check, return the default-domain opset."""
    import onnx

    model = onnx.load(path, load_external_data=False)  # weights stay where they are
    entries = {str(k): str(v) for k, v in (metadata or {}).items()}
    if transform is not None:
        entries[TRANSFORM_KEY] = json.dumps(transform.to_dict())
    if labels is not None:
        entries[LABELS_KEY] = json.dumps(labels)
    if entries:
        kept = [p for p in model.metadata_props if p.key not in entries]
        del model.metadata_props[:]
        model.metadata_props.extend(kept)
        for key, value in entries.items():
            model.metadata_props.add(key=key, value=value)
        onnx.save_model(model, path)
    try:
        onnx.checker.check_model(path, full_check=True)
    except onnx.checker.ValidationError as error:
        raise ExportError(
            f"the exported model fails onnx.checker: {one_line(str(error))}"
        ) from error
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def _verify(
    torch: Any,
    model: Any,
    inputs: tuple[Any, ...],
    session: Session,
    names_in: list[str],
    names_out: list[str],
    dynamic_batch: bool,
    report: ExportReport,
    rtol: float,
    atol: float,
) -> None:
    """Compare with PyTorch on the example and on seeded random inputs (own generator: the
    caller's random state is left alone); the comparisons go into `report.checks`."""
    generator = torch.Generator().manual_seed(0)
    if dynamic_batch:
        batches = [
            ("example", tuple(t[:1] for t in inputs)),
            ("example", tuple(_three(torch, t) for t in inputs)),
            ("random", tuple(_random_like(torch, t, 1, generator) for t in inputs)),
            ("random", tuple(_random_like(torch, t, 3, generator) for t in inputs)),
        ]
    else:
        batches = [
            ("example", inputs),
            ("random", tuple(_random_like(torch, t, None, generator) for t in inputs)),
        ]
    wanted = {info.name for info in session.inputs}  # an exporter may drop unused inputs
    for kind, batch in batches:
        with torch.no_grad():
            expected = [t.detach().cpu().numpy() for t in _flatten(torch, model(*batch))]
        feed = {
            name: t.detach().cpu().numpy() for name, t in zip(names_in, batch) if name in wanted
        }
        actual = session.run(None, feed)
        size = int(batch[0].shape[0]) if batch[0].dim() > 0 else 1
        for name, ours, theirs in zip(names_out, actual, expected):
            check = _compare(np.asarray(ours), theirs, rtol, atol)
            report.checks.append(OutputCheck(size, name, *check, inputs=kind))


def _compare(ours: Any, theirs: Any, rtol: float, atol: float) -> tuple[float, float, bool]:
    """(max abs diff, max rel diff, within tolerances) like `np.allclose(equal_nan=True)`:
    NaN where PyTorch has NaN, and the same infinity, agree."""
    if ours.shape != theirs.shape:
        return float("inf"), float("inf"), False
    wide = np.complex128 if np.iscomplexobj(theirs) else np.float64
    a, b = ours.astype(wide), theirs.astype(wide)
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    with np.errstate(invalid="ignore", divide="ignore"):
        diff = np.where(same, 0.0, np.abs(a - b))
        diff = np.where(np.isnan(diff), np.inf, diff)
        relative = diff / (np.abs(b) + 1e-12)
        within = np.isfinite(diff) & (diff <= atol + rtol * np.abs(b))
    max_abs = float(diff.max()) if diff.size else 0.0
    max_rel = float(relative.max()) if diff.size else 0.0
    ok = bool(np.all(same | within))
    return max_abs, max_rel, ok


def _raise_if_wrong(
    report: ExportReport, rtol: float, atol: float, allow_trace_warnings: bool
) -> None:
    problems = []
    if not all(check.ok for check in report.checks):
        problems.append(
            f"the exported model disagrees with PyTorch (rtol={rtol}, atol={atol}); no file was "
            f"written:\n{report.differences_table()}"
        )
    if report.trace_warnings and not allow_trace_warnings:
        listed = "\n".join(f"  {text}" for text in report.trace_warnings)
        problems.append(
            "the exporter warned that its trace may not fit inputs other than the example (the "
            "model turns tensors into Python values, e.g. for an `if`)"
            + ("" if problems else "; no file was written")
            + f":\n{listed}\nWrite that part with tensor operations (e.g. torch.where), or "
            "pass allow_trace_warnings=True to keep the export."
        )
    if problems:
        raise ExportVerificationError("\n".join(problems), report)


def _random_like(torch: Any, tensor: Any, batch: int | None, generator: Any) -> Any:
    """Random values shaped like `tensor` (with `batch` rows): floats standard normal,
    integers and bools uniform within the example's range (indices stay valid)."""
    shape = (
        tuple(tensor.shape)
        if batch is None or tensor.dim() == 0
        else (
            batch,
            *tensor.shape[1:],
        )
    )
    if tensor.is_floating_point() or tensor.is_complex():
        return torch.randn(shape, generator=generator, dtype=tensor.dtype)
    if tensor.numel() == 0:
        return torch.zeros(shape, dtype=tensor.dtype)
    low, high = int(tensor.min()), int(tensor.max())
    values = torch.randint(low, min(high + 1, 2**63 - 1), shape, generator=generator)
    return values.to(tensor.dtype)


def _three(torch: Any, tensor: Any) -> Any:
    # A batch of 3 from the example, whatever its own batch size.
    if tensor.dim() == 0:
        return tensor
    repeats = (3 + tensor.shape[0] - 1) // tensor.shape[0]
    return torch.cat([tensor] * repeats, dim=0)[:3]
