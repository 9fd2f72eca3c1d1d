"""fastort.onnxruntime's devices, memory descriptions, shared allocator, OrtValueVector and the
native-session names code reaches for, against onnxruntime itself (each scenario runs with
both modules and must return the same)."""

from __future__ import annotations

import json
import os
import sys
import warnings

import numpy as np
import onnxruntime
import pytest
from onnx import TensorProto, helper

import fastort.onnxruntime
from models import add_model, identity_model, ort_datasets
from test_onnxruntime_compat import MODULES, like_onnxruntime

X = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], dtype=np.float32)


@pytest.fixture(params=list(MODULES))
def ort(request):
    return MODULES[request.param]


def mul_session(ort, options=None):
    return ort.InferenceSession(
        str(ort_datasets() / "mul_1.onnx"), options, providers=["CPUExecutionProvider"]
    )


def describe_memory(info):
    return [
        info.name,
        info.device_id,
        int(info.mem_type),
        info.mem_type.name,
        int(info.allocator_type),
        info.allocator_type.name,
        int(info.device_mem_type),
        info.device_vendor_id,
    ]


def devices(ort):
    cpu, cuda, npu = (ort.OrtDevice.make(name, 1) for name in ("cpu", "cuda", "npu"))
    described = [
        [d.device_id(), d.device_type(), d.device_vendor_id(), d.device_mem_type()]
        for d in (cpu, cuda, npu)
    ]
    try:
        ort.OrtDevice.make("fpga", 0)
    except Exception as error:  # onnxruntime raises a bare Exception
        described.append(str(error))
    vendors = {name: int(value) for name, value in ort.OrtDeviceVendorId.__members__.items()}
    return [described, vendors, cuda.device_vendor_id() == ort.OrtDeviceVendorId.NVIDIA]


def test_devices(ort):
    like_onnxruntime(ort, devices)


def memory_infos(ort):
    arena, default = ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, ort.OrtMemType.DEFAULT
    described = [
        describe_memory(ort.OrtMemoryInfo(name, arena, 0, default))
        for name in ("Cpu", "Cuda", "CudaPinned")
    ]
    described.append(
        describe_memory(
            ort.OrtMemoryInfo.create_v2(
                "Test",
                ort.OrtMemoryInfoDeviceType.CPU,
                0,
                0,
                ort.OrtDeviceMemoryType.DEFAULT,
                128,
                ort.OrtAllocatorType.ORT_DEVICE_ALLOCATOR,
            )
        )
    )
    with pytest.raises(RuntimeError, match="Specified device is not supported"):
        ort.OrtMemoryInfo("Nowhere", arena, 0, default)
    enums = [
        {name: int(value) for name, value in enum.__members__.items()}
        for enum in (
            ort.OrtMemType,
            ort.OrtAllocatorType,
            ort.OrtDeviceMemoryType,
            ort.OrtMemoryInfoDeviceType,
        )
    ]
    return [described, enums, ort.OrtMemType.DEFAULT == 0, ort.OrtMemType.CPU_INPUT == -2]


def test_memory_infos(ort):
    like_onnxruntime(ort, memory_infos)


def session_memory(ort):
    session = mul_session(ort)
    return [
        [describe_memory(info) for info in session.get_input_memory_infos()],
        [describe_memory(info) for info in session.get_output_memory_infos()],
        len(session.get_input_epdevices()),
    ]


def test_session_memory_infos(ort):
    like_onnxruntime(ort, session_memory)


def arena_settings(ort):
    keys = (
        "max_mem",
        "arena_extend_strategy",
        "initial_chunk_size_bytes",
        "max_dead_bytes_per_chunk",
        "initial_growth_chunk_size_bytes",
        "max_power_of_two_extend_bytes",
    )
    positional = ort.OrtArenaCfg(8, 0, 4, 2)
    keyed = ort.OrtArenaCfg(
        {"max_mem": 16, "arena_extend_strategy": 1, "max_dead_bytes_per_chunk": 4}
    )
    default = ort.OrtArenaCfg({})
    default.max_mem = 5
    with pytest.raises(RuntimeError, match="Invalid OrtArenaCfg option: bad"):
        ort.OrtArenaCfg({"bad": 1})
    with pytest.raises(TypeError):
        ort.OrtArenaCfg(1, 2)
    return [[getattr(cfg, key) for key in keys] for cfg in (positional, keyed, default)]


def test_arena_settings(ort):
    like_onnxruntime(ort, arena_settings)


def shared_allocator(ort, arena):
    info = ort.OrtMemoryInfo(
        "Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT
    )
    ort.create_and_register_allocator(
        info, ort.OrtArenaCfg({"max_mem": 1 << 26}) if arena else None
    )
    # Registering again is accepted, as onnxruntime accepts it.
    ort.create_and_register_allocator(info, None)
    options = ort.SessionOptions()
    options.add_session_config_entry("session.use_env_allocators", "1")
    results = [mul_session(ort, options).run(None, {"X": X}), mul_session(ort).run(None, {"X": X})]
    cuda = ort.OrtMemoryInfo(
        "Cuda", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT
    )
    with pytest.raises(RuntimeError, match="Only CPU devices are supported"):
        ort.create_and_register_allocator(cuda, None)
    return results


@pytest.mark.parametrize("arena", [False, True])
def test_a_shared_cpu_allocator_serves_sessions_that_ask_for_it(ort, arena):
    like_onnxruntime(ort, shared_allocator, arena)


def native_session_calls(ort):
    from onnxruntime.capi.onnxruntime_pybind11_state import OrtValueVector as Theirs

    state = ort.capi.onnxruntime_pybind11_state
    session = mul_session(ort)
    value = ort.OrtValue.ortvalue_from_numpy(X)
    vector = session._sess.run_with_ort_values({"X": value._get_c_value()}, ["Y"], ort.RunOptions())
    feeds, fetches = state.OrtValueVector(), state.OrtValueVector()
    feeds.push_back(value._ortvalue)
    cpu = ort.OrtDevice.make("cpu", 0)._get_c_device()
    session.run_with_ortvaluevector(ort.RunOptions(), ["X"], feeds, ["Y"], fetches, [cpu])
    return [
        isinstance(vector, state.OrtValueVector),
        isinstance(vector, Theirs) == (ort is onnxruntime),
        len(vector),
        vector[0].numpy(),
        len(fetches),
        fetches[0].numpy(),
        session._sess.run(["Y"], {"X": X}, None),
        hasattr(ort.capi._pybind_state.OrtValue, "from_dlpack"),
        value._ortvalue.data_ptr() == value.data_ptr(),
    ]


def test_native_session_calls(ort):
    like_onnxruntime(ort, native_session_calls)


def dlpack_capsules(ort):
    value = ort.OrtValue.ortvalue_from_numpy(X)
    from_capsule = ort.OrtValue.from_dlpack(value.__dlpack__())
    from_object = ort.OrtValue.from_dlpack(value)
    return [from_capsule.numpy(), from_object.numpy(), value.__dlpack_device__()]


def test_from_dlpack_takes_a_capsule(ort):
    like_onnxruntime(ort, dlpack_capsules)


def test_from_dlpack_shares_the_memory():
    value = fastort.onnxruntime.OrtValue.ortvalue_from_numpy(X)
    for source in (value.__dlpack__(), value.to_dlpack(), value):
        shared = fastort.onnxruntime.OrtValue.from_dlpack(source)
        assert np.shares_memory(shared.numpy(), X)
    flags = np.array([1, 0, 1], dtype=np.uint8)
    as_bools = fastort.onnxruntime.OrtValue.from_dlpack(flags.__dlpack__(), True)
    assert as_bools.numpy().dtype == np.bool_ and as_bools.numpy().tolist() == [True, False, True]


def provider_arguments(ort):
    from onnxruntime.capi.onnxruntime_inference_collection import (
        check_and_normalize_provider_args as theirs,
    )

    check = ort.capi.onnxruntime_inference_collection.check_and_normalize_provider_args
    assert (check is theirs) == (ort is onnxruntime)
    valid = ["a", "b", "c"]
    results = [
        check(None, None, valid),
        check(["a"], None, valid),
        check([("a", {1: 2}), "b"], None, valid),
        check(["a", "b"], [{1: 2}, {}], valid),
    ]
    with pytest.warns(UserWarning, match="Duplicate provider 'a'"):
        results.append(check(["a", "b", "a"], [{"x": 1}, {}, {"y": 2}], valid))
    with pytest.warns(UserWarning, match="Specified provider 'd' is not in available"):
        results.append(check(["d"], None, valid))
    for providers, options in (
        (3, None),
        ([3], None),
        (["a"], 3),
        (["a"], ["not dict"]),
        (["a", "b"], [{1: 2}]),
        ([("a", {1: 2})], [{3: 4}]),
    ):
        with pytest.raises(ValueError):
            check(providers, options, valid)
    return results


def test_check_and_normalize_provider_args(ort):
    like_onnxruntime(ort, provider_arguments)


def logger_callback(ort):
    messages = []

    def record(severity, category, logid, code_location, message):
        messages.append((severity, category, logid, code_location, message))

    def raising(*_):
        raise ValueError("from the callback")

    try:
        ort.set_default_logger_callback(record, severity=0)
        session = mul_session(ort)
        outputs = session.run(None, {"X": X})
        received = len(messages) > 0
        typed = all(
            isinstance(severity, int) and all(isinstance(text, str) for text in texts)
            for severity, *texts in messages
        )
        errors = []
        for bad in ((record, 5), (record, -1), ("not a callable", 2)):
            try:
                ort.set_default_logger_callback(*bad)
            except RuntimeError:
                errors.append("RuntimeError")
        ort.set_default_logger_callback(raising, severity=0)
        mul_session(ort)  # a callback that raises does not stop the load
        ort.set_default_logger_callback(None)
        count = len(messages)
        mul_session(ort)
        unchanged = len(messages) == count
    finally:
        ort.set_default_logger_callback(None)
        ort.set_default_logger_severity(2)
    return [outputs, received, typed, errors, unchanged]


def test_logger_callback(ort, monkeypatch):
    # Both report the callback's exceptions to sys.unraisablehook.
    unraisable = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    like_onnxruntime(ort, logger_callback)
    assert unraisable and all(isinstance(u.exc_value, ValueError) for u in unraisable)


def config_from_model(ort, path, read_config=0):
    keywords = {"read_config_from_model": 1} if read_config else {}
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"], **keywords)
    options = session.get_session_options()
    trace = session.end_profiling()
    reported = [
        options.inter_op_num_threads,
        options.intra_op_num_threads,
        options.execution_mode.name,
        options.graph_optimization_level.name,
        options.enable_profiling,
        bool(trace) and os.path.isfile(trace),
    ]
    if trace:
        os.remove(trace)
    return [reported, session.run(None, {"x": X, "y": X})]


def configured_model():
    model = add_model(shape=(3, 2))
    entry = model.metadata_props.add()
    entry.key = "ort_config"
    entry.value = json.dumps(
        {
            "session_options": {
                "inter_op_num_threads": 3,
                "graph_optimization_level": 2,
                "enable_profiling": 1,
            }
        }
    )
    return model.SerializeToString()


def test_the_models_own_config_when_the_session_is_told_to_read_it(ort, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a trace would be written here
    # As bytes: onnxruntime 1.32 fails a path model under the keyword ("ModelProto needs to
    # be parsed to check for ORT config within it").
    # onnxruntime accepts the keyword and applies nothing of a model given as bytes (the
    # session does not profile).
    result = like_onnxruntime(ort, config_from_model, configured_model(), 1)
    assert result[0] == [0, 0, "ORT_SEQUENTIAL", "ORT_ENABLE_ALL", False, False]
    plain = like_onnxruntime(ort, config_from_model, configured_model())
    assert plain[0][:4] == [0, 0, "ORT_SEQUENTIAL", "ORT_ENABLE_ALL"]


def test_the_models_own_config_when_onnxruntime_is_told_to_read_it(ort, tmp_path, monkeypatch):
    model = add_model(shape=(3, 2))
    entry = model.metadata_props.add()
    entry.key = "ort_config"
    entry.value = json.dumps(
        {
            "session_options": {
                "inter_op_num_threads": 5,
                "intra_op_num_threads": 2,
                "graph_optimization_level": 1,
                "enable_profiling": 1,
            }
        }
    )
    path = tmp_path / "configured.onnx"
    path.write_bytes(model.SerializeToString())
    monkeypatch.chdir(tmp_path)  # the trace is written here
    monkeypatch.setenv("ORT_LOAD_CONFIG_FROM_MODEL", "1")
    result = like_onnxruntime(ort, config_from_model, os.fspath(path))
    assert result[0] == [5, 2, "ORT_SEQUENTIAL", "ORT_ENABLE_BASIC", True, True]


def void_strings(ort):
    model = identity_model(TensorProto.STRING, shape=[2, 2])
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    words = np.array([b"must", b"have", b"same", b"size"], dtype=np.void).reshape((2, 2))
    return session.run(None, {"x": words})


def test_void_arrays_feed_string_inputs_as_their_bytes(ort):
    (result,) = like_onnxruntime(ort, void_strings)
    assert result.tolist() == [["must", "have"], ["same", "size"]]


def test_graph_assignment_info_needs_its_config_entry_first(ort):
    with pytest.raises(ort.capi.onnxruntime_pybind11_state.Fail) as caught:
        mul_session(ort).get_provider_graph_assignment_info()
    assert (
        "Session configuration entry 'session.record_ep_graph_assignment_info' must be set to "
        '"1" to retrieve EP graph assignment information.' in str(caught.value)
    )
    if ort is fastort.onnxruntime:
        options = ort.SessionOptions()
        options.add_session_config_entry("session.record_ep_graph_assignment_info", "1")
        with pytest.raises(ort.NotImplemented, match="get_provider_graph_assignment_info"):
            mul_session(ort, options).get_provider_graph_assignment_info()


def pad_with_external_pads(tmp_path):
    """A Pad whose pads live in an external file that does not exist: the user supplies them."""
    pads = TensorProto()
    pads.name = "pads_elsewhere"
    pads.data_type = TensorProto.INT64
    pads.dims.extend([2])
    pads.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "pads.bin"), ("offset", "0"), ("length", "16")):
        entry = pads.external_data.add()
        entry.key, entry.value = key, value
    graph = helper.make_graph(
        [helper.make_node("Pad", ["x", "pads_elsewhere"], ["y"], mode="constant")],
        "external_pads",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, None)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [pads],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    path = tmp_path / "external_pads.onnx"
    path.write_bytes(model.SerializeToString())
    return os.fspath(path)


def external_initializers(ort, path):
    x = np.array([1.0, 2.0], np.float32)
    pads = np.array([1, 2], np.int64)
    results = []
    given = ort.SessionOptions()
    given.add_external_initializers(["pads_elsewhere"], [ort.OrtValue.ortvalue_from_numpy(pads)])
    results.append(
        ort.InferenceSession(path, given, providers=["CPUExecutionProvider"]).run(None, {"x": x})
    )
    in_memory = ort.SessionOptions()
    # onnxruntime borrows the buffer (fastort copies it): it must outlive the session.
    data = pads.tobytes()
    in_memory.add_external_initializers_from_files_in_memory(["pads.bin"], [data], [len(data)])
    results.append(
        ort.InferenceSession(path, in_memory, providers=["CPUExecutionProvider"]).run(
            None, {"x": x}
        )
    )
    with pytest.raises(Exception):  # noqa: B017 - onnxruntime's class differs by version
        ort.InferenceSession(path, providers=["CPUExecutionProvider"])  # no pads.bin on disk
    return results


def test_external_initializers_supplied_by_the_caller(ort, tmp_path):
    results = like_onnxruntime(ort, external_initializers, pad_with_external_pads(tmp_path))
    for (padded,) in results:
        assert padded.tolist() == [0.0, 1.0, 2.0, 0.0, 0.0]


def test_external_files_in_memory_are_copied(tmp_path):
    ort = fastort.onnxruntime
    options = ort.SessionOptions()
    pads = np.array([2, 0], np.int64)
    options.add_external_initializers_from_files_in_memory(["pads.bin"], [pads.tobytes()], [16])
    session = ort.InferenceSession(pad_with_external_pads(tmp_path), options)
    np.full(1000, -1, np.int64)  # reuse of a freed buffer would show here
    assert session.run(None, {"x": np.ones(1, np.float32)})[0].tolist() == [0.0, 0.0, 1.0]
    with pytest.raises(ValueError, match="not within its buffer of 16 bytes"):
        options.add_external_initializers_from_files_in_memory(["pads.bin"], [pads.tobytes()], [17])


def lenient_arguments(ort, capsys):
    path = str(ort_datasets() / "mul_1.onnx")
    cpu = ("CPUExecutionProvider", {"arena_extend_strategy": "kSameAsRequested", "use_arena": "0"})
    session = ort.InferenceSession(path, providers=[cpu], some_future_argument=1)
    results = [session.get_provider_options(), session.run(None, {"X": X})]
    # A str or a list of lists for providers: onnxruntime falls back to the CPU (it prints
    # why; fastort.onnxruntime warns).
    for providers in ("CPUExecutionProvider", [["CPUExecutionProvider", {}]]):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            results.append(ort.InferenceSession(path, providers=providers).get_providers())
    capsys.readouterr()
    with pytest.raises(RuntimeError), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ort.InferenceSession(path, providers="CPUExecutionProvider", enable_fallback=0)
    options = ort.SessionOptions()
    options.intra_op_num_threads = True
    options.enable_profiling = 0
    options.enable_mem_pattern = np.bool_(False)
    results.append(
        [options.intra_op_num_threads, options.enable_profiling, options.enable_mem_pattern]
    )
    with pytest.raises(TypeError):
        options.enable_profiling = "yes"
    zeros = np.zeros((2, 3), np.float32)  # onnxruntime borrows it: it must outlive the value
    value = ort.OrtValue.ortvalue_from_numpy(zeros)
    value.update_inplace(np.arange(6, dtype=np.float32))  # same count, another shape
    results.append(value.numpy().copy())  # onnxruntime's view dies with the value
    with pytest.raises(ort.capi.onnxruntime_pybind11_state.InvalidArgument, match="No graph"):
        ort.InferenceSession(b"")
    return results


def test_arguments_onnxruntime_accepts_are_accepted(ort, capsys):
    like_onnxruntime(ort, lenient_arguments, capsys)


def sparse_constant_model():
    values = helper.make_tensor("values", TensorProto.FLOAT, [3], [1.0, 2.0, 3.0])
    indices = helper.make_tensor("indices", TensorProto.INT64, [3], [2, 3, 5])
    sparse = helper.make_sparse_tensor(values, indices, [3, 3])
    graph = helper.make_graph(
        [helper.make_node("Constant", [], ["y"], sparse_value=sparse)],
        "sparse_constant",
        [],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 3])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model.SerializeToString()


def test_a_sparse_output_is_refused_clearly():
    # ONNX Runtime declares the output a dense tensor and returns a sparse one.
    with pytest.raises(ValueError, match="returns a sparse tensor, which fastort does not"):
        fastort.Session(sparse_constant_model()).run(None, {})
    session = fastort.onnxruntime.InferenceSession(sparse_constant_model())
    with pytest.raises(fastort.onnxruntime.NotImplemented, match="sparse tensor outputs"):
        session.run(None, {})


def test_onnxruntimes_python_subpackages_are_not_supported():
    for name in ("backend", "quantization", "tools", "transformers"):
        with pytest.raises(fastort.onnxruntime.NotImplemented, match=f"onnxruntime.{name}"):
            getattr(fastort.onnxruntime, name)
    with pytest.raises(AttributeError):
        fastort.onnxruntime.no_such_name  # noqa: B018


def test_native_names_code_imports_from_capi():
    from fastort.onnxruntime.capi import _pybind_state as native

    device = native.OrtDevice(native.OrtDevice.cuda(), native.OrtDevice.default_memory(), 1)
    assert [device.device_type(), device.mem_type(), device.device_id()] == [1, 0, 1]
    wrapped = fastort.onnxruntime.OrtDevice.make("cuda", 2)._get_c_device()
    assert [wrapped.device_type(), wrapped.device_id(), wrapped.vendor_id()] == [1, 2, 0x10DE]
    assert native.SessionIOBinding is fastort.onnxruntime.SessionIOBinding
    with pytest.raises(fastort.onnxruntime.NotImplemented):
        native.get_model_compatibility_for_ep_devices([], "")
    ort = fastort.onnxruntime
    arena, default = ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, ort.OrtMemType.DEFAULT
    cuda = ort.OrtMemoryInfo("Cuda", arena, 0, default)
    with pytest.raises(ort.NotImplemented, match="with a memory_info of another device"):
        ort.OrtValue.ortvalue_from_shape_and_type([2], np.float32, "cpu", 0, 0, cuda)
    cpu = ort.OrtMemoryInfo("Cpu", arena, 0, default)
    made = ort.OrtValue.ortvalue_from_shape_and_type([2], np.float32, "cpu", 0, 0, cpu)
    assert made.shape() == [2]


def native_devices(ort):
    native = ort.capi._pybind_state.OrtDevice
    names = ("cpu", "gpu", "cuda", "dml", "npu", "fpga", "cann", "webgpu", "default_memory")
    made = native(native.cpu(), native.default_memory(), 0)
    wrapped = ort.OrtDevice.make("cuda", 1)._get_c_device()
    return [
        [getattr(native, name)() for name in names],
        [made.device_type(), made.mem_type(), made.device_id(), made.vendor_id()],
        [wrapped.device_type(), wrapped.mem_type(), wrapped.device_id(), wrapped.vendor_id()],
    ]


def test_native_devices(ort):
    like_onnxruntime(ort, native_devices)
