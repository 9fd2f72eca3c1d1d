"""Zero-copy claims: no input copies for dense arrays, outputs viewing ORT memory, lifetimes."""

from __future__ import annotations

import gc
import itertools
import sys
import time
import warnings
import weakref

import numpy as np
import pytest
from onnx import TensorProto, helper

import fastort
from fastort import _core
from hammer import parallelize
from isolated import UNDER_ASAN, describe, run_python
from models import make_model, reshape_model


def copied() -> int:
    return _core.debug_counters()["input_bytes_copied"]


def outputs_copied() -> int:
    return _core.debug_counters()["output_bytes_copied"]


def live_values() -> int:
    return _core.debug_counters()["live_values"]


def test_dense_inputs_are_not_copied(add_path, xy):
    x, y = xy
    session = fastort.Session(add_path)
    before = copied()
    session.run(None, {"x": x, "y": y})
    assert copied() == before


def test_strided_inputs_cost_one_copy_or_raise_when_strict(add_path):
    wide = np.arange(24, dtype=np.float32).reshape(4, 6)
    x = wide[:, ::2]  # strided view
    assert not x.flags.c_contiguous
    session = fastort.Session(add_path)
    before = copied()
    (z, _) = session.run(None, {"x": x, "y": x})
    assert copied() - before == 2 * x.nbytes
    np.testing.assert_array_equal(z, x + x)
    transposed = np.ascontiguousarray(wide[:3, :4].T)[::-1]  # negative strides
    (z, _) = session.run(None, {"x": transposed, "y": np.zeros_like(transposed)})
    np.testing.assert_array_equal(z, transposed)
    strict = fastort.Session(add_path, strict=True)
    with pytest.raises(ValueError, match="C-contiguous"):
        strict.run(None, {"x": x, "y": x})


def test_misaligned_inputs_are_copied(add_path):
    buffer = np.zeros(4 * 3 * 4 + 1, np.uint8)
    x = buffer[1:].view(np.float32).reshape(4, 3)
    assert not x.flags.aligned
    before = copied()
    (z, _) = fastort.Session(add_path).run(None, {"x": x, "y": x})
    assert copied() - before == 2 * x.nbytes
    np.testing.assert_array_equal(z, x + x)


def test_outputs_view_ort_memory_and_outlive_the_session(add_path, xy):
    x, y = xy
    session = fastort.Session(add_path)
    z, w = session.run(None, {"x": x, "y": y})
    assert not z.flags.owndata and type(z.base).__name__ == "PyCapsule"
    del session
    fastort.clear_cache()
    gc.collect()
    np.testing.assert_array_equal(z, x + y)
    np.testing.assert_array_equal(w, x * 2)


def test_out_buffers_are_written_in_place(add_path, xy):
    x, y = xy
    session = fastort.Session(add_path)
    z = np.empty_like(x)
    w = np.empty_like(x)
    addresses = (z.ctypes.data, w.ctypes.data)
    result = session.run(None, {"x": x, "y": y}, out={"z": z, "w": w})
    assert result[0] is z and result[1] is w
    assert (z.ctypes.data, w.ctypes.data) == addresses  # written where they were
    np.testing.assert_array_equal(z, x + y)
    np.testing.assert_array_equal(w, x * 2)
    # Only some outputs bound: the others are allocated by ORT as usual.
    z2, w2 = session.run(None, {"x": x, "y": y}, out={"w": w})
    assert w2 is w and not z2.flags.owndata


def test_inputs_are_released_after_runs(add_path, xy):
    x, y = xy
    session = fastort.Session(add_path)
    before = (sys.getrefcount(x), sys.getrefcount(y))
    for _ in range(100):
        session.run(None, {"x": x, "y": y})
    assert (sys.getrefcount(x), sys.getrefcount(y)) == before


def test_dlpack_and_array_interface_objects_are_viewed_without_copy(add_path, xy):
    x, y = xy

    class DLPackOnly:
        def __init__(self, array):
            self._array = array

        def __dlpack__(self, **kwargs):
            return self._array.__dlpack__(**kwargs)

        def __dlpack_device__(self):
            return self._array.__dlpack_device__()

    class InterfaceOnly:
        def __init__(self, array):
            self.__array_interface__ = array.__array_interface__

    session = fastort.Session(add_path)
    before = copied()
    (z, _) = session.run(None, {"x": DLPackOnly(x), "y": InterfaceOnly(y)})
    assert copied() == before
    np.testing.assert_array_equal(z, x + y)


@pytest.mark.slow
def test_no_values_leak_over_many_runs(add_path, iris_path, xy):
    x, y = xy
    session = fastort.Session(add_path)
    iris = fastort.Session(iris_path)
    gc.collect()
    baseline = live_values()
    iris_input = np.ones((3, 2), np.float32)
    for _ in range(1000):
        iris.run(None, {"float_input": iris_input})
    z = np.empty_like(x)
    for _ in range(100_000):
        session.run(None, {"x": x, "y": y})
    for _ in range(10_000):
        session.run(["z"], {"x": x, "y": y}, out={"z": z})
    gc.collect()
    assert live_values() == baseline
    big = np.ones((6000, 3), np.float32)  # outputs over 64 KiB: ORT's own values, counted
    kept = session.run(None, {"x": big, "y": big})
    assert live_values() == baseline + 2
    del kept
    assert live_values() == baseline


def test_torch_cpu_tensors_are_viewed_without_copy(add_path):
    torch = pytest.importorskip("torch")
    x = torch.arange(12, dtype=torch.float32).reshape(4, 3)
    session = fastort.Session(add_path)
    before = copied()
    (z, _) = session.run(None, {"x": x, "y": x})
    assert copied() == before
    np.testing.assert_array_equal(z, (x + x).numpy())
    with pytest.raises(TypeError, match="input 'x'"):
        session.run(None, {"x": x.requires_grad_(), "y": x})


def _passthrough_model():
    """Outputs: the input x itself (a graph output that is a graph input) and relu(x)."""
    return make_model(
        [helper.make_node("Relu", ["x"], ["r"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N"])],
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N"]),
            helper.make_tensor_value_info("r", TensorProto.FLOAT, ["N"]),
        ],
    )


def test_a_passed_through_input_comes_back_in_memory_of_its_own(save):
    # ORT returns such an output in the caller's input buffer; it used to outlive the input.
    path = save(_passthrough_model())
    process = run_python(
        """
        import gc, sys, numpy as np, fastort
        session = fastort.Session(sys.argv[1])
        outputs = [session.run(None, {"x": np.ones(4_000_000, np.float32)})[0] for _ in range(4)]
        gc.collect()
        garbage = [np.full(4_000_000, 7.0, np.float32) for _ in range(4)]
        print(sum(float(o.sum()) for o in outputs))
        """,
        path,
    )
    assert process.returncode == 0, describe(process)
    assert process.stdout == "16000000.0\n"

    session = fastort.Session(path)
    x = np.arange(6, dtype=np.float32) - 2
    before = outputs_copied()
    passed, relu = session.run(None, {"x": x})
    assert outputs_copied() - before == x.nbytes  # the passed-through output only
    assert not np.shares_memory(passed, x)
    np.testing.assert_array_equal(passed, x)
    np.testing.assert_array_equal(relu, np.maximum(x, 0))
    x[:] = 100  # the output does not change with the input
    np.testing.assert_array_equal(passed, np.arange(6, dtype=np.float32) - 2)
    strided = np.arange(12, dtype=np.float32)[::2]  # ORT sees a copy, freed after the call
    (passed,) = session.run(["x"], {"x": strided})
    np.testing.assert_array_equal(passed, strided)


def test_out_receives_a_passed_through_input(save):
    session = fastort.Session(save(_passthrough_model()))
    x = np.arange(5, dtype=np.float32)
    out = {"x": np.zeros(5, np.float32), "r": np.zeros(5, np.float32)}
    passed, relu = session.run(None, {"x": x}, out=out)
    assert passed is out["x"] and relu is out["r"]
    np.testing.assert_array_equal(out["x"], x)
    np.testing.assert_array_equal(out["r"], x)
    with pytest.raises(
        fastort.InvalidArgumentError, match=r"passed through.*float32\[5\], got float32\[7\]"
    ):
        session.run(["x"], {"x": x}, out={"x": np.zeros(7, np.float32)})


@pytest.mark.parametrize("rank", [0, 1, 4, 8, 9, 12])
def test_outputs_of_every_rank_view_ort_memory(save, rank):
    # Ranks up to 8 take the allocation-free path, higher ones the general one: both give
    # arrays of the right shape and values that own no memory of their own. (The first dim
    # is dynamic: outputs of a fixed shape are bound, below.)
    shape = [2 if i % 2 == 0 else 3 for i in range(rank)]
    declared = ["N", *shape[1:]] if rank else []
    model = make_model(
        [helper.make_node("Neg", ["x"], ["y"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, declared)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, declared)],
    )
    session = fastort.Session(save(model))
    x = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)
    (y,) = session.run(None, {"x": x})
    assert y.shape == tuple(shape) and y.dtype == np.float32
    assert y.flags.c_contiguous and y.flags.writeable and not y.flags.owndata
    np.testing.assert_array_equal(y, -x)
    del session
    gc.collect()
    y += 1  # the memory outlives the session
    np.testing.assert_array_equal(y, 1 - x)


def _fixed_model(shape, dtype=TensorProto.FLOAT):
    """y = -x, of x's fixed shape, and d = -v, of a dynamic one."""
    return make_model(
        [helper.make_node("Neg", ["x"], ["y"]), helper.make_node("Neg", ["v"], ["d"])],
        [
            helper.make_tensor_value_info("x", dtype, shape),
            helper.make_tensor_value_info("v", dtype, ["N", *shape[1:]]),
        ],
        [
            helper.make_tensor_value_info("y", dtype, shape),
            helper.make_tensor_value_info("d", dtype, ["N", *shape[1:]]),
        ],
    )


@pytest.mark.parametrize(
    ("dtype", "numpy_dtype"),
    [
        (TensorProto.FLOAT, np.float32),
        (TensorProto.INT64, np.int64),
        (TensorProto.FLOAT16, np.float16),
    ],
)
def test_outputs_of_a_fixed_small_shape_are_written_into_arrays_of_their_own(
    save, dtype, numpy_dtype
):
    # ONNX Runtime writes such an output straight into a numpy array made before the run: the
    # array owns its memory, nothing is copied, and each run returns a new array.
    session = fastort.Session(save(_fixed_model([3, 4], dtype)))
    x = np.arange(12, dtype=numpy_dtype).reshape(3, 4)
    before = outputs_copied()
    values = live_values()
    y1, d1 = session.run(None, {"x": x, "v": x})
    y2, d2 = session.run(None, {"x": x + 1, "v": x + 1})
    assert outputs_copied() == before
    assert y1.flags.owndata and y1.base is None and y1.dtype == numpy_dtype
    assert y1.flags.c_contiguous and y1.flags.writeable
    assert not d1.flags.owndata  # of a dynamic shape: ORT's memory, as before
    assert y2 is not y1 and not np.shares_memory(y1, y2)
    np.testing.assert_array_equal(y1, -x)
    np.testing.assert_array_equal(y2, -(x + 1))
    np.testing.assert_array_equal(d2, -(x + 1))
    # Only the requested outputs; with out= for some, ORT allocates the others, as before.
    (y3,) = session.run(["y"], {"x": x, "v": x})
    out = np.empty((3, 4), numpy_dtype)
    y4, d4 = session.run(None, {"x": x, "v": x}, out={"d": out})
    assert d4 is out and not y4.flags.owndata
    np.testing.assert_array_equal(y3, -x)
    np.testing.assert_array_equal(y4, -x)
    np.testing.assert_array_equal(out, -x)
    del session, y1, d1, y2, d2, y3, y4, d4
    gc.collect()
    assert live_values() == values


def _runs(session):
    """Session.run and a prepared call's run on x = 0..11 as 3x4, each returning y = -x."""
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    call = session.prepare({"x": x, "v": x}, output_names=["y"])
    return x, [lambda: session.run(["y"], {"x": x, "v": x})[0], lambda: call.run()[0]]


@pytest.mark.parametrize("which", [0, 1], ids=["run", "prepared"])
def test_a_fixed_output_array_let_go_is_written_again(save, which):
    # A session keeps the arrays of its small fixed-shape outputs: once the caller lets one go,
    # the next run writes into it again rather than making a new array and ORT value.
    x, runs = _runs(fastort.Session(save(_fixed_model([3, 4]))))
    run = runs[which]
    first = run()
    address = first.ctypes.data
    del first
    again = run()
    assert again.ctypes.data == address and again.flags.owndata
    np.testing.assert_array_equal(again, -x)
    # One the caller holds is never written again: two are kept, then new arrays are made.
    held = [again, run(), run(), run()]
    assert len({a.ctypes.data for a in held}) == 4
    x += 1
    for array in held[:-1]:
        np.testing.assert_array_equal(array, -(x - 1))
    np.testing.assert_array_equal(run(), -x)


@pytest.mark.parametrize("which", [0, 1], ids=["run", "prepared"])
def test_a_fixed_output_array_reached_another_way_is_not_written_again(save, which):
    x, runs = _runs(fastort.Session(save(_fixed_model([3, 4]))))
    run = runs[which]
    holders = [
        lambda a: a[1:],  # a view
        memoryview,
        lambda a: np.frombuffer(a, np.float32),
        np.from_dlpack,
        lambda a: a.view(np.ndarray),
    ]
    for hold in holders:
        keep = hold(run())
        before = bytes(memoryview(keep))
        x += 1
        for _ in range(3):
            np.testing.assert_array_equal(run(), -x)
        assert bytes(memoryview(keep)) == before, hold
        del keep
    # Changed in place and let go: not handed out again as it is now.
    changes = [
        lambda a: setattr(a, "shape", (12,)),
        lambda a: setattr(a, "shape", (4, 3)),
        lambda a: setattr(a, "dtype", np.int32),
        lambda a: setattr(a.flags, "writeable", False),
        lambda a: a.resize((2, 2), refcheck=False),
        lambda a: setattr(a, "strides", (0, 4)),
    ]
    for change in changes:
        for _ in range(3):
            with warnings.catch_warnings():  # NumPy 2.4 deprecates setting strides in place
                warnings.simplefilter("ignore", DeprecationWarning)
                change(run())
        for _ in range(3):
            y = run()
            assert y.shape == (3, 4) and y.dtype == np.float32 and y.strides == (16, 4)
            assert y.flags.writeable and y.flags.c_contiguous
            np.testing.assert_array_equal(y, -x)


def test_a_fixed_output_array_with_a_weak_reference_is_not_written_again(save):
    x, (run, _) = _runs(fastort.Session(save(_fixed_model([3, 4]))))
    reference = weakref.ref(run())
    x += 1
    for _ in range(3):
        np.testing.assert_array_equal(run(), -x)
    # The pool still holds it; whoever reaches it through the reference sees what it was.
    np.testing.assert_array_equal(reference(), -(x - 1))


def test_fixed_output_arrays_are_right_on_many_threads(save):
    # Threads share one session's kept arrays: each run's array is its own until let go.
    session = fastort.Session(save(_fixed_model([3, 4])), threads=1)

    def work(seed: int) -> None:
        rng = np.random.default_rng(seed)
        held = []
        for i in range(2000):
            x = rng.standard_normal((3, 4)).astype(np.float32)
            (y,) = session.run(["y"], {"x": x, "v": x})
            np.testing.assert_array_equal(y, -x)
            held.append((x, y))
            if i % 7 == 0:
                held.clear()
            for kept_x, kept_y in held[-3:]:
                np.testing.assert_array_equal(kept_y, -kept_x)

    parallelize(work, 6)


def _dynamic_model():
    """y = -x and d = x + x for x float[N, 4]: outputs of a dynamic shape."""
    return make_model(
        [helper.make_node("Neg", ["x"], ["y"]), helper.make_node("Add", ["x", "x"], ["d"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4]),
            helper.make_tensor_value_info("d", TensorProto.FLOAT, ["N", 4]),
        ],
    )


@pytest.mark.skipif(UNDER_ASAN, reason="runs under AddressSanitizer are not quick")
@pytest.mark.parametrize("prepared", [False, True], ids=["run", "prepared"])
def test_outputs_of_a_dynamic_shape_are_bound_once_learned(save, prepared):
    # A quick run's small outputs of a dynamic declared shape are bound, like fixed ones, once
    # a run of the same input shapes has shown theirs: written into arrays of their own.
    session = fastort.Session(save(_dynamic_model()), threads=1)
    rng = np.random.default_rng(0)
    for rows in (1, 3, 1, 8, 3):
        x = rng.standard_normal((rows, 4)).astype(np.float32)
        call = session.prepare({"x": x})
        # A busy machine may pause quick runs for many runs (doubling after each long one):
        # more runs are made, for up to 20 s.
        deadline = time.monotonic() + 20
        while True:
            results = [call.run() if prepared else session.run(None, {"x": x}) for _ in range(30)]
            owned = results[-1][0].flags.owndata and results[-1][1].flags.owndata
            if owned or time.monotonic() > deadline:
                break
        for y, d in results:
            np.testing.assert_array_equal(y, -x)
            np.testing.assert_array_equal(d, x + x)
            assert y.shape == d.shape == (rows, 4)
        # Learned within a few runs: the last ones own their memory, each its own.
        y, d = results[-1]
        assert y.flags.owndata and d.flags.owndata and not np.shares_memory(y, d)
        addresses = {a.ctypes.data for pair in results for a in pair if a.flags.owndata}
        assert len(addresses) == 2 * len([p for p in results if p[0].flags.owndata])


@pytest.mark.parametrize("prepared", [False, True], ids=["run", "prepared"])
def test_an_output_whose_shape_follows_the_input_values_is_right_every_time(save, prepared):
    # Reshape's output shape follows the values of `s`, not the input shapes: a learned shape
    # is wrong as soon as they change, and that key's outputs are no longer bound.
    session = fastort.Session(save(reshape_model(["A", "B"])), threads=1)
    x = np.arange(6, dtype=np.float32)
    s = np.array([2, 3])
    run = session.prepare({"x": x, "s": s}).run if prepared else None
    for i in range(200):
        s[:] = (2, 3) if (i // 50) % 2 == 0 else (3, 2)
        (y,) = run() if prepared else session.run(None, {"x": x, "s": s})
        np.testing.assert_array_equal(y, x.reshape(tuple(s)))


@pytest.mark.skipif(UNDER_ASAN, reason="runs under AddressSanitizer are not quick")
@pytest.mark.parametrize("prepared", [False, True], ids=["run", "prepared"])
def test_dynamic_outputs_beside_a_fixed_one_and_asked_for_apart_are_learned(save, prepared):
    # Runs that bind a fixed-shape output still show the dynamic ones' shapes, and a shape
    # learned from a run asking for one output does not keep the others from being learned.
    model = make_model(
        [
            helper.make_node("Neg", ["x"], ["y"]),
            helper.make_node("Abs", ["x"], ["a"]),
            helper.make_node("Neg", ["v"], ["z"]),
        ],
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4]),
            helper.make_tensor_value_info("v", TensorProto.FLOAT, [3]),
        ],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4]),
            helper.make_tensor_value_info("a", TensorProto.FLOAT, ["N", 4]),
            helper.make_tensor_value_info("z", TensorProto.FLOAT, [3]),
        ],
    )
    session = fastort.Session(save(model), threads=1)
    feed = {"x": -np.ones((2, 4), np.float32), "v": np.ones(3, np.float32)}
    for names in (["y"], ["a"], None):
        call = session.prepare(feed, output_names=names)
        # A busy machine may pause quick runs for many runs (doubling after each long one):
        # more runs are made, for up to 20 s.
        deadline = time.monotonic() + 20
        for attempt in itertools.count():
            results = call.run() if prepared else session.run(names, feed)
            owned = all(r.flags.owndata for r in results)
            if (attempt >= 60 and owned) or time.monotonic() > deadline:
                break
        assert all(r.flags.owndata for r in results), names
    y, a, z = results
    np.testing.assert_array_equal(y, np.ones((2, 4)))
    np.testing.assert_array_equal(a, np.ones((2, 4)))
    np.testing.assert_array_equal(z, -np.ones(3))


def test_learned_output_shapes_are_right_on_many_threads(save):
    session = fastort.Session(save(_dynamic_model()), threads=1)

    def work(seed: int) -> None:
        rng = np.random.default_rng(seed)
        held = []
        for i in range(1500):
            x = rng.standard_normal((int(rng.integers(1, 5)), 4)).astype(np.float32)
            y, d = session.run(None, {"x": x})
            np.testing.assert_array_equal(y, -x)
            np.testing.assert_array_equal(d, x + x)
            held.append((x, y))
            if i % 5 == 0:
                held.clear()
            for kept_x, kept_y in held:
                np.testing.assert_array_equal(kept_y, -kept_x)

    parallelize(work, 6)


def test_outputs_over_64_kib_view_ort_memory(save):
    x = np.ones((129, 128), np.float32)
    (big,) = fastort.Session(save(_fixed_model([129, 128]))).run(["y"], {"x": x, "v": x})
    assert big.nbytes > 64 * 1024 and not big.flags.owndata
    x = np.ones((128, 128), np.float32)
    (small,) = fastort.Session(save(_fixed_model([128, 128]))).run(["y"], {"x": x, "v": x})
    assert small.nbytes == 64 * 1024 and small.flags.owndata


@pytest.mark.parametrize("order", [[[2, 3], [3, 2]], [[3, 2], [2, 3]]])
def test_a_model_that_declares_an_output_shape_it_does_not_produce(save, order):
    # ORT tolerates an output whose shape differs from the declared one, unless the output is
    # bound: fastort then runs it unbound, and stops binding for that session.
    model = reshape_model([2, 3])
    session = fastort.Session(save(model))
    x = np.arange(6, dtype=np.float32)
    for _ in range(2):
        for shape in order:
            (y,) = session.run(None, {"x": x, "s": np.array(shape)})
            np.testing.assert_array_equal(y, x.reshape(shape))
    # An error of the caller's stays the error, whatever the binding.
    with pytest.raises(fastort.InvalidArgumentError, match="input 'x'"):
        fastort.Session(save(model)).run(None, {"x": x[:5], "s": np.array([2, 3])})


def test_a_fixed_output_that_is_a_passed_through_input(save):
    model = make_model(
        [helper.make_node("Relu", ["x"], ["r"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [5])],
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [5]),
            helper.make_tensor_value_info("r", TensorProto.FLOAT, [5]),
        ],
    )
    session = fastort.Session(save(model))
    x = np.arange(5, dtype=np.float32) - 2
    passed, relu = session.run(None, {"x": x})
    assert not np.shares_memory(passed, x)
    x[:] = 100
    np.testing.assert_array_equal(passed, np.arange(5, dtype=np.float32) - 2)
    np.testing.assert_array_equal(relu, np.maximum(passed, 0))


def test_empty_outputs_have_their_shape(add_path):
    x = np.zeros((0, 3), np.float32)
    z, w = fastort.Session(add_path).run(None, {"x": x, "y": x})
    assert z.shape == (0, 3) and w.shape == (0, 3)


def _unchecked_model(nodes, inputs, outputs, initializers=()):
    """A model onnx's checker would refuse but ONNX Runtime loads (no check here)."""
    graph = helper.make_graph(nodes, "test", inputs, outputs, initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def test_an_output_the_model_lists_twice_is_right_in_both_places(save):
    # ORT fills one value for both entries: neither is bound, each gets the values.
    model = _unchecked_model(
        [helper.make_node("Neg", ["x"], ["y"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])] * 2,
    )
    session = fastort.Session(save(model))
    x = np.arange(4, dtype=np.float32)
    first, second = session.run(None, {"x": x})
    np.testing.assert_array_equal(first, -x)
    np.testing.assert_array_equal(second, -x)
    first, second = session.prepare({"x": x}).run()
    np.testing.assert_array_equal(first, -x)
    np.testing.assert_array_equal(second, -x)
    with pytest.raises(fastort.InvalidArgumentError, match="listed twice"):
        session.run(None, {"x": x}, out={"y": np.empty(4, np.float32)})


def test_an_output_that_is_an_overridable_initializer_follows_what_is_fed(save):
    c = helper.make_tensor("c", TensorProto.FLOAT, [6], list(range(6)))
    model = _unchecked_model(
        [helper.make_node("Neg", ["x"], ["y"])],
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [2]),
            helper.make_tensor_value_info("c", TensorProto.FLOAT, [6]),
        ],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, [2]),
            helper.make_tensor_value_info("c", TensorProto.FLOAT, [6]),
        ],
        [c],
    )
    session = fastort.Session(save(model))
    x = np.ones(2, np.float32)
    fed = np.full(6, 42, np.float32)
    for feed in ({"x": x}, {"x": x, "c": fed}, {"x": x}):
        _, value = session.run(None, feed)
        np.testing.assert_array_equal(value, feed.get("c", np.arange(6, dtype=np.float32)))
    (value,) = session.prepare({"x": x, "c": fed}, output_names=["c"]).run()
    np.testing.assert_array_equal(value, fed)
    with pytest.raises(fastort.InvalidArgumentError, match="initializer a run may replace"):
        session.run(None, {"x": x, "c": fed}, out={"c": np.empty(6, np.float32)})


def test_declared_dims_whose_product_overflows_run_unbound(save):
    model = reshape_model([2**62 + 1], [1])
    x = np.arange(6, dtype=np.float32)
    (y,) = fastort.Session(save(model)).run(None, {"x": x, "s": np.array([6])})
    np.testing.assert_array_equal(y, x)


def test_a_run_that_succeeds_unbound_logs_no_error(save, caplog):
    # The failed bound attempt's ORT error record is dropped; ORT's own warning stays.
    model = reshape_model([2, 3])
    session = fastort.Session(save(model))
    with caplog.at_level("DEBUG", logger="fastort.onnxruntime"):
        (y,) = session.run(None, {"x": np.arange(6, dtype=np.float32), "s": np.array([3, 2])})
    assert y.shape == (3, 2)
    assert not [r for r in caplog.records if r.levelname == "ERROR"], caplog.text


def test_threads_failing_their_first_bound_runs_at_once_do_not_deadlock(save):
    # The first ORT log record forwarded imports `logging`; threads used to deadlock on the
    # guard of the function-local static holding the logger.
    model = reshape_model([2, 3], ["k"])
    process = run_python(
        """
        import sys, threading, numpy as np, fastort
        assert "logging" not in sys.modules
        x = np.arange(6, dtype=np.float32)

        def work():
            for _ in range(50):
                (y,) = fastort.Session(sys.argv[1]).run(None, {"x": x, "s": np.array([6])})
                assert y.shape == (6,)

        threads = [threading.Thread(target=work) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        print("done")
        """,
        save(model),
        timeout=120,
    )
    assert process.returncode == 0 and process.stdout == "done\n", describe(process)
