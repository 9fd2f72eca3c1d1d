"""The fastort command line: output and exit codes."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fastort
import fastort.benchmark
from fastort.cli import main
from models import add_model, classifier_model

TRANSFORM = {"resize": 8, "crop": 8}
LABELS = ["a", "b", "c", "d", "e"]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """`fastort ARGS`, in this process: its exit status and what it printed."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            code = main(list(args))
        except SystemExit as exit:  # argparse: usage errors, --help, --version
            code = exit.code if isinstance(exit.code, int) else 1
    return subprocess.CompletedProcess(
        ["fastort", *args], code, stdout.getvalue(), stderr.getvalue()
    )


def test_the_installed_command_runs_as_a_module():
    result = subprocess.run(
        [sys.executable, "-m", "fastort", "--version"], capture_output=True, text=True, check=False
    )
    assert (result.returncode, result.stdout.strip()) == (0, f"fastort {fastort.__version__}")


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


def one_error_line(result: subprocess.CompletedProcess[str], command: str) -> str:
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"fastort {command}: error: "), lines
    return lines[0]


def classifier(save, name="clf.onnx", transform=TRANSFORM, labels=LABELS, **extra) -> str:
    metadata = dict(extra)
    if transform is not None:
        metadata["fastort.transform"] = json.dumps(transform)
    if labels is not None:
        metadata["fastort.labels"] = json.dumps(labels)
    return save(classifier_model(metadata=metadata), name)


@pytest.fixture
def png(tmp_path) -> str:
    Image = pytest.importorskip("PIL.Image")
    path = tmp_path / "img.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)).save(path)
    return str(path)


def test_usage_errors_exit_2_and_help_exits_0():
    assert run_cli().returncode == 2
    assert run_cli("classify", "m.onnx", "x.jpg", "--top-k", "0").returncode == 2
    not_a_number = run_cli("classify", "m.onnx", "x.jpg", "--top-k", "abc")
    assert not_a_number.returncode == 2
    assert "argument --top-k: expected a positive integer, got 'abc'" in not_a_number.stderr
    assert "_positive" not in not_a_number.stderr
    assert run_cli("view", "m.onnx", "--port", "70000").returncode == 2
    for args in (["--help"], ["inspect", "--help"], ["classify", "--help"], ["view", "--help"]):
        assert run_cli(*args).returncode == 0
    version = run_cli("--version")
    assert version.returncode == 0 and version.stdout.strip() == f"fastort {fastort.__version__}"


def test_classify_needs_a_stored_transform(save, tmp_path):
    result = run_cli("classify", save(add_model()), str(tmp_path / "x.png"))
    assert result.returncode == 1 and "stores no image transform" in result.stderr


def test_labels_that_do_not_name_every_class_are_one_line(save, png):
    line = one_error_line(run_cli("classify", classifier(save, labels=["a", "b"]), png), "classify")
    assert "the model stores 2 labels but output 'output' has 5 classes" in line


def test_deeply_nested_metadata_is_one_line_and_inspect_still_shows_the_model(save, png):
    nested = "[" * 100_000 + "]" * 100_000
    path = save(classifier_model(metadata={"fastort.transform": nested}))
    line = one_error_line(run_cli("classify", path, png), "classify")
    assert "fastort.transform metadata is malformed: nested too deeply" in line
    shown = run_cli("inspect", path)
    assert shown.returncode == 0 and "Traceback" not in shown.stderr
    assert "input: tensor(float) [N, 3, 8, 8]" in shown.stdout
    assert "fastort.transform metadata is malformed: nested too deeply" in shown.stdout
    report = json.loads(run_cli("inspect", path, "--json").stdout)
    assert report["fastort"]["problems"] == {"fastort.transform": "nested too deeply"}


def test_inspect_says_what_is_wrong_with_malformed_fastort_metadata(save, capsys):
    path = classifier(save, transform={"crop": 0}, labels=["a", "b"])
    assert main(["inspect", path]) == 0
    text = capsys.readouterr().out
    assert "fastort.transform metadata is malformed: crop sizes must be between 1" in text
    assert "fastort.labels metadata is malformed: 2 labels but output 'output' has 5" in text
    assert 'metadata fastort.transform: {"crop": 0}' in text  # the raw text, to see


def test_an_absurd_stored_transform_is_refused_in_one_line(save, png):
    # A 65536x65536 crop would be a 48 GiB batch: refused before anything is allocated.
    path = classifier(save, transform={"resize": 65536, "crop": 65536})
    line = one_error_line(run_cli("classify", path, png), "classify")
    assert "stored transform makes 65536x65536 images" in line


def test_a_decompression_bomb_is_one_line_naming_the_image(save, png, capsys, monkeypatch):
    Image = pytest.importorskip("PIL.Image")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 20x30 is then over twice the limit
    assert main(["classify", classifier(save), png]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("fastort classify: error: ") and png in line
    assert "decompression bomb" in line


def test_control_characters_from_the_model_and_paths_are_escaped(save, tmp_path, png, capsys):
    path = classifier(
        save,
        labels=["a\x1b[2J", "b\nforged line", "c\u202e", "d", "e"],
        **{"owner\x1b]0;title\x07": "x\x1b[31my"},
    )
    strange = tmp_path / "img\x1b[1m.png"
    strange.write_bytes(Path(png).read_bytes())
    assert main(["classify", path, str(strange), "--top-k", "5"]) == 0
    assert main(["inspect", path]) == 0
    assert main(["classify", path, str(tmp_path / "gone\x1b[5m.png")]) == 1
    out, err = capsys.readouterr()
    for text in (out, err):
        assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    assert "a\\x1b[2J" in out and "b\\nforged line" in out and "c\\u202e" in out
    assert "img\\x1b[1m.png" in out and "gone\\x1b[5m.png" in err
    assert "metadata owner\\x1b]0;title\\x07: x\\x1b[31my" in out


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (RecursionError("boom"), "internal error: RecursionError: boom (set FASTORT_TRACEBACK=1"),
        (MemoryError(), "out of memory"),
        (KeyError("key"), "internal error: KeyError: 'key' (set FASTORT_TRACEBACK=1"),
    ],
)
def test_no_exception_prints_a_traceback(save, capsys, monkeypatch, error, expected):
    def fail(args):
        raise error

    monkeypatch.setattr("fastort.cli._inspect", fail)
    monkeypatch.delenv("FASTORT_TRACEBACK", raising=False)
    assert main(["inspect", save(add_model())]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"fastort inspect: error: {expected}")
    monkeypatch.setenv("FASTORT_TRACEBACK", "1")
    assert main(["inspect", save(add_model())]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert err.splitlines()[-1].startswith("fastort inspect: error: ")


def test_interrupt_exits_130(save, capsys, monkeypatch):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr("fastort.cli._inspect", interrupted)
    assert main(["inspect", save(add_model())]) == 130
    assert capsys.readouterr().err == "fastort inspect: error: interrupted\n"


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
    assert {"fastort run", "onnxruntime run"} <= set(result["methods"])
    assert all(m["median_us"] > 0 for m in result["methods"].values())
    assert result["methods"]["fastort run"]["vs onnxruntime run"]["median"] > 0
    if fastort.benchmark.native_binary() is not None:
        assert result["notes"] == []
        assert result["methods"]["fastort run"]["vs raw ORT C++"]["median"] > 0


def test_bench_leaves_the_raw_floor_out_without_the_native_binary(
    sigmoid_path, monkeypatch, capsys
):
    monkeypatch.setattr(fastort.benchmark, "native_binary", lambda: None)
    assert main(["bench", sigmoid_path, "--rounds", "1", "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "raw ORT C++: left out, the native benchmark (fastort-bench) is not installed" in text
    assert "vs raw" not in text and "fastort run(out=)" in text


@pytest.mark.skipif(sys.platform == "win32", reason="the stand-in binary is a shell script")
def test_bench_leaves_the_raw_floor_out_when_the_native_binary_fails(
    sigmoid_path, tmp_path, monkeypatch
):
    broken = tmp_path / "fastort-bench"
    broken.write_text("#!/bin/sh\necho 'fastort-bench: error: no raw loop here' >&2\nexit 1\n")
    broken.chmod(0o755)
    monkeypatch.setattr(fastort.benchmark, "native_binary", lambda: str(broken))
    result = fastort.benchmark.bench_model(sigmoid_path, rounds=1, round_seconds=0.001)
    assert fastort.benchmark.RAW_FLOOR not in result.names()
    assert fastort.benchmark.RAW_PREBOUND not in result.names()
    assert len(result.notes) == 2  # the floor and the pre-bound floor
    for floor, note in zip(
        (fastort.benchmark.RAW_PREBOUND, fastort.benchmark.RAW_FLOOR), result.notes
    ):
        assert note.startswith(f"{floor}: left out") and "no raw loop here" in note


def test_bench_ratios_are_taken_round_by_round():
    from fastort.benchmark import BenchResult, MethodResult

    ours = MethodResult("ours", 2.5, 2.0, [1.0, 2.0, 3.0, 6.0])
    peer = MethodResult("peer", 2.0, 0.0, [2.0, 2.0, 2.0, 3.0])
    ratio = BenchResult("m.onnx", 1, 1, [ours, peer]).ratio("ours", "peer")
    assert (ratio.median, ratio.low, ratio.high) == (1.25, 1.0, 2.0)  # of 0.5, 1, 1.5, 2


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
    assert "raw ORT C++ API batch 1" in names and "2 callers, Model::run batch 1" in names
    assert len(report["images"]) == 2
    bad = subprocess.run([binary, "--runs", "0"], capture_output=True, text=True, check=False)
    assert bad.returncode == 1 and "error" in bad.stderr


def test_native_raw_only_times_n_calls_and_writes_json_to_stdout(sigmoid_path):
    from fastort._runtime import find_library
    from fastort.benchmark import native_binary

    binary = native_binary()
    if binary is None:
        pytest.skip("fastort-bench is not part of this build")
    command = [binary, "--raw-only", "--model", sigmoid_path, "--library", find_library()]
    result = subprocess.run(
        [*command, "--iterations", "7", "--warmup", "1", "--batch", "1,3", "--json", "-"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)["model"]  # the table went to stderr
    assert [(row["batch"], row["iterations"]) for row in rows] == [(1, 7), (3, 7)]
    assert all(row["seconds"] > 0 for row in rows)
    assert "raw ORT C++ API batch 3" in result.stderr
    not_raw_only = [part for part in command if part != "--raw-only"]
    for wrong, message in (
        ([*not_raw_only, "--iterations", "3"], "--iterations needs --raw-only"),
        ([*command, "--images", "8x8"], "--raw-only measures a --model alone"),
        ([*command, "--callers", "1,2"], "--raw-only measures a --model alone"),
    ):
        bad = subprocess.run(wrong, capture_output=True, text=True, check=False)
        assert bad.returncode == 1 and message in bad.stderr


def test_classify_any_classifier_with_transform_and_labels(save, tmp_path, png, capsys):
    path = save(classifier_model(size=224))  # no fastort metadata
    session = fastort.Session(path)
    imagenet = fastort.ImageTransform.imagenet()
    small = fastort.ImageTransform(resize=(224, 224), crop=None, mean=(0.5,) * 3, std=(0.5,) * 3)
    (expected_imagenet,) = session.classify(png, 3, transform=imagenet, labels=LABELS)
    (expected_small,) = session.classify(png, 3, transform=small, labels=LABELS)
    spec = tmp_path / "transform.json"
    spec.write_text(json.dumps(small.to_dict()))
    lines = tmp_path / "labels.txt"
    lines.write_text("\n".join(LABELS) + "\n")
    as_json = tmp_path / "labels.json"
    as_json.write_text(json.dumps(LABELS))
    for transform, expected in (
        ("imagenet", expected_imagenet),
        (json.dumps(small.to_dict()), expected_small),
        (str(spec), expected_small),
    ):
        for labels in (lines, as_json):
            argv = ["classify", path, png, "--top-k", "3", "--json"]
            assert main([*argv, "--transform", transform, "--labels", str(labels)]) == 0
            (result,) = json.loads(capsys.readouterr().out)
            assert [(t["index"], t["label"], t["probability"]) for t in result["top"]] == expected


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--transform", "imagenette", "--transform: 'imagenette' is not a preset (imagenet)"),
        ("--transform", "{bad json", "--transform: not valid JSON: Expecting property name"),
        ("--transform", '{"crop": 0}', "--transform: crop sizes must be between 1 and 65536"),
        ("--transform", '{"zoom": 2}', "--transform: unknown ImageTransform fields: zoom"),
        ("--labels", "LINES:a\nb\nc\n", "got 3 labels but output 'output' has 5 classes"),
        ("--labels", 'JSON:["a", 1]', "must hold a JSON list of strings"),
        ("--labels", "JSON:", "holds no labels"),
        ("--labels", "missing.txt", "--labels: cannot read"),
    ],
)
def test_bad_transform_and_labels_options_are_one_line(save, tmp_path, png, option, value, message):
    if option == "--labels" and ":" in value:
        kind, text = value.split(":", 1)
        labels = tmp_path / ("labels.json" if kind == "JSON" else "labels.txt")
        labels.write_text(text)
        value = str(labels)
    elif value == "missing.txt":
        value = str(tmp_path / value)
    path = save(classifier_model(size=224))
    argv = ["classify", path, png, option, value]
    if option == "--labels":
        argv += ["--transform", "imagenet"]
    assert message in one_error_line(run_cli(*argv), "classify")
