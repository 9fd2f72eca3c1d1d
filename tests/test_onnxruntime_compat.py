"""fastort.onnxruntime against onnxruntime itself: every scenario is written once against `ort`,
run with each module, and what it returns must be identical (values, dtypes, shapes, error
classes)."""

from __future__ import annotations

import collections
import json
import os
import threading
import time
import types
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
from onnx import TensorProto, helper

import fastort.onnxruntime
from hammer import parallelize
from models import add_model, endless_model, identity_model, make_model, ort_datasets

MODULES = {"onnxruntime": onnxruntime, "fastort.onnxruntime": fastort.onnxruntime}


@pytest.fixture(params=list(MODULES))
def ort(request):
    return MODULES[request.param]


def same(ours, theirs, where="result"):
    """Equal values of equal types, recursively (arrays: dtype, shape and every element)."""
    if isinstance(theirs, np.ndarray):
        assert isinstance(ours, np.ndarray), f"{where}: {type(ours).__name__}, not an array"
        assert ours.dtype == theirs.dtype and ours.shape == theirs.shape, where
        np.testing.assert_array_equal(ours, theirs, err_msg=where)
    elif isinstance(theirs, (list, tuple)):
        assert type(ours) is type(theirs) and len(ours) == len(theirs), where
        for index, (a, b) in enumerate(zip(ours, theirs)):
            same(a, b, f"{where}[{index}]")
    elif isinstance(theirs, dict):
        assert isinstance(ours, dict) and ours.keys() == theirs.keys(), where
        for key in theirs:
            same(ours[key], theirs[key], f"{where}[{key!r}]")
    else:
        assert ours == theirs and type(ours) is type(theirs), f"{where}: {ours!r} != {theirs!r}"


def like_onnxruntime(ort, scenario, *args):
    """Runs `scenario(module, *args)` with `ort` and with onnxruntime; returns `ort`'s result
    after checking that it is identical to onnxruntime's."""
    ours = scenario(ort, *args)
    same(ours, scenario(onnxruntime, *args))
    return ours


def cpu_session(ort, model, options=None):
    source = model.SerializeToString() if hasattr(model, "SerializeToString") else model
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def errors_of(ort):
    """Where onnxruntime code imports the exception classes from."""
    return ort.capi.onnxruntime_pybind11_state


XY = (np.arange(6, dtype=np.float32).reshape(2, 3), np.full((2, 3), 0.5, np.float32))


# ---- run -------------------------------------------------------------------------------------


def run_add(ort, output_names):
    x, y = XY
    return cpu_session(ort, add_model()).run(output_names, {"x": x, "y": y})


@pytest.mark.parametrize("output_names", [None, [], ["w"], ["w", "z"]])
def test_run(ort, output_names):
    like_onnxruntime(ort, run_add, output_names)


def run_with_other_mappings_and_iterables(ort):
    # transformers' BatchEncoding is a UserDict: `session.run(None, tokenizer(...))`.
    x, y = XY
    session = cpu_session(ort, add_model())
    return [
        session.run(None, collections.UserDict({"x": x, "y": y})),
        session.run(None, types.MappingProxyType({"x": x, "y": y})),
        session.run((name for name in ["w", "z"]), {"x": x, "y": y}),
        session.run({"z": 0}.keys(), {"x": x, "y": y}),
        session.run(["z", "w", "z"], {"x": x, "y": y}),
    ]


def test_run_takes_any_mapping_and_iterable_of_names_and_repeated_names(ort):
    like_onnxruntime(ort, run_with_other_mappings_and_iterables)


def run_datasets(ort):
    sigmoid = ort.InferenceSession(os.fspath(ort_datasets() / "sigmoid.onnx"))
    x = np.linspace(-3, 3, 60, dtype=np.float32).reshape(3, 4, 5)
    iris = ort.InferenceSession(os.fspath(ort_datasets() / "logreg_iris.onnx"))
    flowers = np.array([[5.9, 3.0], [4.8, 1.8], [6.2, 3.4]], np.float32)
    # logreg_iris gives labels and a sequence of maps (class -> probability).
    return [sigmoid.run(None, {"x": x}), iris.run(None, {"float_input": flowers})]


def test_run_on_onnxruntimes_sample_models(ort):
    like_onnxruntime(ort, run_datasets)


def run_python_values(ort):
    # Not arrays: converted to the input's element type, as onnxruntime does.
    return cpu_session(ort, add_model()).run(None, {"x": [[1, 2, 3]], "y": [[0.5, 0.25, 0.0]]})


def test_run_converts_lists_to_the_inputs_type(ort):
    like_onnxruntime(ort, run_python_values)


def test_lists_out_of_the_inputs_range_raise_runtime_errors(ort):
    session = cpu_session(ort, identity_model(TensorProto.UINT8, shape=[2]))
    with pytest.raises(RuntimeError):  # numpy's OverflowError is none
        session.run(None, {"x": [1, -1]})


def metadata_and_signature(ort):
    session = cpu_session(ort, add_model(metadata={"author": "tests"}))
    meta = session.get_modelmeta()
    fields = ["producer_name", "graph_name", "domain", "description", "version"]
    return [
        [(info.name, info.shape, info.type) for info in session.get_inputs()],
        [(info.name, info.shape, info.type) for info in session.get_outputs()],
        [getattr(meta, field) for field in fields],
        meta.custom_metadata_map,
        session.get_providers(),
        session.get_provider_options(),
    ]


def test_signature_metadata_and_providers(ort):
    like_onnxruntime(ort, metadata_and_signature)


# ---- OrtValue and run_with_ort_values -------------------------------------------------------


def ort_values(ort):
    x, y = XY
    vx = ort.OrtValue.ortvalue_from_numpy(x)
    vy = ort.OrtValue.ortvalue_from_numpy(y)
    results = cpu_session(ort, add_model()).run_with_ort_values(["z", "w"], {"x": vx, "y": vy})
    zeros = ort.OrtValue.ortvalue_from_shape_and_type([2, 4], np.int64)
    by_onnx_type = ort.OrtValue.ortvalue_from_shape_and_type([3], TensorProto.DOUBLE)
    described = [
        (v.shape(), v.data_type(), v.element_type(), v.device_name(), v.is_tensor(), v.has_value())
        for v in [*results, vx, zeros, by_onnx_type]
    ]
    return [
        described,
        [value.numpy() for value in results],
        np.shares_memory(vx.numpy(), x),
        vx.data_ptr() == x.ctypes.data,
        zeros.numpy().dtype.name,
    ]


def test_ortvalues_and_run_with_ort_values(ort):
    like_onnxruntime(ort, ort_values)


def ortvalue_update_inplace(ort):
    x = np.zeros((2, 3), np.float32)
    value = ort.OrtValue.ortvalue_from_numpy(x)
    value.update_inplace(np.ones((2, 3), np.float32))
    return [x, value.numpy(), np.asarray(value)]


def test_ortvalue_update_inplace_writes_the_array(ort):
    like_onnxruntime(ort, ortvalue_update_inplace)


# ---- IOBinding ----------------------------------------------------------------------------------


def io_binding(ort):
    x, y = XY
    session = cpu_session(ort, add_model())
    x_in, y_in = x.copy(), y.copy()
    z = np.empty((2, 3), np.float32)
    binding = session.io_binding()
    binding.bind_cpu_input("x", x_in)
    binding.bind_cpu_input("y", y_in)
    binding.bind_output("z", "cpu", 0, np.float32, [2, 3], z.ctypes.data)  # pre-allocated
    binding.bind_output("w")  # memory from the run
    session.run_with_iobinding(binding)
    first = [z.copy(), binding.copy_outputs_to_cpu()]
    outputs = binding.get_outputs()
    x_in += 10  # bound inputs are read again by the next run
    session.run_with_iobinding(binding)
    return [
        first,
        [z.copy(), binding.copy_outputs_to_cpu()],
        [output.data_ptr() == z.ctypes.data for output in outputs],
        np.shares_memory(binding.copy_outputs_to_cpu()[0], z),
        [(o.shape(), o.data_type()) for o in binding.get_outputs()],
    ]


def test_io_binding_with_bound_and_allocated_outputs(ort):
    like_onnxruntime(ort, io_binding)


def io_binding_raw_memory_and_ortvalues(ort):
    x, y = XY
    session = cpu_session(ort, add_model())
    vx = ort.OrtValue.ortvalue_from_numpy(x)
    out = ort.OrtValue.ortvalue_from_shape_and_type([2, 3], np.float32)
    binding = session.io_binding()
    binding.bind_input("x", vx.device_name(), 0, np.float32, vx.shape(), vx.data_ptr())
    binding.bind_ortvalue_input("y", ort.OrtValue.ortvalue_from_numpy(y))
    binding.bind_ortvalue_output("w", out)
    session.run_with_iobinding(binding)
    binding.synchronize_outputs()
    result = [out.numpy().copy(), binding.get_outputs()[0].data_ptr() == out.data_ptr()]
    binding.clear_binding_outputs()
    binding.bind_output("z")
    session.run_with_iobinding(binding)
    result.append(binding.copy_outputs_to_cpu())
    return result


def io_binding_cleared_outputs(ort):
    x, y = XY
    session = cpu_session(ort, add_model())
    binding = session.io_binding()
    binding.bind_cpu_input("x", x)
    binding.bind_cpu_input("y", y)
    binding.bind_output("z")
    session.run_with_iobinding(binding)
    ran = binding.copy_outputs_to_cpu()
    binding.clear_binding_outputs()
    return [ran, binding.copy_outputs_to_cpu(), len(binding.get_outputs())]


def test_io_binding_cleared_outputs_take_the_last_runs_outputs_with_them(ort):
    like_onnxruntime(ort, io_binding_cleared_outputs)


def test_io_binding_with_raw_pointers_and_ortvalues(ort):
    like_onnxruntime(ort, io_binding_raw_memory_and_ortvalues)


def test_io_binding_errors_are_runtime_errors(ort):
    x, _ = XY
    session = cpu_session(ort, add_model())
    binding = session.io_binding()
    with pytest.raises(RuntimeError):
        binding.bind_cpu_input("nope", x)
    binding.bind_cpu_input("x", x)
    binding.bind_output("z")
    with pytest.raises(RuntimeError):  # y is not bound
        session.run_with_iobinding(binding)
    binding.bind_cpu_input("y", x)
    binding.clear_binding_outputs()
    with pytest.raises(RuntimeError):  # no output bound
        session.run_with_iobinding(binding)
    binding.bind_output("nope")
    with pytest.raises(RuntimeError):
        session.run_with_iobinding(binding)


# ---- RunOptions ------------------------------------------------------------------------------


def run_options_fields(ort):
    options = ort.RunOptions()
    defaults = [options.log_severity_level, options.log_verbosity_level, options.logid]
    options.logid = "request-17"
    options.log_severity_level = 3
    options.log_verbosity_level = 1
    options.add_run_config_entry("key", "value")
    x, y = XY
    results = cpu_session(ort, add_model()).run(None, {"x": x, "y": y}, options)
    with pytest.raises(RuntimeError):
        options.get_run_config_entry("missing")
    return [
        defaults,
        [options.logid, options.log_severity_level, options.log_verbosity_level],
        options.get_run_config_entry("key"),
        results,
    ]


def test_run_options_fields(ort):
    like_onnxruntime(ort, run_options_fields)


def test_terminate_fails_runs_until_it_is_cleared(ort):
    x, y = XY
    session = cpu_session(ort, add_model())
    options = ort.RunOptions()
    options.terminate = True
    with pytest.raises(errors_of(ort).Fail):
        session.run(None, {"x": x, "y": y}, options)
    options.terminate = False
    assert len(session.run(None, {"x": x, "y": y}, options)) == 2


def test_terminate_from_another_thread_stops_a_running_run(ort):
    session = cpu_session(ort, endless_model())
    options = ort.RunOptions()
    stopper = threading.Timer(0.3, lambda: setattr(options, "terminate", True))
    stopper.start()
    started = time.monotonic()
    with pytest.raises(errors_of(ort).Fail):
        session.run(None, {"x": np.zeros(1, np.float32)}, options)
    stopper.join()
    assert time.monotonic() - started < 30


# ---- run_async -------------------------------------------------------------------------------


def run_async(ort, output_names):
    x, y = XY
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2  # onnxruntime's run_async needs a thread pool
    session = cpu_session(ort, add_model(), options)
    done = threading.Event()
    calls = []

    def callback(results, user_data, error):
        calls.append((results, user_data, error, threading.get_ident()))
        done.set()

    session.run_async(output_names, {"x": x, "y": y}, callback, {"request": 17})
    assert done.wait(30), "the callback was not called"
    (results, user_data, error, thread) = calls[0]
    return [results, user_data, error != "", thread != threading.get_ident()]


@pytest.mark.parametrize("output_names", [None, ["w"], ["nope"]])
def test_run_async_calls_back_on_another_thread(ort, output_names):
    like_onnxruntime(ort, run_async, output_names)


def test_run_async_reports_missing_inputs_at_once(ort):
    x, _ = XY
    session = cpu_session(ort, add_model())
    with pytest.raises(ValueError):
        session.run_async(None, {"x": x}, lambda *args: None, None)


# ---- profiling -------------------------------------------------------------------------------


def test_profiling_writes_a_trace_and_end_profiling_names_it(ort, tmp_path):
    options = ort.SessionOptions()
    options.enable_profiling = True
    options.profile_file_prefix = os.fspath(tmp_path / "trace")
    session = cpu_session(ort, add_model(), options)
    started = session.get_profiling_start_time_ns()
    assert abs(started - time.time_ns()) < 60e9  # nanoseconds since the epoch
    x, y = XY
    session.run(None, {"x": x, "y": y})
    trace = session.end_profiling()
    assert trace.startswith(options.profile_file_prefix) and trace.endswith(".json")
    events = json.loads(Path(trace).read_text())
    assert any(event.get("cat") == "Node" for event in events)
    assert session.end_profiling() == ""
    plain = cpu_session(ort, add_model())
    assert plain.end_profiling() == "" and plain.get_profiling_start_time_ns() == 0


# ---- SessionOptions ------------------------------------------------------------------------------


def session_options(ort, tmp_path):
    options = ort.SessionOptions()
    defaults = [
        options.intra_op_num_threads,
        options.inter_op_num_threads,
        options.graph_optimization_level.name,
        options.execution_mode.name,
        options.log_severity_level,
        options.log_verbosity_level,
        options.logid,
        options.optimized_model_filepath,
        options.enable_profiling,
        options.profile_file_prefix,
        options.enable_mem_pattern,
        options.enable_cpu_mem_arena,
        options.use_deterministic_compute,
    ]
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 2
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.execution_mode = ort.ExecutionMode.ORT_PARALLEL
    options.log_severity_level = 3
    options.logid = "tests"
    options.enable_mem_pattern = False
    options.enable_cpu_mem_arena = False
    options.use_deterministic_compute = True
    optimized = tmp_path / f"{ort.__name__}.optimized.onnx"
    options.optimized_model_filepath = os.fspath(optimized)
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    with pytest.raises(RuntimeError):
        options.get_session_config_entry("missing")
    session = cpu_session(ort, add_model(), options)
    x, y = XY
    copy = session.get_session_options()
    return [
        defaults,
        [copy.intra_op_num_threads, copy.graph_optimization_level.name, copy.execution_mode.name],
        options.get_session_config_entry("session.intra_op.allow_spinning"),
        optimized.is_file(),
        session.run(None, {"x": x, "y": y}),
    ]


def test_session_options(ort, tmp_path):
    like_onnxruntime(ort, session_options, tmp_path)


def enums_and_ints(ort):
    options = ort.SessionOptions()
    level, mode = ort.GraphOptimizationLevel, ort.ExecutionMode
    return [
        options.graph_optimization_level == 99,
        options.execution_mode == 0,
        level.ORT_ENABLE_BASIC == 1,
        level.ORT_ENABLE_BASIC != 2,
        mode.ORT_PARALLEL == 1,
        mode.ORT_SEQUENTIAL == level.ORT_DISABLE_ALL,
        mode.ORT_PARALLEL == "1",
        {level.ORT_ENABLE_ALL: "all"}.get(99),
        [int(value) for value in level.__members__.values()],
    ]


def test_enums_compare_equal_to_their_ints(ort):
    like_onnxruntime(ort, enums_and_ints)


def layout_optimization(ort):
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_LAYOUT
    session = cpu_session(ort, add_model(), options)
    x, y = XY
    level = session.get_session_options().graph_optimization_level
    return [level.name, int(level), session.run(None, {"x": x, "y": y})]


def test_layout_optimization_level(ort):
    like_onnxruntime(ort, layout_optimization)


def test_session_option_types_are_checked_when_set(ort):
    options = ort.SessionOptions()
    with pytest.raises(TypeError):
        options.intra_op_num_threads = "2"
    with pytest.raises(TypeError):
        options.graph_optimization_level = 1
    with pytest.raises(AttributeError):
        options.no_such_option = 1


def initializers_and_dimensions(ort):
    options = ort.SessionOptions()
    # onnxruntime borrows the tensor: it must outlive the session.
    sevens = ort.OrtValue.ortvalue_from_numpy(np.full((3, 2), 7, np.float32))
    options.add_initializer("W", sevens)
    mul = ort.InferenceSession(os.fspath(ort_datasets() / "mul_1.onnx"), options)
    fixed = ort.SessionOptions()
    fixed.add_free_dimension_override_by_name("N", 2)
    add = cpu_session(ort, add_model(), fixed)
    return [mul.run(None, {"X": np.ones((3, 2), np.float32)}), add.get_inputs()[0].shape]


def test_initializers_and_free_dimension_overrides(ort):
    like_onnxruntime(ort, initializers_and_dimensions)


def overridable_initializers(ort):
    # An initializer the graph also lists as an input (older exporters did) may be fed.
    model = make_model(
        [helper.make_node("Mul", ["x", "scale"], ["y"])],
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [2]),
            helper.make_tensor_value_info("scale", TensorProto.FLOAT, []),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
        [helper.make_tensor("scale", TensorProto.FLOAT, [], [3.0])],
    )
    session = cpu_session(ort, model)
    x = np.array([1.0, 2.0], np.float32)
    return [
        [(i.name, i.shape, i.type) for i in session.get_inputs()],
        [(i.name, i.shape, i.type) for i in session.get_overridable_initializers()],
        session.run(None, {"x": x}),
        session.run(None, {"x": x, "scale": np.array(10.0, np.float32)}),
    ]


def test_overridable_initializers_may_be_fed(ort):
    like_onnxruntime(ort, overridable_initializers)


def providers(ort):
    with pytest.warns(UserWarning, match="CUDAExecutionProvider"):
        session = cpu_session(ort, add_model())
        session.set_providers(["CUDAExecutionProvider", "CPUExecutionProvider"])
    return [session.get_providers(), session.get_provider_options()]


def test_unavailable_providers_are_left_out_with_a_warning(ort):
    like_onnxruntime(ort, providers)


def unknown_providers(ort):
    x, y = XY
    model = add_model().SerializeToString()
    with pytest.warns(UserWarning, match="FooExecutionProvider"):
        # A session falls back to the CPU; set_providers and enable_fallback=0 fail.
        session = ort.InferenceSession(model, providers=["FooExecutionProvider"])
        result = [session.get_providers(), session.run(None, {"x": x, "y": y})]
        with pytest.raises(RuntimeError, match="Unknown Provider Type: FooExecutionProvider"):
            session.set_providers(["FooExecutionProvider", "CPUExecutionProvider"])
        with pytest.raises(RuntimeError, match="Unknown Provider Type: FooExecutionProvider"):
            ort.InferenceSession(model, providers=["FooExecutionProvider"], enable_fallback=0)
    return result


def test_unknown_providers_fail_set_providers_and_sessions_without_fallback(ort):
    like_onnxruntime(ort, unknown_providers)


# ---- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("feed", "error"),
    [
        ({"x": XY[0].astype(np.float64), "y": XY[1]}, "InvalidArgument"),  # wrong dtype
        ({"x": XY[0][None], "y": XY[1]}, "InvalidArgument"),  # wrong rank
        ({"x": XY[0], "y": XY[1], "extra": XY[1]}, "InvalidArgument"),  # unknown input
        ({"x": XY[0]}, ValueError),  # missing input
    ],
)
def test_bad_inputs_raise_onnxruntimes_classes(ort, feed, error):
    session = cpu_session(ort, add_model())
    expected = getattr(errors_of(ort), error) if isinstance(error, str) else error
    with pytest.raises(expected):
        session.run(None, feed)


def test_a_missing_input_is_reported_in_onnxruntimes_words(ort):
    session = cpu_session(ort, add_model())
    with pytest.raises(ValueError) as caught:
        session.run(None, {"x": XY[0]})
    assert "Required inputs (['y']) are missing from input feed (['x'])." in str(caught.value)


def test_bad_output_names_raise_invalid_argument(ort):
    x, y = XY
    with pytest.raises(errors_of(ort).InvalidArgument):
        cpu_session(ort, add_model()).run(["nope"], {"x": x, "y": y})


def test_bad_models_raise_onnxruntimes_classes(ort, tmp_path):
    errors = errors_of(ort)
    with pytest.raises(errors.NoSuchFile):
        ort.InferenceSession(os.fspath(tmp_path / "missing.onnx"))
    with pytest.raises(errors.InvalidProtobuf):
        ort.InferenceSession(b"not a model")
    with pytest.raises(errors.InvalidProtobuf):
        ort.InferenceSession(os.fspath(tmp_path))  # a folder
    with pytest.raises(errors.Fail):
        ort.SessionOptions().register_custom_ops_library(os.fspath(tmp_path / "libnone.so"))


# ---- threads and module functions ----------------------------------------------------------


def test_threads_sharing_one_session(ort):
    session = cpu_session(ort, add_model())
    inputs = [np.full((4, 3), index, np.float32) for index in range(8)]

    def work(index):
        return [session.run(None, {"x": inputs[index], "y": inputs[index]}) for _ in range(50)]

    for index, runs in enumerate(parallelize(work, 8)):
        for z, w in runs:
            np.testing.assert_array_equal(z, inputs[index] * 2)
            np.testing.assert_array_equal(w, inputs[index] * 2)


def module_functions(ort):
    return [
        ort.get_available_providers(),
        ort.get_all_providers(),
        ort.get_device(),
        ort.get_version_string(),
        ort.get_build_info(),
        ort.__version__,
        ort.has_collective_ops(),
    ]


def test_module_functions(ort):
    like_onnxruntime(ort, module_functions)
    ort.set_default_logger_severity(3)
    ort.set_default_logger_severity(2)
