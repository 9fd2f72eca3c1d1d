"""The fastort command line: output and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import fastort
from fastort.cli import main
from models import add_model


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fastort", *args], capture_output=True, text=True, check=False
    )


def test_inspect_prints_signature_operators_and_metadata(save, capsys):
    path = save(add_model(metadata={"owner": "tests"}))
    assert main(["inspect", path]) == 0
    text = capsys.readouterr().out
    assert "x: tensor(float) [N, 3]  dynamic axes [0]" in text
    assert "Add" in text and "Mul" in text and "owner: tests" in text
    assert "ai.onnx 17" in text


def test_inspect_json(save, capsys):
    path = save(add_model())
    assert main(["inspect", path, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["inputs"][0]["shape"] == ["N", 3]
    assert report["operators"] == {"Add": 1, "Mul": 1}
    assert report["parameters"] == 1


def test_errors_are_one_line_with_exit_code_1(tmp_path):
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    for args in (
        ["inspect", str(tmp_path / "missing.onnx")],
        ["inspect", str(tmp_path / "junk.onnx")],
    ):
        result = run_cli(*args)
        assert result.returncode == 1
        assert (
            result.stderr.startswith("fastort inspect: error:") and "Traceback" not in result.stderr
        )


def test_usage_errors_exit_2_and_help_exits_0():
    assert run_cli().returncode == 2
    assert run_cli("classify", "m.onnx", "x.jpg", "--top-k", "0").returncode == 2
    for args in (["--help"], ["inspect", "--help"], ["classify", "--help"], ["view", "--help"]):
        assert run_cli(*args).returncode == 0
    version = run_cli("--version")
    assert version.returncode == 0 and version.stdout.strip() == f"fastort {fastort.__version__}"


def test_classify_needs_a_stored_transform(save, tmp_path):
    result = run_cli("classify", save(add_model()), str(tmp_path / "x.png"))
    assert result.returncode == 1 and "stores no image transform" in result.stderr


def test_view_without_netron_says_how_to_get_it(save):
    import importlib.util

    if importlib.util.find_spec("netron") is not None:
        pytest.skip("netron is installed")
    result = run_cli("view", save(add_model()), "--no-browser")
    assert result.returncode == 1 and "pip install netron" in result.stderr


def test_classify_with_an_exported_classifier(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 4)).eval()
    path = tmp_path / "clf.onnx"
    fastort.export(
        model,
        torch.randn(1, 3, 8, 8),
        path,
        transform=fastort.ImageTransform(resize=8, crop=8),
        labels=["w", "x", "y", "z"],
        exporter="legacy",
    )
    Image = pytest.importorskip("PIL.Image")
    image = tmp_path / "img.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)).save(
        image
    )
    assert main(["classify", str(path), str(image), "--top-k", "2", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload[0]["image"] == str(image) and len(payload[0]["top"]) == 2
    assert payload[0]["top"][0]["label"] in "wxyz"


def test_bench_prints_medians_and_writes_json(tmp_path, sigmoid_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", sigmoid_path, "--rounds", "1", "--quiet", "--json", str(out)]) == 0
    assert "fastort run(out=)" in capsys.readouterr().out
    (result,) = json.loads(out.read_text())
    assert result["batch"] == 1
    assert {"fastort run", "onnxruntime run", "raw ORT C++"} <= set(result["methods"])
    assert all(m["median_us"] > 0 for m in result["methods"].values())


def test_bench_bad_input(tmp_path):
    missing = run_cli("bench", str(tmp_path / "missing.onnx"))
    assert missing.returncode == 1 and "no such model file" in missing.stderr
    assert run_cli("bench", str(tmp_path / "m.onnx"), "--rounds", "0").returncode == 2
    assert run_cli("bench", str(tmp_path / "m.onnx"), "--threads", "-2").returncode == 2


def test_native_benchmark_runs_a_model_and_the_kernels(tmp_path, sigmoid_path):
    from fastort._runtime import find_library
    from fastort.benchmark import native_binary

    binary = native_binary()
    if binary is None:
        pytest.skip("fastort-bench is not part of this build")
    out = tmp_path / "native.json"
    result = subprocess.run(
        [
            binary,
            "--model",
            sigmoid_path,
            "--library",
            find_library(),
            "--runs",
            "5",
            "--warmup",
            "1",
            "--callers",
            "1,2",
            "--images",
            "64x48",
            "--image-threads",
            "1,2",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    names = [row["name"] for row in report["model"]]
    assert "raw ORT C++ API batch 1" in names and "2 callers, Session::run batch 1" in names
    assert len(report["images"]) == 2
    bad = subprocess.run([binary, "--runs", "0"], capture_output=True, text=True, check=False)
    assert bad.returncode == 1 and "error" in bad.stderr
