"""The demo's timings (examples/pipelines.py, which the benchmark suite uses too) compare the
same work, interleaved, on the photo size they state."""

from __future__ import annotations

import importlib
import io
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

import fastort
from models import classifier_model

ROOT = Path(__file__).resolve().parent.parent
pytest.importorskip("onnxruntime")
pytest.importorskip("skimage")
Image = pytest.importorskip("PIL.Image")


@pytest.fixture(scope="module")
def demo():
    """examples.pipelines, imported from the repository's root like the demo and the suite."""
    if not (ROOT / "examples" / "pipelines.py").is_file():
        pytest.skip("the examples are not beside the tests")
    return importlib.import_module("examples.pipelines")


def test_the_timed_photo_is_a_full_hd_jpeg(demo):
    image = Image.open(io.BytesIO(demo.photo_jpeg()))
    assert image.format == "JPEG" and image.size == (1920, 1080)


def test_both_end_to_end_pipelines_do_the_same_work(demo, save):
    transform = fastort.ImageTransform(resize=256, crop=224, mean=demo.MEAN, std=demo.STD)
    metadata = {"fastort.transform": json.dumps(transform.to_dict())}
    path = Path(save(classifier_model(classes=7, size=224, metadata=metadata)))
    stages, end_to_end = demo.pipelines(path, demo.photo_jpeg(320, 180))
    assert set(end_to_end) == {"tutorial", "fastort", "fastort, fast_decode"}
    tutorial, ours = end_to_end["tutorial"](), end_to_end["fastort"]()
    assert len(tutorial) == 5 and [i for i, _ in ours] == [i for i, _ in tutorial]
    np.testing.assert_allclose([p for _, p in ours], [p for _, p in tutorial], rtol=1e-5)
    assert len(end_to_end["fastort, fast_decode"]()) == 5
    for run in stages.values():
        run()


def test_repetitions_are_interleaved_in_rotating_order(demo):
    calls: list[str] = []
    methods = {name: (lambda name=name: calls.append(name)) for name in "abc"}
    samples = demo.interleaved_ms(methods, 4)
    assert {name: len(values) for name, values in samples.items()} == {"a": 4, "b": 4, "c": 4}
    assert calls == list("abc" + "abc" + "bca" + "cab" + "abc")  # one untimed call each first


def test_spread_is_the_median_and_the_10th_to_90th_percentiles(demo):
    assert demo.spread([float(v) for v in range(1, 12)]) == (6.0, 2.0, 10.0)


def test_make_demo_shows_the_build_progress():
    result = subprocess.run(
        ["make", "-n", "-C", str(ROOT), "demo"], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        pytest.skip(f"make -n demo does not run here: {result.stderr.strip()}")
    builds = [line for line in result.stdout.splitlines() if "pip install" in line and ".[" in line]
    assert builds, result.stdout
    assert all("--quiet" not in line and " -q " not in line for line in builds), builds
