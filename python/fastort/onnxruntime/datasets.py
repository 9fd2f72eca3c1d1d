"""onnxruntime's sample models (`sigmoid.onnx`, `logreg_iris.onnx`, `mul_1.onnx`), from the
installed onnxruntime wheel's `datasets` folder."""

from __future__ import annotations

import os

from .._ort_wheel import datasets_dir

__all__ = ["get_example"]


def get_example(name: str) -> str:
    """The absolute path of a sample model; FileNotFoundError when there is none."""
    full = os.path.join(datasets_dir(), name)
    if not os.path.exists(full):
        raise FileNotFoundError(f"Unable to find example '{name}'")
    return full
