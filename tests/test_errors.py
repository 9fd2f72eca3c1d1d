"""Bad input of every kind: a clear exception of the right type, and the process alive."""

from __future__ import annotations

import collections
import collections.abc
import os
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import fastort
from isolated import describe, run_python
from models import make_model


@pytest.fixture
def session(add_path):
    return fastort.Session(add_path)


_ONES = object()


def feed(x=_ONES, y=_ONES):
    ones = np.ones((2, 3), np.float32)
    return {"x": ones if x is _ONES else x, "y": ones if y is _ONES else y}


def test_wrong_dtype_names_input_expected_and_actual(session):
    with pytest.raises(TypeError, match=r"input 'x': expected float32\[N,3\], got float64\[2,3\]"):
        session.run(None, feed(x=np.ones((2, 3))))
    with pytest.raises(fastort.InvalidTypeError):
        session.run(None, feed(y=np.ones((2, 3), np.int32)))


@pytest.mark.parametrize(
    ("shape", "got"),
    [((2,), r"float32\[2\]"), ((2, 3, 1), r"float32\[2,3,1\]"), ((2, 4), r"float32\[2,4\]")],
)
def test_wrong_rank_or_fixed_dim(session, shape, got):
    with pytest.raises(ValueError, match=rf"input 'x': expected float32\[N,3\], got {got}"):
        session.run(None, feed(x=np.ones(shape, np.float32)))


def test_missing_unknown_and_extra_inputs(session):
    ones = np.ones((2, 3), np.float32)
    with pytest.raises(ValueError, match=r"missing input 'y' \(float32\[N,3\]\)"):
        session.run(None, {"x": ones})
    with pytest.raises(ValueError, match="unknown input 'q'; model inputs: 'x', 'y'"):
        session.run(None, {"x": ones, "y": ones, "q": ones})
    with pytest.raises(ValueError, match="unknown input"):
        session.run(None, {"x": ones, "Y": ones})
    with pytest.raises(TypeError, match="input names must be str"):
        session.run(None, {"x": ones, 1: ones})


def test_unknown_output_names(session):
    with pytest.raises(ValueError, match="unknown output 'nope'; model outputs: 'z', 'w'"):
        session.run(["nope"], feed())
    with pytest.raises(ValueError, match="requested twice"):
        session.run(["z", "z"], feed())
    with pytest.raises(TypeError, match="list of names"):
        session.run("z", feed())


@pytest.mark.parametrize("value", [[[1.0, 2.0, 3.0]], None, "x", 3, object()])
def test_non_array_values(session, value):
    with pytest.raises(TypeError, match="input 'x': expected a numpy array"):
        session.run(None, feed(x=value))


def test_input_feed_must_be_a_mapping(session):
    with pytest.raises(TypeError, match="input_feed must be a dict"):
        session.run(None, [("x", np.ones((2, 3), np.float32))])
    with pytest.raises(TypeError, match="input_feed must be a dict"):
        session.run(None, np.ones((2, 3), np.float32))
    # Other mappings are read like dicts; one whose items fail raises its own error.
    z, _ = session.run(None, collections.UserDict(feed()))
    np.testing.assert_array_equal(z, session.run(None, feed())[0])

    class Broken(collections.abc.Mapping):
        def __getitem__(self, name):
            raise KeyError(name)

        def __iter__(self):
            return iter(["x", "y"])

        def __len__(self):
            return 2

    with pytest.raises(KeyError):
        session.run(None, Broken())


def test_output_names_may_be_any_iterable_of_names(session):
    (w,) = session.run((name for name in ["w"]), feed())
    assert w.shape == (2, 3)

    def failing():
        yield "w"
        raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):  # the generator's own error, not a TypeError
        session.run(failing(), feed())
    with pytest.raises(TypeError, match="output_names must be a list of names or None, got int"):
        session.run(3, feed())


def test_unsupported_dtypes_and_byte_order(session):
    with pytest.raises(TypeError, match="no ONNX equivalent"):
        session.run(None, feed(x=np.ones((2, 3), dtype="datetime64[s]")))
    with pytest.raises(TypeError, match="byte order"):
        session.run(None, feed(x=np.ones((2, 3), dtype=">f4")))


def test_bad_out_buffers(session):
    good = np.empty((2, 3), np.float32)
    with pytest.raises(TypeError, match=r"out output 'z': expected float32\[N,3\], got float64"):
        session.run(None, feed(), out={"z": np.empty((2, 3))})
    with pytest.raises(ValueError, match=r"expected float32\[N,3\], got float32\[2,4\]"):
        session.run(None, feed(), out={"z": np.empty((2, 4), np.float32)})
    with pytest.raises(fastort.FastortError):  # the dynamic dim disagrees: ORT refuses
        session.run(None, feed(), out={"z": np.empty((5, 3), np.float32)})
    with pytest.raises(ValueError, match="C-contiguous"):
        session.run(None, feed(), out={"z": np.empty((3, 2), np.float32).T})
    readonly = good.copy()
    readonly.flags.writeable = False
    with pytest.raises(ValueError, match="writable"):
        session.run(None, feed(), out={"z": readonly})
    with pytest.raises(TypeError, match="must be a numpy array"):
        session.run(None, feed(), out={"z": [[0.0] * 3] * 2})
    with pytest.raises(ValueError, match="not requested"):
        session.run(["w"], feed(), out={"z": good})
    with pytest.raises(ValueError, match="unknown output"):
        session.run(None, feed(), out={"nope": good})
    with pytest.raises(TypeError, match="out must be a dict"):
        session.run(None, feed(), out=[good])


def test_out_buffers_that_share_memory_with_inputs_or_each_other(save):
    # A transpose reads every input element after writing others: in place it goes wrong.
    model = make_model(
        [
            helper.make_node("Transpose", ["x"], ["t"], perm=[1, 0]),
            helper.make_node("Neg", ["x"], ["n"]),
        ],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 4])],
        [
            helper.make_tensor_value_info("t", TensorProto.FLOAT, [4, 4]),
            helper.make_tensor_value_info("n", TensorProto.FLOAT, [4, 4]),
        ],
    )
    session = fastort.Session(save(model))
    x = np.arange(16, dtype=np.float32).reshape(4, 4)
    with pytest.raises(
        fastort.InvalidArgumentError, match="out\\['t'\\] shares memory with input 'x'"
    ):
        session.run(["t"], {"x": x}, out={"t": x})
    big = np.zeros(40, np.float32)
    x_view, t_view = big[:16].reshape(4, 4), big[8:24].reshape(4, 4)  # overlapping, not equal
    x_view[:] = x
    with pytest.raises(fastort.InvalidArgumentError, match="shares memory with input 'x'"):
        session.run(["t"], {"x": x_view}, out={"t": t_view})
    strided = big[::2][:16].reshape(4, 4)  # every other float: its span covers t_far
    t_far = big[20:36].reshape(4, 4)
    with pytest.raises(fastort.InvalidArgumentError, match="shares memory with input 'x'"):
        session.run(["t"], {"x": strided}, out={"t": t_far})
    shared = np.zeros((4, 4), np.float32)
    with pytest.raises(
        fastort.InvalidArgumentError, match="out\\['n'\\] and out\\['t'\\] share memory"
    ):
        session.run(None, {"x": x}, out={"t": shared, "n": shared})
    halves = np.zeros(24, np.float32)
    with pytest.raises(fastort.InvalidArgumentError, match="share memory"):
        session.run(
            None, {"x": x}, out={"t": halves[:16].reshape(4, 4), "n": halves[8:].reshape(4, 4)}
        )
    apart = np.zeros(32, np.float32)  # adjacent, not overlapping: fine
    t, n = session.run(
        None, {"x": x}, out={"t": apart[:16].reshape(4, 4), "n": apart[16:].reshape(4, 4)}
    )
    np.testing.assert_array_equal(t, x.T)
    np.testing.assert_array_equal(n, -x)


def test_missing_path_directory_and_empty_file(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        fastort.Session(tmp_path / "missing.onnx")
    assert info.value.filename == os.fspath(tmp_path / "missing.onnx")
    with pytest.raises(IsADirectoryError):
        fastort.Session(tmp_path)
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    with pytest.raises(fastort.InvalidModelError, match="empty"):
        fastort.Session(empty)


def test_truncated_and_garbage_models(add_path, tmp_path):
    data = Path(add_path).read_bytes()
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(data[: len(data) // 2])
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(os.urandom(4096))
    for path in (truncated, garbage):
        with pytest.raises(fastort.InvalidModelError) as info:
            fastort.Session(path)
        assert info.value.code is not None and info.value.code.startswith("ORT_")
    for model in (b"not a model", data[:20], b""):
        with pytest.raises(fastort.InvalidModelError):
            fastort.Session(model)


def test_missing_external_data(tmp_path):
    weights = numpy_helper.from_array(np.ones(256, np.float32), "w")  # raw data: can go external
    model = make_model(
        [helper.make_node("Add", ["x", "w"], ["y"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [256])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [256])],
        [weights],
    )
    path = tmp_path / "external.onnx"
    onnx.save_model(
        model, path, save_as_external_data=True, location="weights.bin", size_threshold=0
    )
    (y,) = fastort.Session(path).run(None, {"x": np.zeros(256, np.float32)})
    np.testing.assert_array_equal(y, np.ones(256, np.float32))
    (tmp_path / "weights.bin").unlink()
    with pytest.raises(fastort.InvalidModelError, match=r"external\.onnx"):
        fastort.Session(path, cache=False)


def test_model_with_unknown_operator(tmp_path):
    model = helper.make_model(
        helper.make_graph(
            [helper.make_node("NoSuchOp", ["x"], ["y"], domain="example.custom")],
            "g",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
        ),
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("example.custom", 1)],
    )
    path = tmp_path / "custom.onnx"
    onnx.save_model(model, path)
    with pytest.raises(fastort.InvalidModelError, match="NoSuchOp"):
        fastort.Session(path)


@pytest.mark.parametrize("threads", [-1, 10**9, 2**70, fastort._core.MAX_THREADS + 1])
def test_absurd_thread_counts(add_path, threads):
    # One rule and one message for every thread option (sessions and transforms alike).
    limit = fastort._core.MAX_THREADS
    with pytest.raises(
        fastort.InvalidArgumentError, match=rf"^threads must be between 0 .* {limit}"
    ):
        fastort.Session(add_path, threads=threads)
    with pytest.raises(fastort.InvalidArgumentError, match=r"^inter_op_threads must be between"):
        fastort.Session(add_path, inter_op_threads=threads)
    with pytest.raises(
        fastort.InvalidArgumentError, match=rf"^threads must be between 0 .* {limit}"
    ):
        fastort.ImageTransform(threads=threads)


def test_zero_threads_means_the_default_everywhere(add_path):
    assert fastort.Session(add_path, threads=0, inter_op_threads=0) is not None
    assert fastort.ImageTransform(threads=0).threads == 0


@pytest.mark.parametrize("threads", [1.5, "4", True])
def test_thread_counts_of_the_wrong_type(add_path, threads):
    with pytest.raises(fastort.InvalidTypeError, match="threads must be an int"):
        fastort.Session(add_path, threads=threads)


def test_every_argument_error_is_a_fastort_error(add_path):
    bad = [
        lambda: fastort.Session(3),
        lambda: fastort.Session(add_path, providers="CPUExecutionProvider"),
        lambda: fastort.Session(add_path, providers=[42]),
        lambda: fastort.Session(add_path, session_config=["a"]),
        lambda: fastort.Session(add_path, optimization=3),
        lambda: fastort.Session(add_path, optimization="fastest"),
        lambda: fastort.Session(add_path, external_data_dir=3),
        lambda: fastort.set_cache_size(-1),
        lambda: fastort.set_cache_size("8"),
        lambda: fastort.RunOptions(timeout=-1),
    ]
    for call in bad:
        with pytest.raises(fastort.FastortError):
            call()


def test_unknown_provider_and_optimization_level(add_path):
    with pytest.raises(ValueError, match="provider 'NoSuchExecutionProvider' is not available"):
        fastort.Session(add_path, providers=["NoSuchExecutionProvider"])
    with pytest.raises(ValueError, match="listed twice"):
        fastort.Session(add_path, providers=["CPUExecutionProvider", "CPUExecutionProvider"])
    with pytest.raises(ValueError, match="has no option 'bogus'"):
        fastort.Session(add_path, providers=[("CPUExecutionProvider", {"bogus": 1})])
    with pytest.raises(TypeError, match="provider must be"):
        fastort.Session(add_path, providers=[42])
    with pytest.raises(TypeError, match="providers must be a list"):
        fastort.Session(add_path, providers="CPUExecutionProvider")
    with pytest.raises(ValueError, match="optimization must be one of"):
        fastort.Session(add_path, optimization="fastest")
    with pytest.raises(TypeError, match="optimization must be one of"):
        fastort.Session(add_path, optimization=3)


def test_bad_model_argument_types(add_path):
    for model in (None, 3, ["m.onnx"], {"path": add_path}):
        with pytest.raises(TypeError):
            fastort.Session(model)
    with pytest.raises(TypeError, match="session_config"):
        fastort.Session(add_path, session_config=["a"])
    with pytest.raises(TypeError, match="run_options"):
        fastort.Session(add_path).run(None, feed(), run_options=object())


def _reshape_model():
    return make_model(
        [helper.make_node("Reshape", ["x", "shape"], ["y"])],
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N"]),
            helper.make_tensor_value_info("shape", TensorProto.INT64, [2]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["a", "b"])],
    )


def test_ort_runtime_errors_carry_ort_codes(save):
    # Reshape to a shape whose size does not match fails inside ORT's Run.
    session = fastort.Session(save(_reshape_model()))
    with pytest.raises(fastort.FastortError) as info:
        session.run(None, {"x": np.ones(5, np.float32), "shape": np.array([2, 2], np.int64)})
    assert info.value.code is not None and info.value.code.startswith("ORT_")
    assert isinstance(info.value.ort_code, int)
    (y,) = session.run(None, {"x": np.ones(4, np.float32), "shape": np.array([2, 2], np.int64)})
    assert y.shape == (2, 2)


def test_errors_share_the_fastort_root():
    for cls in (fastort.InvalidModelError, fastort.InvalidArgumentError, fastort.InvalidTypeError):
        assert issubclass(cls, fastort.FastortError)
    assert issubclass(fastort.FastortError, RuntimeError)
    assert issubclass(fastort.InvalidArgumentError, ValueError)
    assert issubclass(fastort.InvalidTypeError, TypeError)
    assert issubclass(fastort.RuntimeLoadError, ImportError)


def test_a_session_still_runs_after_every_kind_of_bad_call(session):
    bad_calls = [
        lambda: session.run(None, feed(x=np.ones((2, 3)))),
        lambda: session.run(None, feed(x=np.ones((2, 4), np.float32))),
        lambda: session.run(None, {"x": np.ones((2, 3), np.float32)}),
        lambda: session.run(["nope"], feed()),
        lambda: session.run(None, feed(), out={"z": np.empty((2, 4), np.float32)}),
        lambda: session.run(None, feed(x="x")),
    ]
    for call in bad_calls:
        with pytest.raises(fastort.FastortError):
            call()
    (z, _) = session.run(None, feed())
    np.testing.assert_array_equal(z, np.full((2, 3), 2.0, np.float32))


def test_objects_that_only_claim_a_fastort_class_are_refused(add_path):
    # isinstance() believes a __class__ attribute; the native code must look at the real
    # type, or it reads a plain Python object as one of its own.
    from unittest import mock

    from fastort import _core

    class Impostor:
        def __init__(self, claimed: type) -> None:
            self.claimed = claimed

        @property  # type: ignore[misc]
        def __class__(self):
            return self.claimed

    session = fastort.Session(add_path)
    x = np.ones((2, 3), np.float32)
    options = mock.Mock(spec=fastort.RunOptions)
    assert isinstance(options, fastort.RunOptions)
    for attempt in (
        lambda: session.run(None, {"x": x, "y": x}, options),
        lambda: fastort.Session.__call__(Impostor(fastort.Session), x=x, y=x),
        lambda: _core.SessionHandle._model.fget(Impostor(fastort.Session)),
        lambda: _core.RunOptionsBase.terminate.fget(Impostor(fastort.RunOptions)),
    ):
        with pytest.raises(TypeError):
            attempt()
    assert session.run(None, {"x": x, "y": x})[0].shape == (2, 3)  # still fine


def test_a_second_init_raises_instead_of_being_dropped(add_path, xy):
    # pybind11 would keep what the first __init__ made, silently.
    session = fastort.Session(add_path, threads=1)
    batcher = fastort.Batcher(session, max_batch_size=4)
    options = fastort.RunOptions(tag="first")
    for again in (
        lambda: session.__init__(add_path, threads=2),
        lambda: batcher.__init__(session, max_batch_size=8),
        lambda: options.__init__(tag="second"),
    ):
        with pytest.raises(fastort.FastortError, match="initialised already: make a new one"):
            again()
    assert session.threads == 1 and batcher.max_batch_size == 4 and options.tag == "first"
    x, y = xy
    np.testing.assert_array_equal(batcher.run({"x": x, "y": y})[0], x + y)
    batcher.close()
    # An object whose __init__ failed may try again.
    retried = fastort.Session.__new__(fastort.Session)
    with pytest.raises(fastort.InvalidTypeError):
        retried.__init__(add_path, threads="many")
    retried.__init__(add_path)
    np.testing.assert_array_equal(retried.run(None, {"x": x, "y": y})[0], x + y)


def test_objects_whose_init_never_ran_raise_instead_of_crashing():
    from fastort import _core

    uninitialised = [
        lambda: fastort.Session.__new__(fastort.Session).run(None, {}),
        lambda: fastort.Session.__new__(fastort.Session).inputs,
        lambda: fastort.Session.__new__(fastort.Session)(x=np.ones(1)),
        lambda: _core.Model.__new__(_core.Model).metadata,
        lambda: _core.ImageTransformSpec.__new__(_core.ImageTransformSpec).output_shape(1, 1, 1),
        lambda: _core.ImageTransformSpec.__new__(_core.ImageTransformSpec).resize,
        lambda: hash(_core.ImageTransformSpec.__new__(_core.ImageTransformSpec)),
        lambda: _core.transform_images(
            [], _core.ImageTransformSpec.__new__(_core.ImageTransformSpec)
        ),
        lambda: _core.BoundRun.__new__(_core.BoundRun).run(),
    ]
    for call in uninitialised:
        with pytest.raises(fastort.FastortError, match="not initialised"):
            call()
    with pytest.raises(TypeError):
        _core.SessionHandle.run(object(), None, {})
    with pytest.raises(TypeError, match="expected a Model object"):
        _core.Model.inputs.fget(3)
    with pytest.raises(TypeError, match="expected a Session object"):
        _core.SessionHandle.__call__(3)
    # A None where the native types want a loaded Model.
    with pytest.raises(fastort.InvalidTypeError, match="needs a Model, got None"):
        _core.SessionHandle(None, False)
    with pytest.raises(fastort.InvalidTypeError, match="needs a Model, got None"):
        _core.BoundRun(None, False, None, {}, None)


def _with_invalid_utf8(path: str) -> str:
    """Rewrites the file so that every "QQ" in its names becomes bytes that are not UTF-8."""
    data = Path(path).read_bytes()
    Path(path).write_bytes(data.replace(b"QQ", b"\xff\xfe"))
    return path


def test_names_that_are_not_utf8_round_trip_and_appear_in_errors(save):
    model = make_model(
        [helper.make_node("Relu", ["inQQ"], ["outQQ"], name="nodeQQ")],
        [helper.make_tensor_value_info("inQQ", TensorProto.FLOAT, ["N"])],
        [helper.make_tensor_value_info("outQQ", TensorProto.FLOAT, ["N"])],
        metadata={"keyQQ": "valueQQ"},
    )
    path = _with_invalid_utf8(save(model))
    # Quoting such a name in an error used to abort the process: checked in a child first.
    process = run_python(
        """
        import sys, numpy as np, fastort
        session = fastort.Session(sys.argv[1])
        try:
            session.run(["nope"], {})
        except fastort.InvalidArgumentError as error:
            print(error)
        """,
        path,
    )
    assert process.returncode == 0, describe(process)
    assert "model outputs: 'out\\xff\\xfe'" in process.stdout

    session = fastort.Session(path)
    (name,) = [info.name for info in session.inputs]
    assert name == "in\udcff\udcfe"  # decoded like os.fsdecode
    assert name.encode("utf-8", "surrogateescape") == b"in\xff\xfe"
    x = np.array([-1.0, 2.0], np.float32)
    (y,) = session.run(None, {name: x})
    np.testing.assert_array_equal(y, [0.0, 2.0])
    assert list(session(**{name: x})) == ["out\udcff\udcfe"]
    assert session.get_modelmeta().custom_metadata_map == {"key\udcff\udcfe": "value\udcff\udcfe"}
    with pytest.raises(fastort.InvalidArgumentError, match=r"unknown input 'x'.*'in\\xff\\xfe'"):
        session.run(None, {"x": x})
    with pytest.raises(fastort.InvalidTypeError, match=r"input 'in\\xff\\xfe': expected float32"):
        session.run(None, {name: x.astype(np.float64)})


def test_an_ort_error_quoting_a_name_that_is_not_utf8_is_a_normal_exception(save):
    # ORT's own message names the failing node.
    model = make_model(
        [helper.make_node("Reshape", ["x", "shape"], ["y"], name="reshapeQQ")],
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N"]),
            helper.make_tensor_value_info("shape", TensorProto.INT64, [2]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["a", "b"])],
    )
    process = run_python(
        """
        import sys, numpy as np, fastort
        session = fastort.Session(sys.argv[1])
        feed = {"x": np.ones(5, np.float32), "shape": np.array([2, 2], np.int64)}
        try:
            session.run(None, feed)
        except fastort.FastortError as error:
            print(type(error).__name__, error.code, error)
        """,
        _with_invalid_utf8(save(model)),
    )
    assert process.returncode == 0, describe(process)
    assert process.stdout.startswith("FastortError ORT_")
    assert "reshape\\xff\\xfe" in process.stdout


def test_feed_changed_by_a_conversion_callback_is_not_read_after_free(add_path):
    # __array_interface__ may run any code; here it empties the feed, dropping the last
    # reference to the other input, whose memory and name were borrowed from the dict.
    process = run_python(
        """
        import sys, numpy as np, fastort

        class EmptiesFeed:
            def __init__(self, feed, value):
                self.feed, self.value = feed, value

            @property
            def __array_interface__(self):
                self.feed.clear()
                garbage = [np.full((2, 3), 99.0, np.float32) for _ in range(20)]
                return self.value.__array_interface__

        session = fastort.Session(sys.argv[1])
        for _ in range(200):
            feed = {"x": np.full((2, 3), 3.0, np.float32)}
            feed["y"] = EmptiesFeed(feed, np.ones((2, 3), np.float32))
            z, w = session.run(None, feed)
            assert (z == 4.0).all() and (w == 6.0).all(), (z, w)
        print("ok")
        """,
        add_path,
    )
    assert process.returncode == 0, describe(process)
    assert process.stdout == "ok\n"


def test_an_interrupt_while_a_value_is_converted_is_not_turned_into_a_type_error(add_path):
    class Interrupted:
        @property
        def __array_interface__(self):
            raise KeyboardInterrupt

    class Broken:
        @property
        def __array_interface__(self):
            raise RuntimeError("broken property")

    session = fastort.Session(add_path)
    x = np.ones((2, 3), np.float32)
    with pytest.raises(KeyboardInterrupt):
        session.run(None, {"x": x, "y": Interrupted()})
    # Any other exception of the property is the value's problem: propagated as itself.
    with pytest.raises(RuntimeError, match="broken property"):
        session.run(None, {"x": x, "y": Broken()})
    assert session.run(None, {"x": x, "y": x})[0].tolist() == (x + x).tolist()


def test_ort_log_goes_to_python_logging_not_to_stderr(save, caplog):
    path = save(_reshape_model())
    bad_feed = "{'x': np.ones(5, np.float32), 'shape': np.array([2, 2], np.int64)}"
    process = run_python(
        f"""
        import sys, numpy as np, fastort
        try:
            fastort.Session(sys.argv[1]).run(None, {bad_feed})
        except fastort.FastortError:
            print("raised")
        """,
        path,
    )
    assert process.returncode == 0, describe(process)
    assert (process.stdout, process.stderr) == ("raised\n", "")  # ORT printed a line here
    session = fastort.Session(path)
    with caplog.at_level("WARNING", logger="fastort"), pytest.raises(fastort.FastortError):
        session.run(None, {"x": np.ones(5, np.float32), "shape": np.array([2, 2], np.int64)})
    (record,) = [r for r in caplog.records if r.name == "fastort.onnxruntime"]
    assert record.levelname == "ERROR"
    assert "cannot be reshaped" in record.getMessage()
    assert ".cc:" in record.ort_location  # ORT's source file and line


def test_pickling_any_core_object_at_any_protocol_raises_or_round_trips_never_aborts():
    # Protocols 0 and 1 copy an object through its class's base, which for a pybind11 class
    # threw a C++ exception out of a C callback: the process aborted. Now each value either
    # pickles (the enums, the image transform's spec) or raises TypeError, at every protocol.
    code = """
        import copy, pickle
        import numpy as np
        import fastort, fastort.onnxruntime as ort
        from fastort import _core
        from models import add_model, ort_datasets
        session = fastort.Session(str(ort_datasets() / "sigmoid.onnx"))
        x = np.zeros((3, 4, 5), np.float32)
        batched = fastort.Session(add_model().SerializeToString())
        rows = np.zeros((2, 3), np.float32)
        refused = {
            "Session": session, "ValueInfo": session.inputs[0],
            "ModelMetadata": session.get_modelmeta(), "RunOptions": fastort.RunOptions(),
            "PreparedCall": session.prepare({"x": x}), "SessionOptions": _core.SessionOptions(),
            "SessionSettings": _core.SessionSettings(), "CompletionQueue": _core.CompletionQueue(),
            "BatchFuture": fastort.Batcher(batched).submit({"x": rows, "y": rows}),
        }
        kept = [
            ort.GraphOptimizationLevel.ORT_ENABLE_BASIC, ort.ExecutionMode.ORT_PARALLEL,
            _core.ImageTransformSpec(resize=100, crop=50),
        ]
        for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
            for name, value in refused.items():
                try:
                    pickle.dumps(value, protocol)
                except TypeError as error:
                    assert f"cannot pickle '{name}' object" in str(error), (protocol, error)
                else:
                    raise AssertionError(f"{name} pickled at protocol {protocol}")
            for value in kept:
                copied = pickle.loads(pickle.dumps(value, protocol))
                assert type(copied) is type(value) and copied == value, (protocol, value)
        for value in kept:
            assert copy.copy(value) == value and copy.deepcopy(value) == value
        print("ok")
    """
    result = run_python(code)
    assert result.returncode == 0, describe(result)
    assert result.stdout.strip() == "ok"
