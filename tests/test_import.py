"""Importing fastort: light (ONNX Runtime is loaded on first use), and clear when ONNX Runtime
is missing or wrong."""

from __future__ import annotations

import importlib
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import fastort
from isolated import describe, run_python


def test_import_loads_neither_onnxruntime_python_nor_torch():
    result = run_python(
        "import sys, fastort; fastort.ort_version();"
        "assert 'onnxruntime' not in sys.modules, 'onnxruntime imported';"
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    assert result.returncode == 0, result.stderr


def test_import_does_not_load_the_runtime_and_first_use_does():
    result = run_python(
        "import fastort; from fastort import _core\n"
        "assert not _core.runtime_loaded(), 'loaded at import'\n"
        "assert fastort.ort_version()\n"
        "assert _core.runtime_loaded()"
    )
    assert result.returncode == 0, describe(result)


# A broken ONNX Runtime does not fail `import fastort`: the first use that needs the runtime
# raises RuntimeLoadError (an ImportError), each time it is tried.
FIRST_USES = {
    "Session": "fastort.Session(b'not a model')",
    "ort_version": "fastort.ort_version()",
    "available_providers": "fastort.available_providers()",
    "onnxruntime": "import fastort.onnxruntime",
}


@pytest.mark.parametrize("use", sorted(FIRST_USES))
def test_missing_library_is_a_runtime_load_error_at_first_use(tmp_path, use):
    code = f"""
        import fastort
        for attempt in range(2):
            try:
                {FIRST_USES[use]}
            except fastort.RuntimeLoadError as error:
                assert isinstance(error, ImportError)
                print(error)
            else:
                raise AssertionError('no RuntimeLoadError')
    """
    result = run_python(
        code, env={"FASTORT_ORT_LIBRARY": os.fspath(tmp_path / "libonnxruntime.so")}
    )
    assert result.returncode == 0, describe(result)
    assert result.stdout.count("cannot load ONNX Runtime library") == 2, result.stdout


def test_non_ort_library_is_a_runtime_load_error_at_first_use():
    import ctypes.util

    libm = ctypes.util.find_library("m") or "libm.so.6"
    code = """
        import fastort
        try:
            fastort.Session(b'not a model')
        except fastort.RuntimeLoadError as error:
            print(error)
    """
    result = run_python(code, env={"FASTORT_ORT_LIBRARY": libm})
    assert result.returncode == 0, describe(result)
    assert "not an ONNX Runtime library" in result.stdout


def test_missing_onnxruntime_package_is_a_runtime_load_error(monkeypatch):
    monkeypatch.delenv("FASTORT_ORT_LIBRARY", raising=False)
    # sys.modules[name] = None makes importlib.util.find_spec report the package as absent.
    code = """
        import sys
        sys.modules['onnxruntime'] = None
        import fastort
        try:
            fastort.ort_version()
        except fastort.RuntimeLoadError as error:
            print(error)
    """
    result = run_python(code)
    assert result.returncode == 0, describe(result)
    assert "install the 'onnxruntime' package" in result.stdout


def test_fastort_onnxruntime_aliased_as_onnxruntime_still_finds_the_runtime(monkeypatch):
    # The drop-in swap done in code, before anything loaded ONNX Runtime: fastort must still
    # find the real package's library and sample models, not look inside itself.
    monkeypatch.delenv("FASTORT_ORT_LIBRARY", raising=False)
    code = """
        import sys
        import fastort.onnxruntime
        sys.modules['onnxruntime'] = fastort.onnxruntime
        import onnxruntime as ort
        session = ort.InferenceSession(ort.datasets.get_example('sigmoid.onnx'))
        print(session.get_inputs()[0].name, ort.get_version_string())
    """
    result = run_python(code)
    assert result.returncode == 0, describe(result)
    assert result.stdout.split()[0] == "x"


@pytest.mark.parametrize(
    ("platform", "names", "expected"),
    [
        (
            "linux",
            [
                "libonnxruntime_providers_shared.so",
                "libonnxruntime.so",
                "libonnxruntime.so.1.9.0",
                "libonnxruntime.so.1.21.0",
                "onnxruntime_pybind11_state.cpython-311-x86_64-linux-gnu.so",
            ],
            "libonnxruntime.so.1.21.0",
        ),
        (
            "darwin",
            [
                "libonnxruntime_providers_shared.dylib",
                "libonnxruntime.dylib",
                "libonnxruntime.1.21.0.dylib",
            ],
            "libonnxruntime.1.21.0.dylib",
        ),
        (
            "win32",
            [
                "onnxruntime_providers_shared.dll",
                "onnxruntime.dll",
                "onnxruntime_pybind11_state.pyd",
            ],
            "onnxruntime.dll",
        ),
    ],
)
def test_the_wheels_runtime_library_is_found_on_each_platform(tmp_path, platform, names, expected):
    from fastort._ort_wheel import library_in

    for name in names:
        (tmp_path / name).touch()
    assert library_in(os.fspath(tmp_path), platform) == os.path.join(tmp_path, expected)
    assert library_in(os.fspath(tmp_path), "win32" if platform != "win32" else "linux") is None
    assert library_in(os.fspath(tmp_path / "missing"), platform) is None


def test_the_ort_paths_script_prints_fastorts_own_lookup(monkeypatch):
    from fastort._ort_wheel import datasets_dir, find_library

    script = Path(__file__).resolve().parent.parent / "scripts" / "ort_paths.py"
    if not script.is_file():
        pytest.skip("the scripts are not beside the tests")
    monkeypatch.delenv("FASTORT_ORT_LIBRARY", raising=False)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, os.fspath(script), *args]
        return subprocess.run(command, capture_output=True, text=True, check=False)

    assert run("library").stdout.strip() == find_library()
    assert run("datasets").stdout.strip() == datasets_dir()
    assert Path(datasets_dir(), "sigmoid.onnx").is_file()
    assert run().returncode == 2


def test_the_fastort_namespace_holds_no_typing_helpers():
    names = set(dir(fastort))
    assert not names & {"Any", "TYPE_CHECKING", "annotations", "Union", "Callable"}
    public = {name for name in names if not name.startswith("_")} - set(fastort.__all__)
    # The rest are fastort's own submodules, once imported (fastort.session, ...).
    assert all(getattr(fastort, name).__name__ == f"fastort.{name}" for name in public), public


def public_modules():
    found = []
    for info in pkgutil.walk_packages(fastort.__path__, "fastort."):
        parts = info.name.split(".")
        if not any(part.startswith("_") for part in parts) and parts[-1] != "__main__":
            found.append(info.name)
    return found


@pytest.mark.parametrize("name", public_modules())
def test_every_public_module_declares_all(name):
    module = importlib.import_module(name)
    assert isinstance(module.__all__, list), f"{name} has no __all__"
    missing = [item for item in module.__all__ if not hasattr(module, item)]
    assert not missing, f"{name}.__all__ names what it lacks: {missing}"


def test_lazy_names_import_on_first_use_and_are_listed():
    result = run_python(
        "import sys, fastort\n"
        "assert not {'fastort.serving', 'fastort.image', 'dataclasses'} & set(sys.modules)\n"
        "assert {'Batcher', 'cache_info', 'ImageTransform'} <= set(dir(fastort))\n"
        "from fastort import Batcher, cache_info\n"
        "from fastort.serving import Batcher as Defined\n"
        "assert Batcher is Defined and fastort.Batcher is Defined\n"
        "assert cache_info().maxsize >= 0"
    )
    assert result.returncode == 0, describe(result)


def test_the_cores_lazy_parts_register_on_first_use_with_exactly_the_names_listed():
    # Images, the batcher and onnxruntime's enums are registered when first used, not at
    # import: each part's names (listed by dir) appear together, and no others.
    result = run_python(
        "import fastort, fastort._core as core\n"
        "at_import = set(vars(core))\n"
        "lazy = set(dir(core)) - at_import\n"
        "assert {'ImageTransformSpec', 'BatcherBase', 'GraphOptimizationLevel'} <= lazy, lazy\n"
        "for name in sorted(lazy):\n"
        "    assert getattr(core, name) is getattr(core, name)\n"
        "assert set(vars(core)) - at_import == lazy, set(vars(core)) - at_import ^ lazy\n"
        "assert set(dir(core)) == set(vars(core))\n"
        "assert not hasattr(core, 'no_such_name')\n"
        "try:\n"
        "    core.no_such_name\n"
        "except AttributeError as error:\n"
        "    assert 'no_such_name' in str(error)\n"
    )
    assert result.returncode == 0, describe(result)


def test_the_cores_lazy_parts_register_once_under_concurrent_first_use():
    result = run_python(
        "import threading, fastort._core as core\n"
        "names = ['ImageTransformSpec', 'DecodedImage', 'BatcherBase', 'CompletionQueue',\n"
        "         'GraphOptimizationLevel', 'ExecutionMode'] * 4\n"
        "barrier = threading.Barrier(len(names))\n"
        "found = {}\n"
        "def first_use(i, name):\n"
        "    barrier.wait()\n"
        "    found[i] = getattr(core, name)\n"
        "threads = [threading.Thread(target=first_use, args=item) for item in enumerate(names)]\n"
        "for thread in threads: thread.start()\n"
        "for thread in threads: thread.join()\n"
        "assert len(found) == len(names)\n"
        "for i, name in enumerate(names):\n"
        "    assert found[i] is getattr(core, name)\n"
    )
    assert result.returncode == 0, describe(result)


def test_a_value_of_a_lazy_part_unpickles_in_a_process_that_never_used_the_part():
    import pickle

    spec = fastort.ImageTransform(resize=64, crop=48)._spec
    data = pickle.dumps(spec)
    result = run_python(
        "import pickle, sys, fastort._core as core\n"
        "assert 'ImageTransformSpec' not in vars(core)\n"
        f"spec = pickle.loads({data!r})\n"
        "assert type(spec).__name__ == 'ImageTransformSpec'\n"
        "print(spec.resize, spec.crop)"
    )
    assert result.returncode == 0, describe(result)
    assert result.stdout.strip() == f"{spec.resize} {spec.crop}"


def test_the_cores_lazy_names_come_with_a_star_import_and_odd_names_are_simply_missing():
    result = run_python(
        "import fastort._core as core\n"
        "names = {}\n"
        "exec('from fastort._core import *', names)\n"
        "assert {'ImageTransformSpec', 'BatcherBase', 'ExecutionMode', 'Model'} <= set(names)\n"
        "assert not any(name.startswith('_') for name in core.__all__)\n"
        "for odd in ('\\udc80', '', 'x' * 100000, 'ImageTransformSpec\\0'):\n"
        "    assert not hasattr(core, odd)\n"
        "    assert getattr(core, odd, None) is None\n"
    )
    assert result.returncode == 0, describe(result)


def test_a_name_set_on_the_core_before_its_part_is_used_keeps_the_users_value():
    # As when every part was registered at import: the user's assignment wins.
    result = run_python(
        "import fastort._core as core\n"
        "core.MAX_IMAGE_SIDE = 64\n"
        "assert core.jpeg_library()['version']\n"
        "assert core.MAX_IMAGE_SIDE == 64\n"
        "assert isinstance(core.MAX_INPUT_SIDE, int)\n"
    )
    assert result.returncode == 0, describe(result)


def test_import_in_a_subinterpreter_is_an_import_error_not_a_hang():
    # mod_wsgi runs applications in subinterpreters by default; pybind11's initialisation
    # used to deadlock there.
    result = run_python(
        """
        import sys
        try:
            import _xxsubinterpreters as interpreters
        except ImportError:
            sys.exit(77)
        interpreter = interpreters.create()
        try:
            interpreters.run_string(interpreter, "import fastort")
        except Exception as error:
            print(error)
        else:
            print("imported")
        import fastort  # the main interpreter is unaffected
        print(fastort.__version__ is not None)
        """,
        timeout=60,
    )
    if result.returncode == 77:
        pytest.skip("this Python has no _xxsubinterpreters")
    assert result.returncode == 0, describe(result)
    lines = result.stdout.splitlines()
    assert "ImportError" in lines[0] and "subinterpreter" in lines[0], describe(result)
    assert "WSGIApplicationGroup" in lines[0], describe(result)
    assert lines[-1] == "True", describe(result)
