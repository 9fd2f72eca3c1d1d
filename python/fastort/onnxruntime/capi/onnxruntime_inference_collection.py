"""Where onnxruntime defines its session classes, for code that imports them from there
(`from onnxruntime.capi.onnxruntime_inference_collection import OrtValue`)."""

from .. import (
    AdapterFormat,
    InferenceSession,
    IOBinding,
    ModelCompiler,
    OrtDevice,
    OrtValue,
    SparseTensor,
)
from .._providers import check_and_normalize_provider_args

__all__ = [
    "AdapterFormat",
    "IOBinding",
    "InferenceSession",
    "ModelCompiler",
    "OrtDevice",
    "OrtValue",
    "SparseTensor",
    "check_and_normalize_provider_args",
]
