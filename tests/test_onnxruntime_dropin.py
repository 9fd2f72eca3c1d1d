"""fastort.onnxruntime's own promises: no copies, lifetimes, errors that are fastort's and
onnxruntime's classes at once, clear failures for what is not supported, clean namespaces."""

from __future__ import annotations

import gc
import os
import pickle
import threading
import time
import weakref

import numpy as np
import pytest
from onnx import TensorProto

import fastort
import fastort.onnxruntime as ort
from hammer import parallelize
from isolated import describe, run_python
from models import add_model, endless_model, identity_model, ort_datasets

X = np.arange(6, dtype=np.float32).reshape(2, 3)


@pytest.fixture
def session():
    return ort.InferenceSession(add_model().SerializeToString())


def copied_bytes() -> int:
    return fastort._core.debug_counters()["input_bytes_copied"]


# ---- imports and namespaces ------------------------------------------------------------------


def test_import_loads_neither_onnxruntimes_python_module_nor_torch():
    result = run_python(
        "import sys, fastort.onnxruntime as ort; ort.get_version_string();"
        "assert 'onnxruntime' not in sys.modules, 'onnxruntime imported';"
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    assert result.returncode == 0, describe(result)


def test_onnxruntimes_public_names_all_exist():
    import onnxruntime

    # Names onnxruntime's __init__ leaves behind from its own imports and checks.
    internal = {
        "contextlib",
        "cuda_version",
        "import_capi_exception",
        "onnxruntime_validation",
        "package_name",
        "version",
        "backend",
        "experimental",
        "quantization",
        "tools",
        "transformers",
    }
    theirs = {name for name in dir(onnxruntime) if not name.startswith("_")} - internal
    assert theirs - set(ort.__all__) == set()
    assert theirs - set(dir(ort)) == set()
    errors = onnxruntime.capi.onnxruntime_pybind11_state
    for name in ("Fail", "InvalidArgument", "NoSuchFile", "InvalidProtobuf", "EPFail"):
        assert issubclass(getattr(ort.capi.onnxruntime_pybind11_state, name), Exception)
        assert hasattr(errors, name)
    # Code that imports the session classes from where onnxruntime defines them.
    theirs = onnxruntime.capi.onnxruntime_inference_collection
    ours = ort.capi.onnxruntime_inference_collection
    for name in ("InferenceSession", "IOBinding", "OrtValue", "SparseTensor", "OrtDevice"):
        assert getattr(ours, name) is getattr(ort, name)
        assert hasattr(theirs, name)


# ---- when data is copied, and lifetimes --------------------------------------------------------


def test_ortvalue_from_numpy_holds_the_array_itself():
    array = np.ones((2, 3), np.float32)
    value = ort.OrtValue.ortvalue_from_numpy(array)
    assert value.numpy() is array
    alive = weakref.ref(array)
    del array
    gc.collect()
    assert alive() is not None, "the OrtValue must keep its array"
    del value
    gc.collect()
    assert alive() is None


def test_ortvalue_from_a_strided_array_copies_once():
    wide = np.arange(12, dtype=np.float32).reshape(3, 4)
    value = ort.OrtValue.ortvalue_from_numpy(wide[:, ::2])
    assert not np.shares_memory(value.numpy(), wide)
    np.testing.assert_array_equal(value.numpy(), wide[:, ::2])


def test_run_outputs_view_onnx_runtimes_memory_and_outlive_the_session(session):
    z, w = session.run(None, {"x": X, "y": X})
    assert z.base is not None  # the capsule that owns ONNX Runtime's memory
    del session
    gc.collect()
    np.testing.assert_array_equal(z, X + X)
    np.testing.assert_array_equal(w, X * 2)


def test_run_with_ort_values_reads_inputs_in_place(session):
    before = copied_bytes()
    (z,) = session.run_with_ort_values(
        ["z"], {"x": ort.OrtValue.ortvalue_from_numpy(X), "y": ort.OrtValue.ortvalue_from_numpy(X)}
    )
    assert copied_bytes() == before
    assert z.numpy() is z.numpy()


def test_io_binding_reads_inputs_and_writes_outputs_in_place(session):
    x = X.copy()
    z = np.empty_like(x)
    binding = session.io_binding()
    binding.bind_cpu_input("x", x)
    binding.bind_ortvalue_input("y", ort.OrtValue.ortvalue_from_numpy(x))
    binding.bind_output("z", "cpu", 0, np.float32, list(z.shape), z.ctypes.data)
    binding.bind_output("w")
    before = copied_bytes()
    session.run_with_iobinding(binding)
    assert copied_bytes() == before
    bound, allocated = binding.get_outputs()
    assert np.shares_memory(bound.numpy(), z)
    np.testing.assert_array_equal(z, x + x)
    copies = binding.copy_outputs_to_cpu()
    assert not np.shares_memory(copies[0], z) and not np.shares_memory(copies[1], allocated.numpy())


def test_io_binding_keeps_bound_arrays_alive(session):
    binding = session.io_binding()
    x = X.copy()
    alive = weakref.ref(x)
    binding.bind_cpu_input("x", x)
    binding.bind_cpu_input("y", x)
    binding.bind_output("z")
    del x
    gc.collect()
    assert alive() is not None
    session.run_with_iobinding(binding)
    np.testing.assert_array_equal(binding.get_outputs()[0].numpy(), X + X)


def test_outputs_bound_by_name_get_new_memory_each_run(session):
    # onnxruntime reuses the first run's buffer (and fails when the shape changes).
    binding = session.io_binding()
    binding.bind_cpu_input("x", X)
    binding.bind_cpu_input("y", X)
    binding.bind_output("z")
    session.run_with_iobinding(binding)
    first = binding.get_outputs()[0].numpy()
    bigger = np.ones((5, 3), np.float32)
    binding.bind_cpu_input("x", bigger)
    binding.bind_cpu_input("y", bigger)
    session.run_with_iobinding(binding)
    np.testing.assert_array_equal(first, X + X)
    assert binding.get_outputs()[0].shape() == [5, 3]


def test_io_binding_sees_arrays_changed_in_place(session):
    # A binding views its arrays once; an array changed in place is viewed again, never read
    # through a stale pointer.
    x = X.copy()
    binding = session.io_binding()
    binding.bind_cpu_input("x", x)
    binding.bind_cpu_input("y", x)
    binding.bind_output("z")
    session.run_with_iobinding(binding)
    x.resize((4, 3), refcheck=False)  # new memory, new shape
    x[:] = 1
    session.run_with_iobinding(binding)
    np.testing.assert_array_equal(binding.copy_outputs_to_cpu()[0], np.full((4, 3), 2.0))
    x.shape = (2, 6)
    with pytest.raises(ort.InvalidArgument, match="expected float32"):
        session.run_with_iobinding(binding)


def test_io_binding_reads_string_inputs_again_each_run():
    session = ort.InferenceSession(identity_model(TensorProto.STRING).SerializeToString())
    words = np.array([["a", "b"]], dtype=object)
    binding = session.io_binding()
    binding.bind_cpu_input("x", words)
    binding.bind_output("y")
    session.run_with_iobinding(binding)
    words[0, 1] = "changed"
    session.run_with_iobinding(binding)
    assert binding.copy_outputs_to_cpu()[0].tolist() == [["a", "changed"]]


def test_io_binding_runs_with_and_without_run_options_off_the_main_thread(session):
    # A bound run reuses its request: a run without options after one with them must not
    # see the earlier run's (gone) control, and a terminated RunOptions stops only its runs.
    binding = session.io_binding()
    binding.bind_cpu_input("x", X)
    binding.bind_cpu_input("y", X)
    binding.bind_output("z")
    stopped = ort.RunOptions()
    stopped.terminate = True

    def work(_):
        for _ in range(50):
            session.run_with_iobinding(binding, ort.RunOptions())
            session.run_with_iobinding(binding)
            with pytest.raises(ort.Fail):
                session.run_with_iobinding(binding, stopped)
            session.run_with_iobinding(binding)
            np.testing.assert_array_equal(binding.copy_outputs_to_cpu()[0], X + X)

    parallelize(work, 1)


def test_one_io_binding_run_from_many_threads_at_once(session):
    x = np.arange(3000, dtype=np.float32).reshape(1000, 3)
    binding = session.io_binding()
    binding.bind_cpu_input("x", x)
    binding.bind_cpu_input("y", x)
    binding.bind_output("w")

    def work(_):
        for _ in range(200):
            session.run_with_iobinding(binding)
            np.testing.assert_array_equal(binding.copy_outputs_to_cpu()[0], x * 2)

    parallelize(work, 4)


# ---- errors --------------------------------------------------------------------------------------


def test_errors_are_fastorts_classes_and_onnxruntimes(session):
    with pytest.raises(ort.InvalidArgument) as caught:
        session.run(None, {"x": X.astype(np.float64), "y": X})
    error = caught.value
    assert isinstance(error, fastort.InvalidTypeError) and isinstance(error, TypeError)
    assert isinstance(error, ValueError) and isinstance(error, fastort.FastortError)
    assert "input 'x': expected float32[N,3], got float64[2,3]" in str(error)
    restored = pickle.loads(pickle.dumps(error))
    assert type(restored) is ort.InvalidArgument and restored.args == error.args


def test_a_missing_model_is_no_such_file_and_file_not_found(tmp_path):
    path = os.fspath(tmp_path / "missing.onnx")
    with pytest.raises(ort.NoSuchFile) as caught:
        ort.InferenceSession(path)
    assert isinstance(caught.value, FileNotFoundError) and caught.value.filename == path
    assert isinstance(caught.value, fastort.FastortError)


def test_a_terminated_run_is_fail_with_orts_code(session):
    options = ort.RunOptions()
    options.terminate = True
    with pytest.raises(ort.Fail) as caught:
        session.run(None, {"x": X, "y": X}, options)
    assert isinstance(caught.value, fastort.RunTerminatedError)
    assert caught.value.code == "ORT_FAIL"


def test_terminate_reaches_runs_of_options_changed_since():
    session = ort.InferenceSession(endless_model().SerializeToString())
    options = ort.RunOptions()
    failures = []

    def run():
        try:
            session.run(None, {"x": np.zeros(1, np.float32)}, options)
        except ort.Fail as error:
            failures.append(error)

    worker = threading.Thread(target=run)
    worker.start()
    time.sleep(0.3)
    options.logid = "changed while running"  # new fastort options underneath
    options.terminate = True
    worker.join(30)
    assert not worker.is_alive() and len(failures) == 1


def test_a_fastort_run_options_with_a_timeout_is_accepted(session):
    endless = ort.InferenceSession(endless_model().SerializeToString())
    with pytest.raises(fastort.RunTimeoutError):
        endless.run(None, {"x": np.zeros(1, np.float32)}, fastort.RunOptions(timeout=0.2))
    assert len(session.run(None, {"x": X, "y": X}, fastort.RunOptions(tag="t"))) == 2


# ---- what is not supported ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "named"),
    [
        (lambda: ort.set_seed(1), "set_seed()"),
        (lambda: ort.get_ep_devices(), "get_ep_devices()"),
        (lambda: ort.SparseTensor.sparse_coo_from_numpy, "SparseTensor.sparse_coo_from_numpy"),
        (lambda: ort.create_and_register_allocator_v2("CUDA", None, {}, None), "allocator_v2"),
        (lambda: ort.ModelCompiler(None, b""), "ModelCompiler()"),
        (lambda: ort.OrtValue.ortvalue_from_numpy(X, "cuda", 0), "on device 'cuda'"),
        (lambda: ort.SessionOptions().add_provider("X", {}), "SessionOptions.add_provider()"),
        (lambda: setattr(ort.SessionOptions(), "enable_mem_reuse", False), "enable_mem_reuse"),
        (lambda: ort.RunOptions().add_active_adapter(None), "add_active_adapter()"),
    ],
)
def test_what_is_not_supported_raises_naming_the_call(call, named):
    with pytest.raises(NotImplementedError, match="not supported") as caught:
        call()
    assert isinstance(caught.value, ort.NotImplemented)
    assert named in str(caught.value)


def test_unsupported_session_methods_and_devices_raise(session):
    with pytest.raises(ort.NotImplemented, match=r"InferenceSession.get_tuning_results\(\)"):
        session.get_tuning_results()
    with pytest.raises(ort.NotImplemented, match="cuda"):
        session.io_binding().bind_output("z", "cuda")
    assert not isinstance(X, ort.SparseTensor)


def test_sessions_run_options_and_bindings_cannot_be_pickled(session):
    # A TypeError at every protocol (onnxruntime's process aborts at protocols 0 and 1).
    for value in (session, ort.RunOptions(), session.io_binding()):
        for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
            with pytest.raises(TypeError, match=f"cannot pickle '{type(value).__name__}'"):
                pickle.dumps(value, protocol=protocol)


# ---- sessions, options and callbacks -----------------------------------------------------------


def test_sessions_of_one_file_share_the_cached_model_unless_profiling(tmp_path):
    path = os.fspath(ort_datasets() / "sigmoid.onnx")
    assert ort.InferenceSession(path)._model is ort.InferenceSession(path)._model
    options = ort.SessionOptions()
    options.enable_profiling = True
    options.profile_file_prefix = os.fspath(tmp_path / "trace")
    first = ort.InferenceSession(path, options)
    second = ort.InferenceSession(path, options)
    assert first._model is not second._model
    # ONNX Runtime names traces by the millisecond: two sessions may write the same file.
    for trace in {first.end_profiling(), second.end_profiling()}:
        os.remove(trace)


def test_a_session_keeps_a_copy_of_its_options():
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(add_model().SerializeToString(), options)
    options.intra_op_num_threads = 2
    copy = session.get_session_options()
    copy.intra_op_num_threads = 3
    assert session.get_session_options().intra_op_num_threads == 1


def test_an_initializer_is_copied_when_the_session_is_made():
    options = ort.SessionOptions()
    sevens = np.full((3, 2), 7, np.float32)
    options.add_initializer("W", ort.OrtValue.ortvalue_from_numpy(sevens))
    session = ort.InferenceSession(os.fspath(ort_datasets() / "mul_1.onnx"), options)
    sevens[:] = -1  # neither dangles nor changes the session
    del options, sevens
    gc.collect()
    (y,) = session.run(None, {"X": np.ones((3, 2), np.float32)})
    np.testing.assert_array_equal(y, np.full((3, 2), 7, np.float32))


def test_run_async_works_on_one_thread_and_reports_callback_errors(monkeypatch):
    # onnxruntime needs two intra-op threads for run_async; fastort runs it on its own threads.
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(add_model().SerializeToString(), options)
    reported = []
    done = threading.Event()

    def hook(args):
        reported.append(args.exc_value)
        done.set()

    monkeypatch.setattr(threading, "excepthook", hook)

    def callback(results, user_data, error):
        assert error == ""
        np.testing.assert_array_equal(results[0], X + X)
        raise KeyError(user_data)

    session.run_async(None, {"x": X, "y": X}, callback, "seen")
    assert done.wait(30)
    assert isinstance(reported[0], KeyError) and reported[0].args == ("seen",)


def test_datasets_and_get_example():
    path = ort.datasets.get_example("sigmoid.onnx")
    assert os.path.isfile(path)
    with pytest.raises(FileNotFoundError):
        ort.datasets.get_example("missing.onnx")
