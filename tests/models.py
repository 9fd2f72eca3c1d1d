"""Tiny test models, made with onnx.helper at test time (nothing binary is committed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from fastort._ort_wheel import datasets_dir

OPSET = 17


def ort_datasets() -> Path:
    return Path(datasets_dir())


def make_model(
    nodes,
    inputs,
    outputs,
    initializers=(),
    name="test",
    metadata=None,
    opset=OPSET,
    ir_version=8,
    check=True,
):
    """A model of these nodes; `check=False` skips onnx's checker, which wants a shape on every
    graph input where ONNX allows none (unknown rank)."""
    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = ir_version
    model.producer_name = "fastort-tests"
    for key, value in (metadata or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    if check:
        onnx.checker.check_model(model)
    return model


def add_model(shape=("N", 3), dtype=TensorProto.FLOAT, metadata=None):
    """z = x + y, plus w = x * 2 as a second output."""
    two = helper.make_tensor("two", dtype, [], [2])
    return make_model(
        [helper.make_node("Add", ["x", "y"], ["z"]), helper.make_node("Mul", ["x", "two"], ["w"])],
        [
            helper.make_tensor_value_info("x", dtype, shape),
            helper.make_tensor_value_info("y", dtype, shape),
        ],
        [
            helper.make_tensor_value_info("z", dtype, shape),
            helper.make_tensor_value_info("w", dtype, shape),
        ],
        [two],
        metadata=metadata,
    )


def identity_model(
    dtype: int, shape=("N", None), opset=OPSET, ir_version=8, input_name="x", check=True
):
    return make_model(
        [helper.make_node("Identity", [input_name], ["y"])],
        [helper.make_tensor_value_info(input_name, dtype, shape)],
        [helper.make_tensor_value_info("y", dtype, shape)],
        opset=opset,
        ir_version=ir_version,
        check=check,
    )


def reshape_model(declared, shape_dims=(2,)):
    """y = Reshape(x, s) for x float[6]: y is declared `declared`, whatever shape `s` (int64 of
    `shape_dims`) gives it at run time, which ONNX Runtime tolerates."""
    return make_model(
        [helper.make_node("Reshape", ["x", "s"], ["y"])],
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [6]),
            helper.make_tensor_value_info("s", TensorProto.INT64, list(shape_dims)),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, declared)],
    )


def matmul_model(size: int):
    """b = a @ a for a size x size float matrix: one long-running node."""
    return make_model(
        [helper.make_node("MatMul", ["a", "a"], ["b"])],
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, [size, size])],
        [helper.make_tensor_value_info("b", TensorProto.FLOAT, [size, size])],
    )


def endless_model():
    """A Loop with no trip count whose condition stays true: a run that never ends."""
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
            helper.make_node("Add", ["v_in", "one"], ["v_out"]),
        ],
        "body",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("v_in", TensorProto.FLOAT, [1]),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("v_out", TensorProto.FLOAT, [1]),
        ],
        initializer=[helper.make_tensor("one", TensorProto.FLOAT, [1], [1.0])],
    )
    return make_model(
        [helper.make_node("Loop", ["", "cond", "x"], ["y"], body=body)],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
        [helper.make_tensor("cond", TensorProto.BOOL, [], [True])],
    )


def classifier_model(classes=5, size=8, metadata=None, seed=0):
    """input float[N, 3, size, size] -> output float[N, classes]: channel means times a matrix."""
    weights = np.random.default_rng(seed).standard_normal((3, classes)).astype(np.float32)
    return make_model(
        [
            helper.make_node("GlobalAveragePool", ["input"], ["pooled"]),
            helper.make_node("Flatten", ["pooled"], ["features"]),
            helper.make_node("MatMul", ["features", "weights"], ["output"]),
        ],
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, size, size])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", classes])],
        [numpy_helper.from_array(weights, "weights")],
        metadata=metadata,
    )


def range_model():
    """y = [0, 1, ..., n - 1]: float32 of the length given by the value of n, a float32 scalar
    input. Its run time follows that value, not the size of the input."""
    return make_model(
        [helper.make_node("Range", ["zero", "n", "one"], ["y"])],
        [helper.make_tensor_value_info("n", TensorProto.FLOAT, [])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["length"])],
        [
            helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0]),
            helper.make_tensor("one", TensorProto.FLOAT, [], [1.0]),
        ],
    )


def mlp_model(width: int = 64, layers: int = 3, seed: int = 0):
    """x float[N, width] -> y float[N, width]: `layers` MatMul+Relu layers."""
    rng = np.random.default_rng(seed)
    nodes, weights, name = [], [], "x"
    for layer in range(layers):
        weight = (rng.standard_normal((width, width)) / np.sqrt(width)).astype(np.float32)
        weights.append(numpy_helper.from_array(weight, f"w{layer}"))
        nodes.append(helper.make_node("MatMul", [name, f"w{layer}"], [f"m{layer}"]))
        name = "y" if layer == layers - 1 else f"r{layer}"
        nodes.append(helper.make_node("Relu", [f"m{layer}"], [name]))
    return make_model(
        nodes,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", width])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", width])],
        weights,
    )


def gather_model():
    """rows int64[N] -> picked float[N, 3]: rows of a 10 x 3 table (an index >= 10 fails)."""
    table = np.arange(30, dtype=np.float32).reshape(10, 3)
    return make_model(
        [helper.make_node("Gather", ["table", "rows"], ["picked"], axis=0)],
        [helper.make_tensor_value_info("rows", TensorProto.INT64, ["N"])],
        [helper.make_tensor_value_info("picked", TensorProto.FLOAT, ["N", 3])],
        [numpy_helper.from_array(table, "table")],
    )
