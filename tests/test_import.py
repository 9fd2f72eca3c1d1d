"""Importing fastort: light, and clear when ONNX Runtime is missing or wrong."""

from __future__ import annotations

import importlib
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import fastort
from isolated import run_python


def test_import_loads_neither_onnxruntime_python_nor_torch():
    result = run_python(
        "import sys, fastort; fastort.ort_version();"
        "assert 'onnxruntime' not in sys.modules, 'onnxruntime imported';"
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    assert result.returncode == 0, result.stderr


def test_missing_library_is_an_import_error(tmp_path):
    result = run_python(
        "import fastort", env={"FASTORT_ORT_LIBRARY": os.fspath(tmp_path / "libonnxruntime.so")}
    )
    assert result.returncode != 0
    assert "RuntimeLoadError" in result.stderr
    assert "cannot load ONNX Runtime library" in result.stderr


def test_non_ort_library_is_an_import_error():
    import ctypes.util

    libm = ctypes.util.find_library("m") or "libm.so.6"
    result = run_python("import fastort", env={"FASTORT_ORT_LIBRARY": libm})
    assert result.returncode != 0
    assert "not an ONNX Runtime library" in result.stderr


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
