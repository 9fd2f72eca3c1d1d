"""Every ORT tensor element type maps to numpy, in and out."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
from onnx import TensorProto

import fastort
from models import identity_model

NUMERIC = [
    (TensorProto.FLOAT, np.float32),
    (TensorProto.DOUBLE, np.float64),
    (TensorProto.FLOAT16, np.float16),
    (TensorProto.INT8, np.int8),
    (TensorProto.INT16, np.int16),
    (TensorProto.INT32, np.int32),
    (TensorProto.INT64, np.int64),
    (TensorProto.UINT8, np.uint8),
    (TensorProto.UINT16, np.uint16),
    (TensorProto.UINT32, np.uint32),
    (TensorProto.UINT64, np.uint64),
    (TensorProto.BOOL, np.bool_),
    (TensorProto.BFLOAT16, ml_dtypes.bfloat16),
]


@pytest.mark.parametrize(("onnx_type", "dtype"), NUMERIC, ids=lambda v: str(v))
def test_identity_round_trips(save, onnx_type, dtype):
    session = fastort.Session(save(identity_model(onnx_type)))
    assert session.inputs[0].dtype == np.dtype(dtype)
    x = (np.arange(12) % 5).astype(dtype).reshape(3, 4)
    (y,) = session.run(None, {"x": x})
    assert y.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(y, x)


def test_strings_round_trip_as_object_arrays(save):
    session = fastort.Session(save(identity_model(TensorProto.STRING)))
    assert session.inputs[0].dtype == np.dtype(object)
    for x in (
        np.array([["a", "héllo"], ["", "z" * 100]]),
        np.array([["a", "héllo"], ["", "z" * 100]], dtype=object),
    ):
        (y,) = session.run(None, {"x": x})
        assert y.dtype == object
        assert y.tolist() == [["a", "héllo"], ["", "z" * 100]]
    (y,) = session.run(None, {"x": np.array([[b"raw", b"bytes"]])})
    assert y.tolist() == [["raw", "bytes"]]


def test_strings_keep_nul_bytes_and_bytes_that_are_not_utf8(save):
    session = fastort.Session(save(identity_model(TensorProto.STRING)))
    items = ["abc\x00def", "\x00", "tail\x00", "", "\x00\x00x"]
    (y,) = session.run(None, {"x": np.array([items], dtype=object)})
    assert y.tolist() == [items]
    (y,) = session.run(None, {"x": np.array([[b"a\xffb\x00c"]], dtype=object)})
    assert y[0, 0] == "a\udcffb\x00c"  # surrogateescape, like os.fsdecode
    (z,) = session.run(None, {"x": y})  # and back to the same bytes
    assert z[0, 0].encode("utf-8", "surrogateescape") == b"a\xffb\x00c"


def test_string_arrays_with_non_strings_are_rejected(save):
    session = fastort.Session(save(identity_model(TensorProto.STRING)))
    with pytest.raises(TypeError, match="str or bytes"):
        session.run(None, {"x": np.array([["a", 3]], dtype=object)})


def test_scalar_and_empty_tensors(save):
    session = fastort.Session(save(identity_model(TensorProto.FLOAT, shape=[])))
    (y,) = session.run(None, {"x": np.array(2.5, np.float32)})
    assert y.shape == () and y == 2.5
    empty = fastort.Session(save(identity_model(TensorProto.FLOAT), "e.onnx"))
    (y,) = empty.run(None, {"x": np.zeros((0, 5), np.float32)})
    assert y.shape == (0, 5)


@pytest.mark.parametrize("declared", [None, []], ids=["unknown rank", "scalar"])
def test_inputs_of_unknown_rank_or_declared_scalar_take_any_shape_like_onnxruntime(save, declared):
    # ONNX Runtime reports both as rank 0 and checks neither; onnxruntime feeds them anything.
    import onnxruntime

    # Without onnx's checker, which wants a shape on graph inputs: ONNX allows none.
    path = save(identity_model(TensorProto.FLOAT, shape=declared, opset=17, check=False))
    session = fastort.Session(path)
    reference = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for shape in [(), (1,), (5,), (2, 3)]:
        x = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
        (expected,) = reference.run(None, {"x": x})
        (y,) = session.run(None, {"x": x})
        np.testing.assert_array_equal(y, expected)
        assert y.shape == expected.shape == shape
        (prepared,) = session.prepare({"x": x}).run()
        np.testing.assert_array_equal(prepared, expected)


FLOAT8 = [
    (TensorProto.FLOAT8E4M3FN, ml_dtypes.float8_e4m3fn),
    (TensorProto.FLOAT8E4M3FNUZ, ml_dtypes.float8_e4m3fnuz),
    (TensorProto.FLOAT8E5M2, ml_dtypes.float8_e5m2),
    (TensorProto.FLOAT8E5M2FNUZ, ml_dtypes.float8_e5m2fnuz),
]


@pytest.mark.parametrize(("onnx_type", "dtype"), FLOAT8, ids=lambda v: str(v))
def test_float8_round_trips(save, onnx_type, dtype):
    # ml_dtypes gives some of these numpy's "void" kind and float8_e5m2 the float kind 'f'
    # (with an itemsize no numpy float has): both are recognised as inputs. Float8 Identity
    # needs opset 19+ and IR version 9+.
    session = fastort.Session(save(identity_model(onnx_type, [2, 3], opset=21, ir_version=10)))
    x = np.array([[0.5, 1, 2], [-1, 4, 0]], dtype=dtype)
    (y,) = session.run(None, {"x": x})
    assert y.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(y.view(np.uint8), x.view(np.uint8))
