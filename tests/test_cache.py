"""The process-wide session cache."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto

import fastort
from models import add_model, identity_model


@pytest.fixture(autouse=True)
def fresh_cache():
    fastort.clear_cache()
    yield
    fastort.set_cache_size(32)
    fastort.clear_cache()


def test_second_session_is_a_cache_hit(add_path):
    first = fastort.Session(add_path)
    second = fastort.Session(os.path.join(os.path.dirname(add_path), ".", "add.onnx"))
    assert second._model is first._model
    info = fastort.cache_info()
    assert (info.hits, info.misses, info.currsize) == (1, 1, 1)


def test_options_are_part_of_the_key(add_path):
    default = fastort.Session(add_path)
    assert fastort.Session(add_path, threads=1)._model is not default._model
    assert fastort.Session(add_path, optimization="basic")._model is not default._model
    layout = fastort.Session(add_path, optimization="layout")
    assert layout._model is not default._model
    assert fastort.cache_info().currsize == 4


def test_cache_false_loads_a_private_session(add_path):
    cached = fastort.Session(add_path)
    private = fastort.Session(add_path, cache=False)
    assert private._model is not cached._model
    assert fastort.cache_info().currsize == 1


def test_changed_file_is_reloaded(save, tmp_path):
    path = save(add_model(), "model.onnx")
    first = fastort.Session(path)
    assert [i.name for i in first.inputs] == ["x", "y"]
    time.sleep(0.01)
    save(identity_model(TensorProto.FLOAT), "model.onnx")
    second = fastort.Session(path)
    assert [i.name for i in second.inputs] == ["x"]
    assert fastort.cache_info().currsize == 1
    # The old session still works for whoever holds it.
    (z, _) = first.run(None, {"x": np.ones((1, 3), np.float32), "y": np.ones((1, 3), np.float32)})
    assert z.tolist() == [[2.0, 2.0, 2.0]]


def test_atomic_replace_is_reloaded(save, tmp_path):
    path = save(add_model(), "model.onnx")
    fastort.Session(path)
    other = save(identity_model(TensorProto.FLOAT), "other.onnx")
    shutil.copystat(path, other)  # same mtime: only the inode differs
    os.replace(other, path)
    assert [i.name for i in fastort.Session(path).inputs] == ["x"]


def test_a_file_rewritten_in_place_with_its_mtime_put_back_is_reloaded(save, tmp_path):
    # What cp -p, rsync -a and tar x do to a file that exists: same inode, size and mtime.
    path = save(identity_model(TensorProto.FLOAT, [1], input_name="a"), "model.onnx")
    old = Path(path).stat()
    assert [i.name for i in fastort.Session(path).inputs] == ["a"]
    other_path = save(identity_model(TensorProto.FLOAT, [1], input_name="b"), "other.onnx")
    other = Path(other_path).read_bytes()
    assert len(other) == old.st_size
    time.sleep(0.01)
    with open(path, "r+b") as file:
        file.write(other)
    os.utime(path, ns=(old.st_atime_ns, old.st_mtime_ns))
    now = Path(path).stat()
    assert (now.st_ino, now.st_size, now.st_mtime_ns) == (old.st_ino, old.st_size, old.st_mtime_ns)
    assert [i.name for i in fastort.Session(path).inputs] == ["b"]


def test_bytes_are_cached_only_on_request(add_path):
    data = Path(add_path).read_bytes()
    a, b = fastort.Session(data), fastort.Session(data)
    assert a._model is not b._model
    assert fastort.cache_info().currsize == 0
    c, d = fastort.Session(data, cache=True), fastort.Session(data, cache=True)
    assert c._model is d._model
    assert fastort.cache_info().currsize == 1


def test_lru_bound(save):
    paths = [save(add_model(), f"m{i}.onnx") for i in range(3)]
    fastort.set_cache_size(2)
    for path in paths:
        fastort.Session(path)
    assert fastort.cache_info().currsize == 2
    fastort.Session(paths[2])
    assert fastort.cache_info().hits == 1
    fastort.Session(paths[0])  # evicted earlier: a miss
    assert fastort.cache_info().misses == 4
    fastort.set_cache_size(0)
    assert fastort.cache_info().currsize == 0
    with pytest.raises(ValueError):
        fastort.set_cache_size(-1)
    with pytest.raises(TypeError):
        fastort.set_cache_size("2")


def test_clear_cache_keeps_live_sessions_working(add_path):
    session = fastort.Session(add_path)
    fastort.clear_cache()
    assert fastort.cache_info() == fastort.CacheInfo(0, 0, 32, 0)
    (z, _) = session.run(None, {"x": np.ones((1, 3), np.float32), "y": np.ones((1, 3), np.float32)})
    assert z.sum() == 6


def test_loads_are_not_shared_while_onnx_runtimes_log_is_verbose(add_path):
    import fastort.onnxruntime as ort

    shared = fastort.Session(add_path)
    assert fastort.Session(add_path)._model is shared._model
    try:
        ort.set_default_logger_severity(1)
        logged = fastort.Session(add_path)
        assert logged._model is not shared._model
        assert fastort.Session(add_path)._model is not logged._model
    finally:
        ort.set_default_logger_severity(2)
    assert fastort.Session(add_path)._model is shared._model
    options = ort.SessionOptions()
    options.log_severity_level = 0
    verbose = ort.InferenceSession(add_path, options)
    assert verbose._model is not ort.InferenceSession(add_path, options)._model
