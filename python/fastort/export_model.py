"""`fastort.export`: PyTorch -> ONNX with a dynamic batch axis, checked and verified.

PyTorch and onnx are imported here only, when `export` is called: `import fastort` never
loads them (they come with the `export` extra: `pip install fastort[export]`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import stat
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._core import FastortError
from .image import ImageTransform
from .session import LABELS_KEY, TRANSFORM_KEY, Session

_EXPORTERS = ("auto", "dynamo", "legacy")
_PROTOBUF_LIMIT = (2 << 30) - (64 << 20)  # 2 GiB, less room for the graph itself


class ExportError(FastortError):
    """The exporter could not turn the model into ONNX (its message is included)."""


class ExportVerificationError(FastortError):
    """The exported model's outputs differ from PyTorch's beyond the tolerances."""

    def __init__(self, message: str, report: ExportReport) -> None:
        super().__init__(message)
        self.report = report


@dataclass
class OutputCheck:
    """One output compared with PyTorch at one batch size."""

    batch: int
    name: str
    max_abs: float
    max_rel: float
    ok: bool


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

    @property
    def input_names(self) -> list[str]:
        return [name for name, _, _ in self.inputs]

    @property
    def output_names(self) -> list[str]:
        return [name for name, _, _ in self.outputs]

    def differences_table(self) -> str:
        rows = [f"  {'batch':>5}  {'output':20s} {'max abs diff':>13s} {'max rel diff':>13s}  ok"]
        for check in self.checks:
            verdict = "yes" if check.ok else "NO"
            rows.append(
                f"  {check.batch:>5}  {check.name:20s} {check.max_abs:13.3g} "
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
) -> ExportReport:
    """Export a PyTorch module to one self-contained ONNX file and verify it.

    The model is put in eval mode (a warning says so if it was training) and run under
    `torch.no_grad()`. Axis 0 of every input and output is dynamic unless
    `dynamic_batch=False`; `dynamic_axes={input name: {axis: dim name}}` adds more.
    `exporter="dynamo"` uses torch's dynamo exporter (needs onnxscript), `"legacy"` the
    TorchScript one, `"auto"` tries dynamo and falls back to legacy, recording why. The file
    is checked with `onnx.checker` (full check), then run with fastort at batch 1 and at a
    batch > 1 and compared with PyTorch: an output beyond `rtol`/`atol` raises
    `ExportVerificationError` with a table of differences, and no file is left behind.
    `transform` (an ImageTransform) and `labels` (class names) are stored in the model's
    metadata, where `Session.transform`, `Session.labels` and `Session.classify` find them.
    """
    torch = _import_torch()
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    inputs = _as_tensor_tuple(torch, example_inputs)
    if exporter not in _EXPORTERS:
        raise ValueError(
            f"exporter must be one of {', '.join(map(repr, _EXPORTERS))}, got {exporter!r}"
        )
    if transform is not None and not isinstance(transform, ImageTransform):
        raise TypeError(
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
        used, reason = _run_exporter(
            torch, model, inputs, temporary, names_in, names_out, axes, opset, exporter
        )
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
            warnings=report_warnings,
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
                rtol,
                atol,
                report,
            )
            report.verify_seconds = time.perf_counter() - start
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
        raise TypeError("example_inputs must be a tensor or a non-empty tuple of tensors")
    for index, item in enumerate(items):
        if not isinstance(item, torch.Tensor):
            raise TypeError(
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
        raise ValueError(f"{prefix}_names must be {count} non-empty strings, got {names!r}")
    if len(set(result)) != len(result):
        raise ValueError(f"{prefix}_names must be unique, got {names!r}")
    return result


def _check_labels(labels: Sequence[str], reference: list[Any]) -> list[str]:
    result = list(labels)
    if not all(isinstance(label, str) for label in result):
        raise TypeError("labels must be strings")
    classes = reference[0].shape[-1] if reference[0].dim() > 0 else 1
    if len(result) != classes:
        raise ValueError(f"got {len(result)} labels but the first output has {classes} classes")
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
            raise ValueError(f"dynamic_axes names {name!r}, which is not an input or output name")
        axes.setdefault(name, {}).update({int(axis): str(dim) for axis, dim in mapping.items()})
    return axes


@contextlib.contextmanager
def _quiet_exporter() -> Any:
    # The exporters log progress and warnings meant for their developers.
    loggers = [
        logging.getLogger(name)
        for name in ("torch.onnx", "torch.export", "torch._export", "onnxscript")
    ]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with (
            open(os.devnull, "w") as sink,
            warnings.catch_warnings(),
            contextlib.redirect_stdout(sink),
        ):
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def _run_exporter(
    torch: Any,
    model: Any,
    inputs: tuple[Any, ...],
    path: str,
    names_in: list[str],
    names_out: list[str],
    axes: dict[str, dict[int, str]],
    opset: int | None,
    exporter: str,
) -> tuple[str, str]:
    common: dict[str, Any] = {"input_names": names_in, "output_names": names_out}
    if opset is not None:
        common["opset_version"] = opset
    dynamo_error = ""
    if exporter in ("auto", "dynamo"):
        try:
            dims: dict[str, Any] = {}
            shapes = [
                {
                    axis: dims.setdefault(name, torch.export.Dim(name, min=1))
                    for axis, name in axes.get(n, {}).items()
                }
                or None
                for n in names_in
            ]
            with _quiet_exporter(), torch.no_grad():
                torch.onnx.export(
                    model,
                    inputs,
                    path,
                    dynamo=True,
                    dynamic_shapes=tuple(shapes),
                    external_data=False,
                    **common,
                )
            return "dynamo", "requested" if exporter == "dynamo" else "dynamo exporter succeeded"
        except Exception as error:
            if exporter == "dynamo":
                raise ExportError(f"the dynamo exporter failed: {_first_line(error)}") from error
            dynamo_error = _first_line(error)
    try:
        with _quiet_exporter(), torch.no_grad():
            torch.onnx.export(
                model, inputs, path, dynamo=False, dynamic_axes=axes or None, **common
            )
    except Exception as error:
        first = f" (the dynamo exporter failed first: {dynamo_error})" if dynamo_error else ""
        raise ExportError(f"the legacy exporter failed: {_first_line(error)}{first}") from error
    reason = "requested" if exporter == "legacy" else f"dynamo exporter failed: {dynamo_error}"
    return "legacy", reason


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:300]


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
        raise ExportError(f"the exported model fails onnx.checker: {_first_line(error)}") from error
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def _verify(
    torch: Any,
    model: Any,
    inputs: tuple[Any, ...],
    session: Session,
    names_in: list[str],
    names_out: list[str],
    dynamic_batch: bool,
    rtol: float,
    atol: float,
    report: ExportReport,
) -> None:
    batches = [inputs]
    if dynamic_batch:
        batches = [tuple(t[:1] for t in inputs), tuple(_three(torch, t) for t in inputs)]
    for batch in batches:
        with torch.no_grad():
            expected = [t.detach().cpu().numpy() for t in _flatten(torch, model(*batch))]
        wanted = {info.name for info in session.inputs}  # an exporter may drop unused inputs
        feed = {
            name: t.detach().cpu().numpy() for name, t in zip(names_in, batch) if name in wanted
        }
        actual = session.run(None, feed)
        size = int(batch[0].shape[0]) if batch[0].dim() > 0 else 1
        for name, ours, theirs in zip(names_out, actual, expected):
            ours = np.asarray(ours)
            if ours.shape != theirs.shape:
                report.checks.append(OutputCheck(size, name, float("inf"), float("inf"), False))
                continue
            diff = np.abs(ours.astype(np.float64) - theirs.astype(np.float64))
            max_abs = float(diff.max()) if diff.size else 0.0
            max_rel = (
                float((diff / (np.abs(theirs.astype(np.float64)) + 1e-12)).max())
                if diff.size
                else 0.0
            )
            ok = bool(np.allclose(ours, theirs, rtol=rtol, atol=atol))
            report.checks.append(OutputCheck(size, name, max_abs, max_rel, ok))
    if not all(check.ok for check in report.checks):
        raise ExportVerificationError(
            f"the exported model disagrees with PyTorch (rtol={rtol}, atol={atol}); no file was "
            f"written:\n{report.differences_table()}",
            report,
        )


def _three(torch: Any, tensor: Any) -> Any:
    # A batch of 3 from the example, whatever its own batch size.
    if tensor.dim() == 0:
        return tensor
    repeats = (3 + tensor.shape[0] - 1) // tensor.shape[0]
    return torch.cat([tensor] * repeats, dim=0)[:3]
