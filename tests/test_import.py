"""Importing fastort: light, and clear when ONNX Runtime is missing or wrong."""

from __future__ import annotations

import os

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
