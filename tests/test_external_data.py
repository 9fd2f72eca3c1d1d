"""Models whose weights live in external data files: where they may be read from, and the cache."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import fastort
from models import make_model


def _weights_model(values: np.ndarray, subgraph: bool = False) -> onnx.ModelProto:
    """y = x + w, with w an initializer (or, with subgraph=True, inside an If branch)."""
    weights = numpy_helper.from_array(values.astype(np.float32), "w")
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [len(values)])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [len(values)])
    if not subgraph:
        return make_model([helper.make_node("Add", ["x", "w"], ["y"])], [x], [y], [weights])
    branch = helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["y"])], "branch", [], [y], initializer=[weights]
    )
    condition = helper.make_tensor("always", TensorProto.BOOL, [], [True])
    node = helper.make_node("If", ["always"], ["y"], then_branch=branch, else_branch=branch)
    return make_model([node], [x], [y], [condition])


def _save_external(model: onnx.ModelProto, path: Path, location: str) -> Path:
    onnx.save_model(model, path, save_as_external_data=True, location=location, size_threshold=0)
    return path


def _run(session: fastort.Session, size: int = 4) -> list[float]:
    (y,) = session.run(None, {"x": np.zeros(size, np.float32)})
    return y.tolist()


@pytest.mark.parametrize("subgraph", [False, True])
def test_model_bytes_cannot_read_files_of_the_working_directory(tmp_path, monkeypatch, subgraph):
    # An uploaded model naming a file of the working directory (.env, say) as its weights
    # would get that file back as an output.
    path = _save_external(_weights_model(np.arange(4), subgraph), tmp_path / "m.onnx", ".env")
    monkeypatch.chdir(tmp_path)
    data = path.read_bytes()
    with pytest.raises(
        fastort.InvalidModelError, match=r"external data \('.env'\).*external_data_dir"
    ):
        fastort.Session(data)
    with pytest.raises(fastort.InvalidModelError, match="external_data_dir"):
        fastort.Session(data, cache=True)
    assert _run(fastort.Session(data, external_data_dir=tmp_path)) == [0.0, 1.0, 2.0, 3.0]


def test_external_data_dir_for_a_file_model(tmp_path):
    folder = tmp_path / "weights"
    folder.mkdir()
    path = _save_external(_weights_model(np.arange(4)), tmp_path / "m.onnx", "w.bin")
    os.replace(tmp_path / "w.bin", folder / "w.bin")
    assert _run(fastort.Session(path, external_data_dir=folder)) == [0.0, 1.0, 2.0, 3.0]
    with pytest.raises(fastort.InvalidModelError, match=r"w\.bin"):
        fastort.Session(path, cache=False)
    with pytest.raises(fastort.InvalidArgumentError, match="external_data_dir is not a folder"):
        fastort.Session(path, external_data_dir=tmp_path / "missing")


def test_replaced_weights_are_reloaded(tmp_path):
    fastort.clear_cache()
    path = _save_external(_weights_model(np.arange(4)), tmp_path / "m.onnx", "w.bin")
    first = fastort.Session(path)
    assert _run(first) == [0.0, 1.0, 2.0, 3.0]
    assert fastort.Session(path)._model is first._model  # unchanged: a cache hit
    # New weights written beside, then renamed over the old file (the safe way: ORT may
    # keep the old file memory-mapped for sessions still using it).
    _save_external(_weights_model(np.full(4, 7.0)), tmp_path / "next.onnx", "next.bin")
    os.replace(tmp_path / "next.bin", tmp_path / "w.bin")
    second = fastort.Session(path)
    assert second._model is not first._model
    assert _run(second) == [7.0, 7.0, 7.0, 7.0]
    assert _run(fastort.Session(path, cache=False)) == [7.0, 7.0, 7.0, 7.0]
    assert _run(first) == [0.0, 1.0, 2.0, 3.0]  # the old session keeps what it loaded
    fastort.clear_cache()


def test_bytes_models_cached_with_their_weights(tmp_path):
    fastort.clear_cache()
    path = _save_external(_weights_model(np.arange(4)), tmp_path / "m.onnx", "w.bin")
    data = path.read_bytes()
    first = fastort.Session(data, external_data_dir=tmp_path, cache=True)
    assert fastort.Session(data, external_data_dir=tmp_path, cache=True)._model is first._model
    _save_external(_weights_model(np.full(4, 5.0)), tmp_path / "next.onnx", "next.bin")
    os.replace(tmp_path / "next.bin", tmp_path / "w.bin")
    second = fastort.Session(data, external_data_dir=tmp_path, cache=True)
    assert _run(second) == [5.0, 5.0, 5.0, 5.0]
    fastort.clear_cache()


def test_scanning_hostile_bytes_does_not_crash():
    rng = np.random.default_rng(7)
    path_model = _weights_model(np.arange(4)).SerializeToString()
    for _ in range(300):
        data = bytearray(path_model)
        for index in rng.integers(0, len(data), size=rng.integers(1, 8)):
            data[index] = int(rng.integers(0, 256))
        with contextlib.suppress(fastort.FastortError):  # a clear error, or a model
            fastort.Session(bytes(data))
