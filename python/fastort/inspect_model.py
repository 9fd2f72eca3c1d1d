"""What `fastort inspect` reports about a model file: signature, opsets, operators, weights.

The signature comes from fastort itself; the graph details need the `onnx` package and are
left out (with a note) when it is not installed.
"""

from __future__ import annotations

import collections
import json
import os
from typing import Any

from . import _core
from ._metadata import LABELS_KEY, TRANSFORM_KEY, classes_per_row, stored_metadata
from .session import Session

__all__ = ["format_report", "inspect_model", "printable"]


def printable(text: str) -> str:
    """`text` with control and other non-printable characters escaped (`\\x1b`, `\\n`).

    Names, labels and metadata come from model files: printed raw, an escape sequence in
    one could rewrite the terminal, and a newline could forge lines of the report.
    """
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def inspect_model(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A JSON-ready description of the model at `path`.

    Malformed fastort metadata does not stop the inspection: `report["fastort"]["problems"]`
    says what is wrong with it, and its raw text stays under `report["metadata"]`.
    """
    path = os.fspath(path)
    session = Session(path, cache=False)
    meta = session.get_modelmeta()
    custom = dict(meta.custom_metadata_map)
    stored = stored_metadata(session)
    transform, labels = stored.transform, stored.labels
    problems = dict(stored.problems)
    classes = classes_per_row(session.outputs[0].shape) if session.outputs else None
    if labels is not None and classes is not None and len(labels) != classes:
        name = session.outputs[0].name
        problems[LABELS_KEY] = f"{len(labels)} labels but output {name!r} has {classes} classes"
    parsed = {key for key in (TRANSFORM_KEY, LABELS_KEY) if key not in stored.problems}
    report: dict[str, Any] = {
        "path": os.path.abspath(path),
        "file_bytes": os.path.getsize(path),
        "inputs": [_value(v) for v in session.inputs],
        "outputs": [_value(v) for v in session.outputs],
        "producer": meta.producer_name,
        "graph_name": meta.graph_name,
        "threads": session.threads,
        "cpu_budget": _core.cpu_budget(),
        "metadata": {k: v for k, v in custom.items() if k not in parsed},
        "fastort": {
            "transform": transform.to_dict() if transform else None,
            "labels": len(labels) if labels is not None else None,
            "problems": problems,
        },
    }
    report.update(_graph_details(path))
    return report


def _value(info: Any) -> dict[str, Any]:
    dynamic = [i for i, d in enumerate(info.shape) if not isinstance(d, int)]
    return {"name": info.name, "type": info.type, "shape": info.shape, "dynamic_axes": dynamic}


def _graph_details(path: str) -> dict[str, Any]:
    try:
        import onnx
    except ImportError:
        return {"note": "install onnx for opsets, operators and parameter counts"}
    model = onnx.load(path, load_external_data=False)
    graph = model.graph
    operators = collections.Counter(node.op_type for node in graph.node)
    parameters, weight_bytes, external = 0, 0, set()
    for tensor in graph.initializer:
        count = 1
        for dim in tensor.dims:
            count *= dim
        parameters += count
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            for entry in tensor.external_data:
                if entry.key == "location":
                    external.add(entry.value)
                if entry.key == "length":
                    weight_bytes += int(entry.value)
        else:
            weight_bytes += _stored_bytes(onnx, tensor, count)
    return {
        "ir_version": model.ir_version,
        "producer_version": model.producer_version,
        "opsets": {o.domain or "ai.onnx": o.version for o in model.opset_import},
        "nodes": len(graph.node),
        "operators": dict(operators.most_common()),
        "parameters": parameters,
        "parameter_bytes": weight_bytes,
        "external_data": sorted(external),
    }


def _stored_bytes(onnx: Any, tensor: Any, count: int) -> int:
    if tensor.raw_data:
        return len(tensor.raw_data)
    if tensor.data_type == onnx.TensorProto.STRING:
        return sum(len(item) for item in tensor.string_data)
    return count * int(onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type).itemsize)


def format_report(report: dict[str, Any]) -> str:
    lines = [f"{report['path']}  ({report['file_bytes'] / 1e6:.2f} MB)"]
    for role in ("inputs", "outputs"):
        lines.append(f"{role}:")
        for value in report[role]:
            dims = ", ".join(str(d) for d in value["shape"])
            dynamic = f"  dynamic axes {value['dynamic_axes']}" if value["dynamic_axes"] else ""
            lines.append(f"  {value['name']}: {value['type']} [{dims}]{dynamic}")
    lines.append(
        f"producer: {report['producer'] or '-'} {report.get('producer_version', '')}".rstrip()
    )
    if "opsets" in report:
        opsets = ", ".join(f"{domain} {version}" for domain, version in report["opsets"].items())
        lines.append(f"IR version {report['ir_version']}, opsets: {opsets}")
        lines.append(
            f"parameters: {report['parameters']:,} ({report['parameter_bytes'] / 1e6:.2f} MB)"
        )
        if report["external_data"]:
            lines.append(f"external data: {', '.join(report['external_data'])}")
        lines.append(f"operators ({report['nodes']} nodes):")
        for op, count in report["operators"].items():
            lines.append(f"  {op:24s} {count}")
    else:
        lines.append(report["note"])
    budget = report["cpu_budget"]
    quota = f", quota {budget['quota']:g} CPUs" if budget["quota"] else ""
    omp = f", OMP_NUM_THREADS={budget['omp_threads']}" if budget["omp_threads"] else ""
    lines.append(
        f'threads: {report["threads"]} (threads="auto": {budget["physical_cores"]} cores of '
        f"{budget['affinity']} usable CPUs{quota}{omp})"
    )
    fastort = report["fastort"]
    if fastort["transform"]:
        lines.append(f"fastort transform: {json.dumps(fastort['transform'])}")
    if fastort["labels"] is not None:
        lines.append(f"fastort labels: {fastort['labels']} classes")
    for key, problem in fastort.get("problems", {}).items():
        lines.append(f"{key} metadata is malformed: {problem}")
    for key, value in report["metadata"].items():
        lines.append(f"metadata {key}: {value[:120]}")
    return "\n".join(printable(line) for line in lines)
