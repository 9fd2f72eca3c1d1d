"""onnxruntime's ORT_LOAD_CONFIG_FROM_MODEL: session options read from the model itself."""

from __future__ import annotations

import json
import os
from typing import Any, Callable

from .. import _core
from ._options import ExecutionMode, GraphOptimizationLevel, SessionOptions

__all__ = ["config_from_model", "with_model_config"]


def config_from_model() -> bool:
    """onnxruntime's ORT_LOAD_CONFIG_FROM_MODEL=1: ONNX Runtime itself then applies the session
    options of the model's "ort_config" metadata, which fastort must know (to report them, and
    not to share a session whose options are the model's)."""
    return os.environ.get("ORT_LOAD_CONFIG_FROM_MODEL") == "1"


def with_model_config(options: SessionOptions, model: _core.Model) -> SessionOptions:
    """`options` with those ONNX Runtime took from the model (the five it reads)."""
    text = model.metadata.custom_metadata_map.get("ort_config")
    if text is None:
        return options
    try:
        config = json.loads(text).get("session_options", {})
    except (ValueError, AttributeError):
        return options  # ONNX Runtime refuses such a model when it loads
    updated = options._copy()
    setters: dict[str, Callable[[Any], None]] = {
        "intra_op_num_threads": lambda v: setattr(updated, "intra_op_num_threads", int(v)),
        "inter_op_num_threads": lambda v: setattr(updated, "inter_op_num_threads", int(v)),
        "execution_mode": lambda v: setattr(updated, "execution_mode", ExecutionMode(v)),
        "graph_optimization_level": lambda v: setattr(
            updated, "graph_optimization_level", GraphOptimizationLevel(v)
        ),
        "enable_profiling": lambda v: setattr(updated, "enable_profiling", bool(v)),
    }
    for key, value in config.items():
        if key in setters and isinstance(value, int):
            setters[key](value)
    return updated
