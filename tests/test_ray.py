"""fastort.ray on a real local Ray (2 CPUs, no dashboard) and a real Serve HTTP proxy on
127.0.0.1: Ray Data pipelines and a Serve deployment, compared with Session.classify."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

import fastort
from fastort.classify import stored_transform
from models import classifier_model

ray = pytest.importorskip("ray")
import fastort.ray  # noqa: E402  (after the skip: it imports ray)

Image = pytest.importorskip("PIL.Image")
skimage_data = pytest.importorskip("skimage.data")

pytestmark = [
    pytest.mark.ray,
    # Ray's own modules warn about their dependencies; fastort's warnings are checked here.
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::PendingDeprecationWarning"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

LABELS = ["cat", "coffee", "rocket", "astronaut", "camera"]


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> str:
    transform = fastort.ImageTransform(resize=16, crop=16)
    metadata = {
        "fastort.transform": json.dumps(transform.to_dict()),
        "fastort.labels": json.dumps(LABELS),
    }
    path = tmp_path_factory.mktemp("model") / "classifier.onnx"
    path.write_bytes(classifier_model(size=16, metadata=metadata).SerializeToString())
    return str(path)


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """JPEGs of the bundled photos and random images, and one PNG."""
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    pictures = [skimage_data.chelsea(), skimage_data.coffee(), skimage_data.rocket()]
    pictures += [rng.integers(0, 256, (40 + i, 60 - i, 3), dtype=np.uint8) for i in range(9)]
    for i, pixels in enumerate(pictures):
        Image.fromarray(pixels).save(folder / f"{i:02d}.jpg", quality=85)
    Image.fromarray(skimage_data.astronaut()[::4, ::4]).save(folder / "12.png")
    return folder


def expected_rows(model: str, paths: list[str]) -> dict[str, list[tuple[int, str | None, float]]]:
    session = fastort.Session(model)
    return {path: session.classify(path)[0] for path in paths}


def check_rows(rows: list[dict], expected: dict) -> None:
    assert sorted(Path(row["path"]).name for row in rows) == sorted(
        Path(path).name for path in expected
    )
    by_name = {Path(path).name: top for path, top in expected.items()}
    for row in rows:
        top = by_name[Path(row["path"]).name]
        assert list(row["index"]) == [i for i, _, _ in top]
        assert list(row["label"]) == [label for _, label, _ in top]
        np.testing.assert_allclose(row["probability"], [p for _, _, p in top], rtol=1e-6)
        assert row["index"].dtype == np.int64 and row["probability"].dtype == np.float32


def test_classify_a_folder_of_images_equals_session_classify(cluster, model, photos):
    ds = ray.data.read_binary_files(str(photos), include_paths=True)
    rows = fastort.ray.classify(ds, model, batch_size=4).take_all()
    paths = sorted(str(path) for path in photos.iterdir())
    check_rows(rows, expected_rows(model, paths))


def test_classifier_takes_decoded_images_too(cluster, model, photos):
    paths = sorted(str(path) for path in photos.glob("*.jpg"))
    items = [{"image": np.asarray(Image.open(p).convert("RGB")), "path": p} for p in paths]
    rows = (
        ray.data.from_items(items)
        .map_batches(
            fastort.ray.Classifier,
            fn_constructor_kwargs={"model": model, "top_k": 3},
            batch_size=5,
            compute=ray.data.ActorPoolStrategy(size=1),
            num_cpus=1,
        )
        .take_all()
    )
    expected = {path: top[:3] for path, top in expected_rows(model, paths).items()}
    check_rows(rows, expected)


def test_a_model_without_labels_gives_none(cluster, tmp_path, photos):
    transform = fastort.ImageTransform(resize=8, crop=8)
    path = tmp_path / "bare.onnx"
    path.write_bytes(classifier_model().SerializeToString())
    classifier = fastort.ray.Classifier(str(path), transform=transform, top_k=2)
    data = (photos / "00.jpg").read_bytes()
    result = classifier({"bytes": np.array([data, data], dtype=object)})
    assert result["label"].shape == (2,) and list(result["label"]) == [None, None]
    assert "path" not in result


def test_bad_images_and_batches_fail_with_fastort_errors(model, photos):
    classifier = fastort.ray.Classifier(model)
    with pytest.raises(fastort.InvalidArgumentError, match=r"image 1\b.*cannot decode"):
        classifier({"bytes": np.array([(photos / "00.jpg").read_bytes(), b"junk"], dtype=object)})
    with pytest.raises(fastort.InvalidArgumentError, match='"bytes" column'):
        classifier({"pixels": np.zeros((1, 4, 4, 3), np.uint8)})
    with pytest.raises(fastort.InvalidArgumentError, match="top_k"):
        fastort.ray.Classifier(model, top_k=0)


def test_predictor_adds_a_models_outputs_as_columns(cluster, model):
    rng = np.random.default_rng(2)
    inputs = rng.standard_normal((10, 3, 16, 16)).astype(np.float32)
    ds = ray.data.from_items([{"input": x, "id": i} for i, x in enumerate(inputs)])
    rows = ds.map_batches(
        fastort.ray.Predictor,
        fn_constructor_kwargs={"model": model},
        batch_size=4,
        compute=ray.data.ActorPoolStrategy(size=1),
        num_cpus=1,
    ).take_all()
    (expected,) = fastort.Session(model).run(None, {"input": inputs})
    for row in rows:
        np.testing.assert_allclose(row["output"], expected[row["id"]], rtol=1e-6)
    with pytest.raises(fastort.InvalidArgumentError, match="no column"):
        fastort.ray.Predictor(model)({"x": np.zeros((1, 3, 16, 16), np.float32)})


def test_classify_never_takes_the_cpus_the_reads_need(cluster, model, photos):
    ds = ray.data.read_binary_files(str(photos), include_paths=True)
    # 2 actors of 1 CPU on a 2-CPU cluster would starve the reads and wait forever.
    with pytest.warns(RuntimeWarning, match="starve the read tasks"):
        pipeline = fastort.ray.classify(ds, model, concurrency=2, num_cpus=1)
    assert len(pipeline.take_all()) == len(list(photos.iterdir()))
    with pytest.raises(fastort.InvalidArgumentError, match="leave none for reading"):
        fastort.ray.classify(ds, model, num_cpus=2)
    for bad in (
        {"concurrency": 0},
        {"num_cpus": 0},
        {"batch_size": 0},
        {"threads": 0},
        {"threads": 1.5},
        {"threads": True},
    ):
        with pytest.raises(fastort.InvalidArgumentError):
            fastort.ray.classify(ds, model, **bad)
    # Half a CPU each: two actors beside the reads.
    assert len(fastort.ray.classify(ds, model, num_cpus=0.5).take_all()) == len(
        list(photos.iterdir())
    )


@pytest.mark.parametrize(
    ("cpus", "actors", "num_cpus", "threads"),
    [(2, 1, 1, 2), (2, 2, 0.5, 1), (8, 7, 1, 1), (8, 2, 1, 1), (4, 1, 2, 3), (3, 1, 1.5, 2)],
)
def test_classify_actors_share_the_cpu_left_for_reading(cpus, actors, num_cpus, threads):
    assert fastort.ray.actor_threads(cpus, actors, num_cpus) == threads


def test_a_classifier_decodes_on_as_many_threads_as_its_session(model):
    classifier = fastort.ray.Classifier(model, threads=2)
    assert classifier._session.threads == 2
    assert classifier._transform is not None and classifier._transform.threads == 2
    stored = stored_transform(classifier._session)
    assert classifier._transform == stored.replace(threads=2)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def post(url: str, body: bytes) -> tuple[int, object]:
    request = urllib.request.Request(url, data=body, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_serve_deployment_classifies_posted_images(cluster, model, photos):
    from ray import serve

    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    try:
        serve.run(fastort.ray.deployment(model, top_k=3), route_prefix="/classify")
        url = f"http://127.0.0.1:{port}/classify"
        session = fastort.Session(model)
        for path in sorted(photos.iterdir()):
            status, result = post(url, path.read_bytes())
            assert status == 200
            top = session.classify(str(path), top_k=3)[0]
            assert [entry["index"] for entry in result] == [i for i, _, _ in top]
            assert [entry["label"] for entry in result] == [label for _, label, _ in top]
            np.testing.assert_allclose(
                [entry["probability"] for entry in result], [p for _, _, p in top], rtol=1e-5
            )
        status, result = post(url, b"this is not an image")
        assert status == 400 and "cannot decode" in result["error"]
        status, result = post(url, (photos / "01.jpg").read_bytes()[:500])
        assert status == 400 and "truncated" in result["error"].lower()
        status, _ = post(url, (photos / "02.jpg").read_bytes())  # still serving
        assert status == 200
    finally:
        serve.shutdown()


@pytest.mark.parametrize(
    ("stop", "status", "message"),
    [("SIGINT", 130, "interrupted"), ("SIGTERM", 143, "terminated")],
)
def test_fastort_serve_from_the_command_line(model, photos, stop, status, message):
    import os
    import signal
    import subprocess
    import sys

    port = free_port()
    command = [sys.executable, "-m", "fastort", "serve", model, "--port", str(port), "--cpus", "2"]
    # A process started in the background inherits SIGINT ignored, and passes that on: the
    # server is started with Ctrl-C live, as from a terminal.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ
        )
    finally:
        signal.signal(signal.SIGINT, previous)
    try:
        line = process.stdout.readline()  # printed once the application serves
        assert line.startswith("serving ") and f":{port}/" in line, process.stderr.read()
        code, result = post(f"http://127.0.0.1:{port}/", (photos / "00.jpg").read_bytes())
        assert code == 200
        assert [entry["index"] for entry in result] == [
            i for i, _, _ in fastort.Session(model).classify(str(photos / "00.jpg"))[0]
        ]
        process.send_signal(getattr(signal, stop))
        assert process.wait(timeout=120) == status
        assert message in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
