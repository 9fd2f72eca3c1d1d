"""Run one model through fastort and onnxruntime side by side and compare results and speed.

The model is a small MLP classifier made with onnx.helper (deterministic weights, dynamic
batch axis), so nothing is downloaded.

    python examples/demo.py
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

import fastort


def make_mlp(path: Path, features: int = 256, hidden: int = 512, classes: int = 10) -> None:
    rng = np.random.default_rng(0)
    weights = [
        numpy_helper.from_array(rng.standard_normal((features, hidden), np.float32) * 0.05, "w1"),
        numpy_helper.from_array(np.zeros(hidden, np.float32), "b1"),
        numpy_helper.from_array(rng.standard_normal((hidden, classes), np.float32) * 0.05, "w2"),
        numpy_helper.from_array(np.zeros(classes, np.float32), "b2"),
    ]
    nodes = [
        helper.make_node("Gemm", ["features", "w1", "b1"], ["h"]),
        helper.make_node("Relu", ["h"], ["r"]),
        helper.make_node("Gemm", ["r", "w2", "b2"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", features])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", classes])],
        weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    onnx.save_model(model, path)


def median_us(call: Callable[[], object], rounds: int = 7, calls: int = 300) -> float:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            call()
        samples.append((time.perf_counter() - start) / calls * 1e6)
    return statistics.median(samples)


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "mlp.onnx"
        make_mlp(path)
        features = np.random.default_rng(1).standard_normal((4, 256), np.float32)

        ours = fastort.Session(path, threads=1)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        theirs = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])

        (p_fastort,) = ours.run(None, {"features": features})
        (p_ort,) = theirs.run(None, {"features": features})
        print(f"fastort {fastort.__version__} on ONNX Runtime {fastort.ort_version()}")
        print(f"model: {path.name}, inputs {ours.inputs}, outputs {ours.outputs}")
        print(f"top class per row   fastort: {p_fastort.argmax(1).tolist()}")
        print(f"                onnxruntime: {p_ort.argmax(1).tolist()}")
        print(f"max |difference|: {float(np.abs(p_fastort - p_ort).max()):.3g}")

        out = {"probabilities": np.empty_like(p_fastort)}
        feed = {"features": features}
        timings = {
            "onnxruntime run": median_us(lambda: theirs.run(None, feed)),
            "fastort run": median_us(lambda: ours.run(None, feed)),
            "fastort run(out=...)": median_us(lambda: ours.run(None, feed, out=out)),
        }
        baseline = timings["onnxruntime run"]
        print("\nper call, batch 4, 1 thread (median of 7 rounds):")
        for name, value in timings.items():
            print(f"  {name:22s} {value:8.1f} us   {value / baseline:5.2f}x onnxruntime")


if __name__ == "__main__":
    main()
