"""Session.prepare: a call checked once over the caller's arrays, run many times."""

from __future__ import annotations

import gc
import threading
import weakref

import numpy as np
import pytest
from onnx import TensorProto, helper

import fastort
from hammer import parallelize
from models import add_model, make_model, reshape_model


def live_values() -> int:
    return int(fastort._core.debug_counters()["live_values"])


@pytest.fixture
def session(add_path) -> fastort.Session:
    return fastort.Session(add_path)


def test_run_returns_what_run_returns_and_sees_new_contents(session, xy):
    x, y = xy
    call = session.prepare({"x": x, "y": y})
    assert isinstance(call, fastort.PreparedCall)
    assert call.output_names == ["z", "w"]
    z, w = call.run()
    np.testing.assert_array_equal(z, x + y)
    np.testing.assert_array_equal(w, x * 2)
    x[...] = 7  # new contents, same array: the next run reads them
    z, w = call.run()
    np.testing.assert_array_equal(z, 7 + y)
    assert not np.shares_memory(z, x) and not np.shares_memory(z, y)


def test_inputs_are_read_in_place_without_copies(session, xy):
    x, y = xy
    call = session.prepare({"x": x, "y": y})
    before = fastort._core.debug_counters()["input_bytes_copied"]
    for _ in range(10):
        call.run()
    assert fastort._core.debug_counters()["input_bytes_copied"] == before


def test_output_names_choose_and_order_the_results(session, xy):
    x, y = xy
    call = session.prepare({"x": x, "y": y}, output_names=["w", "z"])
    assert call.output_names == ["w", "z"]
    w, z = call.run()
    np.testing.assert_array_equal(w, x * 2)
    np.testing.assert_array_equal(z, x + y)


def test_out_arrays_are_written_and_returned(session, xy):
    x, y = xy
    out = {"z": np.empty_like(x)}
    call = session.prepare({"x": x, "y": y}, out)
    z, w = call.run()
    assert z is out["z"]
    np.testing.assert_array_equal(z, x + y)
    np.testing.assert_array_equal(w, x * 2)
    y[...] = 1
    (z2, _) = call.run()
    assert z2 is out["z"]
    np.testing.assert_array_equal(out["z"], x + 1)


def test_run_options_are_accepted(session, xy):
    x, y = xy
    call = session.prepare({"x": x, "y": y})
    call.run(fastort.RunOptions(tag="prepared"))
    call.run(run_options=None)
    options = fastort.RunOptions()
    options.terminate = True
    with pytest.raises(fastort.RunTerminatedError):
        call.run(options)
    with pytest.raises(TypeError, match="run_options"):
        call.run(1, 2)
    with pytest.raises(TypeError, match="run_options"):
        call.run(options=None)
    with pytest.raises(TypeError, match="RunOptions"):
        call.run("fast")


def test_bad_inputs_are_rejected_when_prepared(session, xy):
    x, y = xy
    with pytest.raises(ValueError, match="missing input 'y'"):
        session.prepare({"x": x})
    with pytest.raises(ValueError, match="unknown input 'q'"):
        session.prepare({"x": x, "y": y, "q": x})
    with pytest.raises(TypeError, match="input 'y'"):
        session.prepare({"x": x, "y": y.astype(np.float64)})
    with pytest.raises(ValueError, match="input 'y'"):
        session.prepare({"x": x, "y": np.zeros((4, 4), np.float32)})
    with pytest.raises(TypeError, match="numpy array"):
        session.prepare({"x": x, "y": y.tolist()})
    with pytest.raises(TypeError, match="dict"):
        session.prepare([("x", x), ("y", y)])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="dict"):
        session.prepare({"x": x, "y": y}, out=[np.empty_like(x)])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"unknown output|not requested|valid"):
        session.prepare({"x": x, "y": y}, output_names=["nope"])
    with pytest.raises(ValueError, match="not requested"):
        session.prepare({"x": x, "y": y}, {"w": np.empty_like(x)}, output_names=["z"])
    with pytest.raises(ValueError, match="shares memory"):
        session.prepare({"x": x, "y": y}, {"z": x})
    with pytest.raises(ValueError, match="writable"):
        readonly = np.empty_like(x)
        readonly.flags.writeable = False
        session.prepare({"x": x, "y": y}, {"z": readonly})


def test_arrays_that_would_need_a_copy_are_refused(session, xy, save):
    x, y = xy
    strided = np.zeros((4, 6), np.float32)[:, ::2]
    with pytest.raises(ValueError, match=r"C-contiguous.*ascontiguousarray"):
        session.prepare({"x": strided, "y": y})
    raw = np.zeros(4 * 3 * 4 + 1, np.uint8)[1:]
    misaligned = raw.view(np.float32).reshape(4, 3)
    assert not misaligned.flags.aligned
    with pytest.raises(ValueError, match="aligned"):
        session.prepare({"x": x, "y": misaligned})
    strings = fastort.Session(
        save(
            make_model(
                [helper.make_node("Identity", ["s"], ["t"])],
                [helper.make_tensor_value_info("s", TensorProto.STRING, ["N"])],
                [helper.make_tensor_value_info("t", TensorProto.STRING, ["N"])],
            ),
            "strings.onnx",
        )
    )
    with pytest.raises(ValueError, match=r"string tensor.*run\(\)"):
        strings.prepare({"s": np.array(["a", "b"], dtype=object)})


def test_a_replaced_array_is_an_error_not_a_stale_run(session, xy):
    x, y = xy
    feed = {"x": x, "y": y}
    call = session.prepare(feed)
    feed["y"] = y.copy()
    with pytest.raises(fastort.InvalidArgumentError, match=r"input 'y' was replaced.*prepare\(\)"):
        call.run()
    feed["y"] = y  # the same array again: fine
    call.run()
    del feed["y"]
    with pytest.raises(fastort.InvalidArgumentError, match="input 'y' was removed"):
        call.run()
    feed["y"] = y
    feed["extra"] = y
    with pytest.raises(fastort.InvalidArgumentError, match="added"):
        call.run()


def test_a_replaced_out_array_is_an_error(session, xy):
    x, y = xy
    out = {"z": np.empty_like(x)}
    call = session.prepare({"x": x, "y": y}, out)
    out["z"] = np.empty_like(x)
    with pytest.raises(fastort.InvalidArgumentError, match="out 'z' was replaced"):
        call.run()


@pytest.mark.parametrize("change", ["reshape", "resize", "free", "dtype"])
def test_a_resized_or_freed_buffer_is_detected_before_ort_reads_it(session, xy, change):
    x, y = xy
    x = x.copy()
    call = session.prepare({"x": x, "y": y})
    if change == "reshape":
        x.shape = (3, 4)
    elif change == "resize":
        x.resize((400, 3), refcheck=False)  # a new, larger buffer; the old one is freed
    elif change == "free":
        x.resize((0, 3), refcheck=False)  # the buffer is released
    else:
        x.dtype = np.int32
    with pytest.raises(fastort.InvalidArgumentError, match="input 'x' was resized"):
        call.run()


def test_a_resized_out_array_is_detected(session, xy):
    x, y = xy
    out = {"z": np.empty_like(x)}
    call = session.prepare({"x": x, "y": y}, out)
    out["z"].resize((1000, 3), refcheck=False)
    with pytest.raises(fastort.InvalidArgumentError, match=r"out\['z'\] was resized"):
        call.run()


def test_the_call_keeps_its_arrays_alive(session):
    x = np.ones((2, 3), np.float32)
    y = np.full((2, 3), 2, np.float32)
    watch = weakref.ref(x)
    call = session.prepare({"x": x, "y": y})
    del x, y
    gc.collect()
    assert watch() is not None  # held by the call, so never read after being freed
    np.testing.assert_array_equal(call.run()[0], np.full((2, 3), 3, np.float32))
    del call
    gc.collect()
    assert watch() is None


def test_outputs_outlive_the_call_and_the_session(add_path, xy):
    x, y = xy
    session = fastort.Session(add_path, cache=False)
    call = session.prepare({"x": x, "y": y})
    z, w = call.run()
    del call, session
    gc.collect()
    garbage = [np.full((4, 3), 9, np.float32) for _ in range(100)]
    np.testing.assert_array_equal(z, x + y)
    np.testing.assert_array_equal(w, x * 2)
    assert garbage


def test_no_values_leak(session, xy):
    x, y = xy
    out = {"z": np.empty_like(x)}
    plain, into = session.prepare({"x": x, "y": y}), session.prepare({"x": x, "y": y}, out)
    gc.collect()
    baseline = live_values()
    for _ in range(2000):
        plain.run()
        into.run()
    gc.collect()
    assert live_values() == baseline
    # Outputs over 64 KiB are ORT's own values, counted while held.
    big = np.ones((6000, 3), np.float32)
    kept = session.prepare({"x": big, "y": big}).run()
    assert live_values() == baseline + 2
    del kept
    assert live_values() == baseline


def test_a_passed_through_input_is_copied_out(save):
    model = make_model(
        [helper.make_node("Relu", ["x"], ["r"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N"])],
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N"]),
            helper.make_tensor_value_info("r", TensorProto.FLOAT, ["N"]),
        ],
    )
    session = fastort.Session(save(model))
    x = np.arange(5, dtype=np.float32) - 2
    call = session.prepare({"x": x})
    passed, relu = call.run()
    assert not np.shares_memory(passed, x)
    np.testing.assert_array_equal(passed, x)
    np.testing.assert_array_equal(relu, np.maximum(x, 0))
    out = {"x": np.zeros(5, np.float32)}
    into = session.prepare({"x": x}, out)
    for value in (1.0, 2.0):
        x[...] = value
        passed, _ = into.run()
        assert passed is out["x"]
        np.testing.assert_array_equal(out["x"], np.full(5, value, np.float32))


def test_an_unconstructed_call_raises():
    call = fastort.PreparedCall.__new__(fastort.PreparedCall)
    with pytest.raises(fastort.FastortError, match="not initialised"):
        call.run()
    with pytest.raises(TypeError, match="Model"):
        fastort.PreparedCall(None, None, {}, None)


def test_concurrent_runs_without_out_are_safe(session):
    x = np.arange(3 * 4000, dtype=np.float32).reshape(4000, 3)
    y = np.ones_like(x)
    call = session.prepare({"x": x, "y": y})

    def work(_: int) -> bool:
        return all(np.array_equal(call.run()[0], x + 1) for _ in range(200))

    assert all(parallelize(work, 4))


def test_concurrent_runs_with_out_are_refused_clearly(save):
    from models import matmul_model

    session = fastort.Session(save(matmul_model(384)), threads=1)
    a = np.ones((384, 384), np.float32)
    out = {"b": np.empty_like(a)}
    call = session.prepare({"a": a}, out)
    outcomes: list[str] = []
    lock = threading.Lock()

    def work(_: int) -> None:
        for _ in range(20):
            try:
                call.run()
                result = "ran"
            except fastort.FastortError as error:
                assert "another thread" in str(error)
                result = "refused"
            with lock:
                outcomes.append(result)

    parallelize(work, 3)
    assert "ran" in outcomes
    np.testing.assert_array_equal(out["b"], a @ a)
    # One prepared call per thread is the way to run with out arrays in parallel.
    calls = [session.prepare({"a": a}, {"b": np.empty_like(a)}) for _ in range(3)]
    parallelize(lambda i: calls[i].run(), 3)


def test_the_rules_are_documented():
    assert "InvalidArgumentError" in (fastort.Session.prepare.__doc__ or "")
    assert "one per thread" in (fastort.Session.prepare.__doc__ or "")
    assert "several threads" in (fastort.PreparedCall.run.__doc__ or "")


def test_a_session_of_another_model_is_unaffected(add_path, xy):
    x, y = xy
    first = fastort.Session(add_path)
    second = fastort.Session(add_model(shape=(4, 3)).SerializeToString())
    a, b = first.prepare({"x": x, "y": y}), second.prepare({"x": x, "y": y})
    np.testing.assert_array_equal(a.run()[0], b.run()[0])


def _fixed_model():
    """y = -x and the input x passed through, both of the fixed shape [3, 4]."""
    return make_model(
        [helper.make_node("Neg", ["x"], ["y"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 4])],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 4]),
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 4]),
        ],
    )


def test_fixed_shape_outputs_are_written_into_new_arrays_at_each_run(save):
    # As Session.run: ORT writes a small output of a fixed shape into an array made for the
    # run, which owns its memory; a passed-through input still comes back in memory of its own.
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    call = fastort.Session(save(_fixed_model())).prepare({"x": x})
    values = live_values()
    y1, passed = call.run()
    x[...] = 5
    y2, passed2 = call.run()
    assert y1.flags.owndata and y1.base is None and y2 is not y1
    np.testing.assert_array_equal(y1, -np.arange(12, dtype=np.float32).reshape(3, 4))
    np.testing.assert_array_equal(y2, np.full((3, 4), -5, np.float32))
    assert not np.shares_memory(passed, x)
    np.testing.assert_array_equal(passed, np.arange(12, dtype=np.float32).reshape(3, 4))
    np.testing.assert_array_equal(passed2, x)
    del call, y1, y2, passed, passed2
    gc.collect()
    assert live_values() == values


def test_concurrent_runs_of_fixed_shape_outputs(save):
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    call = fastort.Session(save(_fixed_model())).prepare({"x": x}, output_names=["y"])

    def work(_: int) -> bool:
        results = [call.run()[0] for _ in range(300)]
        return all(np.array_equal(y, -x) for y in results) and len({id(y) for y in results}) == 300

    assert all(parallelize(work, 4))


def test_a_prepared_model_that_declares_an_output_shape_it_does_not_produce(save):
    model = reshape_model([2, 3])
    x = np.arange(6, dtype=np.float32)
    s = np.array([2, 3])
    call = fastort.Session(save(model)).prepare({"x": x, "s": s})
    for shape in ([2, 3], [3, 2], [2, 3], [3, 2]):
        s[...] = shape
        (y,) = call.run()
        np.testing.assert_array_equal(y, x.reshape(shape))
