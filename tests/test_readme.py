"""The README's Python examples run as written, against the model the README itself exports."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
pytest.importorskip("torch")
pytest.importorskip("onnxscript")
Image = pytest.importorskip("PIL.Image")


def readme_blocks() -> list[str]:
    script = ROOT / "scripts" / "check_readme_types.py"
    if not script.is_file() or not (ROOT / "README.md").is_file():
        pytest.skip("the README and its checker are not beside the tests")
    spec = importlib.util.spec_from_file_location("check_readme_types", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.python_blocks(ROOT / "README.md"))


# The Ray example starts a local Ray, whose modules warn about their own dependencies.
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_readme_examples_run_as_written(tmp_path, monkeypatch, capsys):
    blocks = readme_blocks()
    exporting = [index for index, block in enumerate(blocks) if "fastort.export(" in block]
    assert len(exporting) == 1, "one README example exports the model the others use"
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    for name, size in (("cat.jpg", (300, 400)), ("dog.jpg", (480, 360)), ("dog.png", (256, 256))):
        Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(name)
    (tmp_path / "photos").mkdir()  # the Ray example's folder of JPEGs
    for i in range(4):
        pixels = rng.integers(0, 256, (200 + 10 * i, 300, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(tmp_path / "photos" / f"{i}.jpg")
    order = exporting + [index for index in range(len(blocks)) if index not in exporting]
    for index in order:
        code = compile(blocks[index], f"README.md example {index + 1}", "exec")
        exec(code, {"__name__": f"readme_example_{index + 1}"})
        assert (tmp_path / "model.onnx").is_file()
    assert "verification against PyTorch" in capsys.readouterr().out  # print(report)
    if (tmp_path / "predictions").exists():  # the Ray example ran
        import pyarrow.parquet as parquet

        table = parquet.read_table(tmp_path / "predictions")
        assert table.num_rows == 4
        assert {"path", "index", "probability", "label"} <= set(table.column_names)
