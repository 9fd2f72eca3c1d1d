"""fastort.export: exporters, dynamic batch, verification, metadata, bad input."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import numpy as np
import onnx
import pytest

import fastort

torch = pytest.importorskip("torch")
pytest.importorskip("onnxscript")


class SmallCNN(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(8)
        self.head = torch.nn.Linear(8, 5)

    def forward(self, x):
        return self.head(torch.relu(self.bn(self.conv(x))).mean((2, 3)))


class TwoInTwoOut(torch.nn.Module):
    def forward(self, a, b):
        return a + b, (a * b).sum(dim=1)


@pytest.fixture(scope="module")
def cnn():
    torch.manual_seed(0)
    return SmallCNN().eval()


@pytest.mark.parametrize("exporter", ["dynamo", "legacy"])
def test_both_exporters_give_a_dynamic_batch(cnn, tmp_path, exporter):
    path = tmp_path / "cnn.onnx"
    report = fastort.export(cnn, torch.randn(1, 3, 12, 12), path, exporter=exporter)
    assert report.exporter == exporter and path.is_file()
    assert report.inputs[0][1][0] == "batch" and report.outputs[0][1][0] == "batch"
    assert {check.batch for check in report.checks} == {1, 3}
    assert all(check.ok for check in report.checks)
    session = fastort.Session(path)
    for batch in (1, 3, 7):
        x = torch.randn(batch, 3, 12, 12)
        (ours,) = session.run(None, {"input": x.numpy()})
        with torch.no_grad():
            np.testing.assert_allclose(ours, cnn(x).numpy(), rtol=1e-4, atol=1e-5)
    assert not list(tmp_path.glob("*.data")), "the model must be one self-contained file"
    onnx.checker.check_model(os.fspath(path), full_check=True)
    assert "exporter" in str(report) and "batch" in report.differences_table()


def test_auto_uses_dynamo(cnn, tmp_path):
    report = fastort.export(cnn, torch.randn(2, 3, 8, 8), tmp_path / "m.onnx")
    assert report.exporter == "dynamo" and report.exporter_reason


def test_multiple_inputs_and_outputs(tmp_path):
    path = tmp_path / "two.onnx"
    report = fastort.export(
        TwoInTwoOut(),
        (torch.randn(2, 4), torch.randn(2, 4)),
        path,
        input_names=["a", "b"],
        output_names=["total", "dot"],
    )
    assert report.input_names == ["a", "b"] and report.output_names == ["total", "dot"]
    a, b = np.ones((5, 4), np.float32), np.full((5, 4), 2, np.float32)
    total, dot = fastort.Session(path).run(None, {"a": a, "b": b})
    np.testing.assert_array_equal(total, a + b)
    np.testing.assert_array_equal(dot, np.full(5, 8, np.float32))


def test_training_mode_is_switched_and_reported(tmp_path):
    model = SmallCNN()
    model.train()
    report = fastort.export(model, torch.randn(2, 3, 8, 8), tmp_path / "m.onnx", exporter="legacy")
    assert not model.training
    assert any("training mode" in warning for warning in report.warnings)


def test_metadata_round_trip(cnn, tmp_path):
    transform = fastort.ImageTransform(
        resize=14, crop=12, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25)
    )
    labels = [f"class {i}" for i in range(5)]
    path = tmp_path / "m.onnx"
    fastort.export(
        cnn,
        torch.randn(1, 3, 12, 12),
        path,
        transform=transform,
        labels=labels,
        metadata={"owner": "vision"},
    )
    session = fastort.Session(path)
    assert session.transform == transform
    assert session.labels == labels
    assert session.get_modelmeta().custom_metadata_map["owner"] == "vision"
    image = np.random.default_rng(0).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    (top,) = session.classify(image, top_k=3)
    assert len(top) == 3 and all(label.startswith("class ") for _, label, _ in top)
    assert sum(p for _, _, p in top) <= 1.0 and top[0][2] >= top[1][2] >= top[2][2]
    with torch.no_grad():
        logits = cnn(torch.from_numpy(transform(image))).numpy()[0]
    assert top[0][0] == int(np.argmax(logits))


def test_a_wrong_export_fails_verification_and_leaves_no_file(tmp_path):
    class Noisy(torch.nn.Module):
        # Different every call: the export can never match a later PyTorch run.
        def forward(self, x):
            return x + torch.rand_like(x)

    path = tmp_path / "noisy.onnx"
    with pytest.raises(fastort.ExportVerificationError) as info:
        fastort.export(Noisy(), torch.randn(2, 3), path, exporter="legacy")
    assert "max abs diff" in str(info.value)
    assert info.value.report.checks and not all(c.ok for c in info.value.report.checks)
    assert not path.exists() and list(tmp_path.iterdir()) == []


class DataDependent(torch.nn.Module):
    # Traced from torch.ones, the branch taken becomes a constant of the graph.
    def forward(self, x):
        return x * 2 if float(x.sum()) > 0 else x * -3


def test_a_trace_right_only_for_the_example_fails_verification(tmp_path, capfd):
    path = tmp_path / "m.onnx"
    with pytest.raises(fastort.ExportVerificationError) as info:
        fastort.export(DataDependent(), torch.ones(1, 4), path)
    report = info.value.report
    assert report.exporter == "legacy"  # dynamo refuses the data-dependent branch
    reason = report.exporter_reason
    assert reason.startswith("the dynamo exporter failed: ")
    assert "\x1b" not in reason and "\n" not in reason and not reason.endswith(":")
    assert "test_export.py" in reason  # where in the model's code
    assert report.trace_warnings and "TracerWarning" in report.trace_warnings[0]
    assert "allow_trace_warnings=True" in str(info.value)
    assert "TracerWarning" in str(info.value) and "Python float" in str(info.value)
    assert {c.inputs for c in report.checks if not c.ok} == {"random"}  # negative sums
    out, err = capfd.readouterr()
    assert out == "" and err == "", (out, err)  # no progress, logs or graph dumps
    # Without the warning's veto, the random inputs alone catch it.
    with pytest.raises(fastort.ExportVerificationError, match="disagrees with PyTorch") as info:
        fastort.export(
            DataDependent(), torch.ones(1, 4), path, exporter="legacy", allow_trace_warnings=True
        )
    assert {c.inputs for c in info.value.report.checks if not c.ok} == {"random"}
    assert list(tmp_path.iterdir()) == []


def test_random_inputs_keep_integers_and_bools_within_the_example_range(tmp_path):
    class Lookup(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.table = torch.nn.Embedding(10, 3)

        def forward(self, ids, mask):
            return self.table(ids) * mask.unsqueeze(-1)

    example = (torch.tensor([[0, 9, 4, 2]]), torch.tensor([[True, False, True, True]]))
    report = fastort.export(
        Lookup().eval(),
        example,
        tmp_path / "m.onnx",
        input_names=["ids", "mask"],
        exporter="legacy",
    )
    assert {(c.inputs, c.batch) for c in report.checks} == {
        ("example", 1),
        ("example", 3),
        ("random", 1),
        ("random", 3),
    }
    assert all(c.ok for c in report.checks) and not report.trace_warnings
    assert "random" in report.differences_table()


def test_exporter_output_stays_out_of_the_terminal_unless_verbose(tmp_path, capfd, monkeypatch):
    import ctypes

    export = torch.onnx.export
    libc = ctypes.CDLL(None)

    def chatty_export(*args, **kwargs):
        print("python stdout")
        print("python stderr", file=sys.stderr)
        os.write(1, b"descriptor 1\n")
        os.write(2, b"descriptor 2\n")
        libc.printf(b"C stdio\n")  # buffered by C until flushed
        return export(*args, **kwargs)

    monkeypatch.setattr(torch.onnx, "export", chatty_export)
    model = torch.nn.Linear(2, 2).eval()
    lines = ["python stdout", "python stderr", "descriptor 1", "descriptor 2", "C stdio"]
    for verbose in (False, True):
        fastort.export(
            model, torch.randn(1, 2), tmp_path / "m.onnx", exporter="legacy", verbose=verbose
        )
        libc.fflush(None)
        out, err = capfd.readouterr()
        shown = [line for line in lines if line in out + err]
        assert shown == (lines if verbose else []), (verbose, out, err)


def test_the_file_is_created_like_any_new_file(tmp_path, monkeypatch):
    # Readable by others under the usual umask (a temporary file is 0600, and its mode
    # survives the rename), and the process umask is left alone.
    model = torch.nn.Linear(2, 2).eval()
    umask = os.umask
    set_masks = []
    previous = umask(0o022)
    try:
        monkeypatch.setattr(os, "umask", lambda mask: set_masks.append(mask) or umask(mask))
        for mask, mode in ((0o022, 0o644), (0o027, 0o640)):
            umask(mask)
            path = tmp_path / f"m{mask:o}.onnx"
            fastort.export(model, torch.randn(1, 2), path, exporter="legacy", verify=False)
            assert stat.S_IMODE(path.stat().st_mode) == mode
        assert set_masks == []
    finally:
        umask(previous)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m22.onnx", "m27.onnx"]


def test_bad_arguments(cnn, tmp_path):
    x = torch.randn(1, 3, 8, 8)
    with pytest.raises(fastort.InvalidTypeError, match=r"torch\.nn\.Module"):
        fastort.export(lambda t: t, x, tmp_path / "m.onnx")
    with pytest.raises(fastort.InvalidTypeError, match="example_inputs"):
        fastort.export(cnn, np.zeros((1, 3, 8, 8)), tmp_path / "m.onnx")
    with pytest.raises(fastort.InvalidTypeError, match="example_inputs"):
        fastort.export(cnn, (), tmp_path / "m.onnx")
    with pytest.raises(FileNotFoundError, match="directory does not exist"):
        fastort.export(cnn, x, tmp_path / "missing" / "m.onnx")
    with pytest.raises(
        fastort.InvalidArgumentError, match="got 3 labels but the first output has 5 classes"
    ):
        fastort.export(cnn, x, tmp_path / "m.onnx", labels=["a", "b", "c"])
    with pytest.raises(fastort.InvalidArgumentError, match="exporter must be one of"):
        fastort.export(cnn, x, tmp_path / "m.onnx", exporter="onnx")
    with pytest.raises(fastort.InvalidArgumentError, match="input_names must be 1"):
        fastort.export(cnn, x, tmp_path / "m.onnx", input_names=["a", "b"])
    with pytest.raises(fastort.InvalidArgumentError, match="dynamic_axes names 'x'"):
        fastort.export(cnn, x, tmp_path / "m.onnx", dynamic_axes={"x": {1: "c"}})
    assert list(tmp_path.iterdir()) == []


def test_unsupported_operator_is_a_clear_export_error(tmp_path):
    class Unsupported(torch.nn.Module):
        def forward(self, x):
            return torch.linalg.eig(x)[0].real  # no ONNX equivalent

    with pytest.raises(fastort.ExportError, match="exporter failed"):
        fastort.export(
            Unsupported(), torch.randn(2, 3, 3), tmp_path / "m.onnx", dynamic_batch=False
        )
    assert list(tmp_path.iterdir()) == []


def test_import_fastort_does_not_import_torch():
    code = (
        "import fastort, sys; fastort.Session; fastort.ImageTransform;"
        "assert 'torch' not in sys.modules and 'onnx' not in sys.modules"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
