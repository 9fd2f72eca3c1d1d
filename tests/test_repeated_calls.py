"""Session.run called again with the arrays of the thread's previous call (the same objects, or
new ones at the same memory): what that call checked and wrapped is reused, so every change to
names, memory, dtype, shape or flags must still be seen, and nothing may be kept alive."""

from __future__ import annotations

import collections
import ctypes
import gc
import weakref

import numpy as np
import pytest
from onnx import TensorProto, helper

import fastort
from hammer import parallelize
from models import add_model, identity_model, make_model


def sub_model():
    """z = x - y, w = x * 3: the add model's signature with other results."""
    three = helper.make_tensor("three", TensorProto.FLOAT, [], [3])
    shape = ("N", 3)
    return make_model(
        [
            helper.make_node("Sub", ["x", "y"], ["z"]),
            helper.make_node("Mul", ["x", "three"], ["w"]),
        ],
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, shape),
            helper.make_tensor_value_info("y", TensorProto.FLOAT, shape),
        ],
        [
            helper.make_tensor_value_info("z", TensorProto.FLOAT, shape),
            helper.make_tensor_value_info("w", TensorProto.FLOAT, shape),
        ],
        [three],
    )


def repeated_runs() -> int:
    return int(fastort._core.debug_counters()["repeated_runs"])


@pytest.fixture
def session(add_path) -> fastort.Session:
    return fastort.Session(add_path)


def test_new_contents_of_the_same_arrays_are_read_at_every_call(session, xy):
    x, y = xy
    feed = {"x": x, "y": y}
    before = repeated_runs()
    for value in range(5):
        x[...] = value
        z, w = session.run(None, feed)
        np.testing.assert_array_equal(z, value + y)
        np.testing.assert_array_equal(w, np.full_like(x, 2 * value))
    assert repeated_runs() - before == 4  # all but the first


def test_an_array_reshaped_or_retyped_in_place_is_checked_again(session, xy):
    x, y = xy
    feed = {"x": x, "y": y}
    session.run(None, feed)
    x.shape = (12,)  # same memory, another rank
    with pytest.raises(fastort.InvalidArgumentError, match="'x'"):
        session.run(None, feed)
    x.shape = (4, 3)
    np.testing.assert_array_equal(session.run(None, feed)[0], x + y)
    x.dtype = np.int32  # same memory and shape, another dtype
    with pytest.raises(fastort.InvalidTypeError, match="'x'"):
        session.run(None, feed)
    x.dtype = np.float32
    np.testing.assert_array_equal(session.run(None, feed)[0], x + y)


def test_arrays_freed_and_made_again_at_the_same_memory(session):
    rng = np.random.default_rng(1)
    for _ in range(50):
        # Each call's arrays are new objects, usually where the last ones were freed.
        x = rng.random((4, 3), dtype=np.float32)
        y = rng.random((4, 3), dtype=np.float32)
        z, w = session.run(None, {"x": x, "y": y})
        np.testing.assert_array_equal(z, x + y)
        np.testing.assert_array_equal(w, x * 2)


def test_out_arrays_are_written_and_changed_flags_are_checked_again(session, xy):
    x, y = xy
    z = np.empty_like(x)
    out = {"z": z}
    before = repeated_runs()
    for value in range(3):
        x[...] = value
        result = session.run(["z"], {"x": x, "y": y}, out=out)
        assert result[0] is z
        np.testing.assert_array_equal(z, value + y)
    assert repeated_runs() - before == 2
    z.flags.writeable = False
    with pytest.raises(fastort.InvalidArgumentError, match="writable"):
        session.run(["z"], {"x": x, "y": y}, out=out)
    z.flags.writeable = True
    session.run(["z"], {"x": x, "y": y}, out=out)
    # The same input array as out: refused, however often its arrays were seen before.
    with pytest.raises(fastort.InvalidArgumentError, match="shares memory"):
        session.run(["z"], {"x": x, "y": y}, out={"z": x})


def test_other_output_names_or_order_over_the_same_arrays(session, xy):
    x, y = xy
    feed = {"x": x, "y": y}
    (w,) = session.run(["w"], feed)
    np.testing.assert_array_equal(w, x * 2)
    z, w = session.run(("z", "w"), feed)
    np.testing.assert_array_equal(z, x + y)
    w, z = session.run(["w", "z"], feed)
    np.testing.assert_array_equal(w, x * 2)
    np.testing.assert_array_equal(z, x + y)
    assert len(session.run([], feed)) == 2
    assert len(session.run(None, feed)) == 2
    assert len(session.run(iter(["z"]), feed)) == 1


def test_other_sessions_over_the_same_arrays(save, xy):
    x, y = xy
    feed = {"x": x, "y": y}
    adding = fastort.Session(save(add_model(), "add.onnx"))
    subtracting = fastort.Session(save(sub_model(), "sub.onnx"))
    for _ in range(3):
        np.testing.assert_array_equal(adding.run(None, feed)[0], x + y)
        np.testing.assert_array_equal(subtracting.run(None, feed)[0], x - y)
    del adding, subtracting
    gc.collect()
    # A model loaded after the last one is gone may take its place in memory.
    for name, model, expected in [
        ("sub2.onnx", sub_model(), x - y),
        ("add2.onnx", add_model(), x + y),
    ]:
        session = fastort.Session(save(model, name), cache=False)
        np.testing.assert_array_equal(session.run(None, feed)[0], expected)
        del session
        gc.collect()


def test_a_few_models_or_feeds_in_turn_each_repeat_their_own_call(save, xy):
    # A thread keeps a few records (RepeatedRuns.kRecords): a pipeline of models, each over its
    # arrays, or a few feeds in turn, repeats every call after the first of each.
    x, y = xy
    adding = fastort.Session(save(add_model(), "add.onnx"))
    subtracting = fastort.Session(save(sub_model(), "sub.onnx"))
    feeds = [{"x": x, "y": y}, {"x": y, "y": x}]
    before = repeated_runs()
    for value in range(4):
        x[...] = value
        for feed in feeds:
            np.testing.assert_array_equal(adding.run(None, feed)[0], x + y)
            np.testing.assert_array_equal(subtracting.run(None, feed)[0], feed["x"] - feed["y"])
    assert repeated_runs() - before == 4 * 4 - 4
    # Calls that cannot be recorded (a strided input, copied) or are refused, between them,
    # take the place of none of the calls kept.
    strided = np.zeros((8, 3), np.float32)[::2]
    before = repeated_runs()
    for value in range(4):
        x[...] = 10 * value
        for feed in feeds:
            np.testing.assert_array_equal(adding.run(None, feed)[0], x + y)
            np.testing.assert_array_equal(subtracting.run(None, feed)[0], feed["x"] - feed["y"])
        np.testing.assert_array_equal(adding.run(None, {"x": strided, "y": y})[0], y)
        with pytest.raises(fastort.InvalidTypeError):
            adding.run(None, {"x": x.astype(np.float64), "y": y})
    assert repeated_runs() - before == 4 * 4
    # More calls in turn than records: each is prepared again, and right.
    own = [rng_pair(seed) for seed in range(6)]
    before = repeated_runs()
    for _ in range(3):
        for a, b in own:
            np.testing.assert_array_equal(adding.run(None, {"x": a, "y": b})[0], a + b)
    assert repeated_runs() == before


def rng_pair(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.random((4, 3), dtype=np.float32), rng.random((4, 3), dtype=np.float32)


def test_feeds_that_are_not_read_in_place_run_as_before(session, xy):
    x, y = xy
    base = np.zeros((8, 3), np.float32)
    strided = base[::2]  # a copy is fed, made again at every call
    before = repeated_runs()
    for value in range(3):
        base[...] = value
        np.testing.assert_array_equal(session.run(None, {"x": strided, "y": y})[0], value + y)
    feed = collections.OrderedDict(x=x, y=y)
    for value in range(3):
        x[...] = value
        np.testing.assert_array_equal(session.run(None, feed)[0], value + y)
    assert repeated_runs() == before
    np.testing.assert_array_equal(session.run(None, {"x": x, "y": y})[0], x + y)
    np.testing.assert_array_equal(session.run(None, {"y": y, "x": x})[0], x + y)  # other order
    assert repeated_runs() == before


def test_nothing_is_kept_alive_by_an_earlier_call(session):
    x, y, z = (np.ones((4, 3), np.float32) for _ in range(3))
    refs = [weakref.ref(a) for a in (x, y, z)]
    for _ in range(3):
        session.run(["z"], {"x": x, "y": y}, out={"z": z})
    del x, y, z
    gc.collect()
    assert all(ref() is None for ref in refs)
    before = int(fastort._core.debug_counters()["live_values"])
    rng = np.random.default_rng(2)
    a, b = rng.random((100, 3), dtype=np.float32), rng.random((100, 3), dtype=np.float32)
    for _ in range(200):
        session.run(None, {"x": a, "y": b})
    gc.collect()
    assert int(fastort._core.debug_counters()["live_values"]) <= before


def test_threads_with_their_own_and_shared_arrays(session):
    rng = np.random.default_rng(3)
    shared = rng.random((4, 3), dtype=np.float32), rng.random((4, 3), dtype=np.float32)

    def work(index: int) -> None:
        own = np.full((4, 3), index, np.float32), np.ones((4, 3), np.float32)
        for i in range(300):
            x, y = own if i % 3 else shared
            z, w = session.run(None, {"x": x, "y": y})
            np.testing.assert_array_equal(z, x + y)
            np.testing.assert_array_equal(w, x * 2)

    parallelize(work, threads=4)


def test_what_is_kept_is_what_the_call_viewed_not_the_dict_as_changed_since(save):
    # A value whose __array_interface__ replaces its own dict item while the call reads it:
    # the call runs on what the interface gave, and the next call, on the replacing array,
    # must not be taken for a repeat of it.
    session = fastort.Session(save(identity_model(TensorProto.FLOAT, shape=(4,)), "id.onnx"))
    given = np.full(4, 1.0, np.float32)
    replacing = np.full(4, 2.0, np.float32)
    feed: dict[str, object] = {}

    class Replaces:
        @property
        def __array_interface__(self) -> dict[str, object]:
            feed["x"] = replacing
            return given.__array_interface__

    feed["x"] = Replaces()
    np.testing.assert_array_equal(session.run(None, feed)[0], given)
    assert feed["x"] is replacing
    for value in (2.0, 3.0):
        replacing[...] = value
        given[...] = -1.0
        np.testing.assert_array_equal(session.run(None, feed)[0], replacing)


def test_an_output_array_reached_through_a_raw_pointer_is_not_written_while_read(save):
    # An input over the memory of a kept output array, through ctypes (no reference to the
    # array): that array must not be the output's buffer of the run reading it.
    size = 32
    model = make_model(
        [helper.make_node("MatMul", ["x", "x"], ["y"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [size, size])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [size, size])],
    )
    session = fastort.Session(save(model, "matmul.onnx"), threads=1)
    (kept,) = session.run(None, {"x": np.eye(size, dtype=np.float32)})
    memory = (ctypes.c_float * (size * size)).from_address(kept.ctypes.data)
    x = np.ctypeslib.as_array(memory).reshape(size, size)
    x[...] = np.random.default_rng(4).standard_normal((size, size)).astype(np.float32)
    expected = x @ x
    del kept  # only the session holds it now, and x reads its memory
    (y,) = session.run(None, {"x": x})
    assert not np.shares_memory(y, x)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-4)


def test_one_empty_array_as_the_out_of_two_outputs(save):
    # A zero-size array overlaps nothing, so it may be the out of two outputs; each repeated
    # call must still know which output each out item is for.
    model = make_model(
        [helper.make_node("Relu", ["x"], ["y"]), helper.make_node("Neg", ["x"], ["z"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N"])],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N"]),
            helper.make_tensor_value_info("z", TensorProto.FLOAT, ["N"]),
        ],
    )
    session = fastort.Session(save(model, "two.onnx"), threads=1)
    x, empty = np.empty(0, np.float32), np.empty(0, np.float32)
    before = repeated_runs()
    for out in ({"y": empty, "z": empty}, {"z": empty, "y": empty}):
        for _ in range(3):
            y, z = session.run(None, {"x": x}, out=out)
            assert y is empty and z is empty
    assert repeated_runs() - before == 4


def test_a_huge_feed_leaves_no_memory_to_the_thread(session, xy):
    # The thread's reused call buffers keep their memory for the next call, but not what a
    # feed of a hundred thousand names needed (here refused: they are unknown inputs).
    libc = ctypes.CDLL(None)
    if not hasattr(libc, "mallinfo2"):
        pytest.skip("needs glibc's mallinfo2")

    class MallInfo2(ctypes.Structure):
        _fields_ = [
            (name, ctypes.c_size_t)
            for name in (
                "arena",
                "ordblks",
                "smblks",
                "hblks",
                "hblkhd",
                "usmblks",
                "fsmblks",
                "uordblks",
                "fordblks",
                "keepcost",
            )
        ]

    libc.mallinfo2.restype = MallInfo2

    def heap_bytes() -> int:
        gc.collect()
        info = libc.mallinfo2()
        return int(info.uordblks + info.hblkhd)

    x, y = xy
    session.run(None, {"x": x, "y": y})
    before = heap_bytes()
    feed = {"x": x, "y": y, **{f"extra{i}": x for i in range(100_000)}}
    with pytest.raises(fastort.InvalidArgumentError, match="unknown input"):
        session.run(None, feed)
    del feed
    session.run(None, {"x": x, "y": y})
    assert heap_bytes() - before < 4 * 2**20


# A thread's loop of Batcher.run or submit over the same arrays (a request run on the caller's
# thread: quick, or on an idle batcher) reuses what its previous request prepared, as
# Session.run does; the Batcher's own checks and counts must hold all the same.


def test_a_batchers_loop_reads_new_contents_and_counts_every_request(session, xy):
    x, y = xy
    feed = {"x": x, "y": y}
    with fastort.Batcher(session) as batcher:
        before = repeated_runs()
        for value in range(6):
            x[...] = value
            z, w = batcher.run(feed)
            np.testing.assert_array_equal(z, value + y)
            np.testing.assert_array_equal(w, np.full_like(x, 2 * value))
        assert repeated_runs() - before == 5  # all but the first
        rows = x[:2], y[:2]  # views at the same memory, fewer rows
        for _ in range(2):
            np.testing.assert_array_equal(batcher.run({"x": rows[0], "y": rows[1]})[0], sum(rows))
        stats = batcher.stats()
        assert stats["requests"] == stats["batches"] == 8
        assert stats["batch_rows"] == {4: 6, 2: 2}


def test_a_batchers_recorded_arrays_reshaped_or_retyped_are_checked_again(session, xy):
    x, y = xy
    feed = {"x": x, "y": y}
    with fastort.Batcher(session) as batcher:
        batcher.run(feed)
        batcher.run(feed)
        x.shape = (2, 6)  # same memory: other rows, other trailing dims
        with pytest.raises(fastort.InvalidArgumentError, match=r"'x'.*\[2,6\]"):
            batcher.run(feed)
        x.shape = (4, 3)
        x.dtype = np.int32
        with pytest.raises(fastort.InvalidTypeError, match="'x'"):
            batcher.run(feed)
        x.dtype = np.float32
        np.testing.assert_array_equal(batcher.run(feed)[0], x + y)
        np.testing.assert_array_equal(batcher.submit(feed).result(30)[0], x + y)


def test_a_feed_that_session_run_accepts_is_still_checked_by_a_batcher(save):
    # Session.run may replace an initializer; a batcher's request may not. The thread's record
    # of Session.run's calls is not the batchers'.
    model = make_model(
        [helper.make_node("Add", ["x", "c"], ["y"])],
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ("N", 3)),
            helper.make_tensor_value_info("c", TensorProto.FLOAT, [3]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ("N", 3))],
        [helper.make_tensor("c", TensorProto.FLOAT, [3], [1, 2, 3])],
    )
    session = fastort.Session(save(model))
    x, c = np.ones((2, 3), np.float32), np.full(3, 10, np.float32)
    feed = {"x": x, "c": c}
    with fastort.Batcher(session) as batcher:
        for _ in range(2):
            np.testing.assert_array_equal(session.run(None, feed)[0], x + c)
            with pytest.raises(fastort.InvalidArgumentError, match="cannot be fed per request"):
                batcher.run(feed)
            with pytest.raises(fastort.InvalidArgumentError, match="cannot be fed per request"):
                batcher.submit(feed)
        for _ in range(2):
            np.testing.assert_array_equal(batcher.run({"x": x})[0], x + np.arange(1, 4))
            np.testing.assert_array_equal(session.run(None, feed)[0], x + c)


def test_a_recorded_request_to_a_closed_batcher_or_to_others(save, session, xy):
    x, y = xy
    feed = {"x": x, "y": y}
    first = fastort.Batcher(session)
    for _ in range(2):
        first.run(feed)
    first.close()
    with pytest.raises(fastort.FastortError, match="closed"):
        first.run(feed)
    with pytest.raises(fastort.FastortError, match="closed"):
        first.submit(feed)
    subtract = fastort.Session(save(sub_model()))
    with fastort.Batcher(session) as second, fastort.Batcher(subtract) as third:
        for _ in range(3):
            np.testing.assert_array_equal(second.run(feed)[0], x + y)
            np.testing.assert_array_equal(third.run(feed)[0], x - y)
            np.testing.assert_array_equal(third.submit(feed).result(30)[1], x * 3)
            np.testing.assert_array_equal(session.run(None, feed)[0], x + y)
        assert second.stats()["requests"] == third.stats()["requests"] / 2 == 3


def test_batcher_clients_on_threads_with_their_own_and_shared_arrays(session):
    shared = np.arange(6, dtype=np.float32).reshape(2, 3)
    with fastort.Batcher(session) as batcher:

        def client(index: int) -> int:
            own = np.full((2, 3), index, np.float32)
            for i in range(300):
                x = own if i % 3 else shared
                call = batcher.run if i % 2 else lambda feed: batcher.submit(feed).result(30)
                z, w = call({"x": x, "y": own})
                np.testing.assert_array_equal(z, x + own)
                np.testing.assert_array_equal(w, x * 2)
            return 300

        assert parallelize(client, 8) == [300] * 8
        assert batcher.stats()["requests"] == 8 * 300


def test_a_batchers_loop_keeps_nothing_alive(session):
    with fastort.Batcher(session) as batcher:
        for _ in range(3):
            x = np.ones((2, 3), np.float32)
            batcher.run({"x": x, "y": x})
            batcher.submit({"x": x, "y": x}).result(30)
        gone = weakref.ref(x)
        del x
        gc.collect()
        assert gone() is None
