"""Running models: results, the onnxruntime-compatible surface, metadata."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

import fastort
from models import add_model


def test_run_matches_onnxruntime(sigmoid_path):
    x = np.linspace(-5, 5, 60, dtype=np.float32).reshape(3, 4, 5)
    (ours,) = fastort.Session(sigmoid_path).run(None, {"x": x})
    (theirs,) = ort.InferenceSession(sigmoid_path).run(None, {"x": x})
    np.testing.assert_array_equal(ours, theirs)


def test_outputs_follow_requested_order(add_path, xy):
    x, y = xy
    session = fastort.Session(add_path)
    w, z = session.run(["w", "z"], {"x": x, "y": y})
    np.testing.assert_array_equal(z, x + y)
    np.testing.assert_array_equal(w, x * 2)
    (only_w,) = session.run(["w"], {"y": y, "x": x})
    np.testing.assert_array_equal(only_w, x * 2)
    assert len(session.run([], {"x": x, "y": y})) == 2


def test_call_returns_named_outputs(add_path, xy):
    x, y = xy
    result = fastort.Session(add_path)(x=x, y=y)
    assert list(result) == ["z", "w"]
    np.testing.assert_array_equal(result["z"], x + y)


def test_dynamic_batch_runs_at_several_sizes(add_path):
    session = fastort.Session(add_path)
    for batch in (1, 3, 7, 0):
        x = np.ones((batch, 3), np.float32)
        (z,) = session.run(["z"], {"x": x, "y": x})
        assert z.shape == (batch, 3)
        np.testing.assert_array_equal(z, 2 * x)


def test_signature_reports_names_shapes_and_dtypes(add_path, iris_path):
    session = fastort.Session(add_path)
    x, _ = session.get_inputs()
    assert (x.name, x.shape, x.type, x.dtype) == ("x", ["N", 3], "tensor(float)", np.float32)
    assert [o.name for o in session.outputs] == ["z", "w"]
    iris = fastort.Session(iris_path)
    probabilities = iris.outputs[1]
    assert probabilities.type == "seq(map(int64,tensor(float)))"
    assert probabilities.dtype is None and not probabilities.is_tensor
    ort_session = ort.InferenceSession(iris_path)
    for ours, theirs in zip(iris.get_outputs(), ort_session.get_outputs()):
        assert (ours.name, ours.type) == (theirs.name, theirs.type)


def test_unnamed_dynamic_dims_are_none(save):
    session = fastort.Session(save(add_model(shape=[None, 3])))
    assert session.inputs[0].shape == [None, 3]


def test_metadata_and_providers(save):
    path = save(add_model(metadata={"labels": "cat,dog"}))
    session = fastort.Session(path)
    meta = session.get_modelmeta()
    assert meta.producer_name == "fastort-tests"
    assert meta.graph_name == "test"
    assert meta.custom_metadata_map == {"labels": "cat,dog"}
    assert session.get_providers() == ["CPUExecutionProvider"]
    assert "CPUExecutionProvider" in fastort.available_providers()


def test_sequence_of_maps_matches_onnxruntime(iris_path):
    x = np.array([[5.1, 3.5], [6.2, 2.9], [7.7, 3.0]], np.float32)
    label, probabilities = fastort.Session(iris_path).run(None, {"float_input": x})
    ort_label, ort_probabilities = ort.InferenceSession(iris_path).run(None, {"float_input": x})
    np.testing.assert_array_equal(label, ort_label)
    assert isinstance(probabilities, list) and len(probabilities) == 3
    for ours, theirs in zip(probabilities, ort_probabilities):
        assert ours.keys() == theirs.keys()
        assert ours == pytest.approx(theirs)


def test_bytes_model_and_pathlike(add_path, xy, tmp_path):
    x, y = xy
    data = Path(add_path).read_bytes()
    for model in (data, bytearray(data), memoryview(data), tmp_path / "add.onnx"):
        (z, _) = fastort.Session(model).run(None, {"x": x, "y": y})
        np.testing.assert_array_equal(z, x + y)


class _BytesPath:
    """An os.PathLike whose __fspath__ returns bytes."""

    def __init__(self, path: bytes) -> None:
        self.path = path

    def __fspath__(self) -> bytes:
        return self.path


def test_any_file_name_the_system_allows(add_path, xy, tmp_path):
    x, y = xy
    odd = os.fsdecode(os.fsencode(str(tmp_path)) + b"/mod\xe9le \xff.onnx")  # not UTF-8
    shutil.copy(add_path, odd)
    for model in (odd, _BytesPath(os.fsencode(odd))):
        (z, _) = fastort.Session(model, cache=False).run(None, {"x": x, "y": y})
        np.testing.assert_array_equal(z, x + y)
    with pytest.raises(FileNotFoundError) as info:
        fastort.Session(odd + ".missing")
    assert info.value.filename == odd + ".missing"


def test_a_path_with_a_nul_byte_is_refused_like_open_does(add_path, tmp_path):
    # It used to load the file named by the part before the NUL.
    for model in (add_path + "\0ignored", Path(add_path + "\0")):
        with pytest.raises(ValueError, match="NUL"):
            fastort.Session(model)
    with pytest.raises(fastort.InvalidArgumentError, match="external_data_dir contains a NUL"):
        fastort.Session(add_path, external_data_dir=str(tmp_path) + "\0x")


def test_bytes_naming_a_file_say_how_to_load_it(add_path):
    with pytest.raises(fastort.InvalidModelError, match="pass its path as str"):
        fastort.Session(os.fsencode(add_path))


def test_load_errors_name_the_path_once(tmp_path):
    path = tmp_path / "corrupt.onnx"
    path.write_bytes(b"not a model at all")
    with pytest.raises(fastort.InvalidModelError) as info:
        fastort.Session(path)
    assert str(info.value).count(str(path)) == 1, str(info.value)


@pytest.mark.parametrize("level", ["disable", "basic", "extended", "all"])
def test_options_are_accepted(add_path, xy, level, tmp_path):
    x, y = xy
    optimized = tmp_path / f"opt-{level}.onnx"
    session = fastort.Session(
        add_path,
        threads=1,
        inter_op_threads=1,
        optimization=level,
        providers=["CPUExecutionProvider"],
        optimized_model_path=optimized,
        session_config={"session.intra_op.allow_spinning": "0"},
    )
    np.testing.assert_array_equal(session.run(["z"], {"x": x, "y": y})[0], x + y)
    assert optimized.stat().st_size > 0


def test_every_session_writes_its_optimized_model(add_path, tmp_path):
    # Writing it is part of loading: such sessions are not shared through the cache.
    optimized = tmp_path / "optimized.onnx"
    fastort.Session(add_path, optimized_model_path=optimized)
    optimized.unlink()
    fastort.Session(add_path, optimized_model_path=optimized)
    assert optimized.stat().st_size > 0


def test_repr_names_inputs_and_outputs(add_path):
    session = fastort.Session(add_path, threads=1)
    assert repr(session) == "<fastort.Session inputs=[x, y] outputs=[z, w] threads=1>"


def test_versions():
    assert fastort.__version__
    major, minor = (int(p) for p in fastort.ort_version().split(".")[:2])
    assert (major, minor) >= (1, 21)


def test_native_methods_have_signatures(add_path, xy):
    # The methods implemented as METH_FASTCALL functions give CPython a text signature, so
    # that inspect, help() and editors see their parameters as those of Python functions.
    import inspect

    session = fastort.Session(add_path)
    x, y = xy
    with fastort.Batcher(session) as batcher:
        methods = {
            session.run: "(output_names, input_feed, run_options=None, *, out=None)",
            session.prepare({"x": x, "y": y}).run: "(run_options=None)",
            batcher.run: "(feed, *, timeout=None)",
            batcher.submit: "(feed, *, timeout=None)",
            batcher.submit({"x": x, "y": y}).result: "(timeout=None)",
        }
        for method, expected in methods.items():
            assert str(inspect.signature(method)) == expected, method
            assert method.__doc__ and not method.__doc__.startswith(method.__name__ + "(")
        bound = inspect.signature(session.run).bind(None, {"x": x, "y": y}, out=None)
        np.testing.assert_array_equal(session.run(*bound.args, **bound.kwargs)[0], x + y)
