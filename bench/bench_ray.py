"""fastort.ray against Ray's own recipes, on a local Ray of 2 CPUs, EfficientNet-Lite0.

  offline   JPEGs -> top-5 with Ray Data: `fastort.ray.classify` (its defaults: 1 actor of
            1 CPU, whose session and decoding share the reads' CPU: 2 threads) over
            `read_binary_files` against the canonical
            pipeline (`read_images` + `map` with the Pillow steps of torchvision's
            Resize/CenterCrop/ToTensor/Normalize + `map_batches` with an onnxruntime session
            in 1 actor of 1 CPU, with onnxruntime's default threads), the other CPU reading;
            interleaved rounds, wall time of the whole pipeline; fastort's results checked
            against Session.classify on every image; and fastort with 2 actors of half a
            CPU (scaling). At 1920x1080, and again at 640x480 (no scaling part). Each round
            also runs both pipelines over 8 images: what a pipeline costs whatever its size
            (actors started, model loaded, the plan), so that the time per image beyond it
            is reported too
  serve     16 concurrent HTTP clients POSTing JPEGs: `fastort.ray.deployment` against a plain
            Serve deployment calling onnxruntime in its handler (Ray's ONNX template: Pillow
            preprocessing and a synchronous `session.run` inside the async handler), one
            replica each; requests/s and p50/p99 latency. And the batching inside the
            replica: the deployment (native `Batcher`) against the same replica batching
            with Serve's `@serve.batch` (same session, decoding and preprocessing; each
            batch concatenated with numpy and run on a thread)

The photos are scikit-image's photos, cropped at random and resized to 1920x1080 (quality 90),
the size of the suite's end-to-end JPEG, and to 640x480 for the second offline run.
From the repository's root: python -m bench.bench_ray [--quick]
"""

from __future__ import annotations

import argparse
import http.client
import io
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from skimage import data

IMAGES, QUICK_IMAGES = 240, 32
FEW_IMAGES = 8  # the run that measures what a pipeline costs whatever its number of images
SMALL = (640, 480)
CLIENTS = 16


def write_photos(folder: Path, count: int, size: tuple[int, int] = (1920, 1080)) -> list[Path]:
    photos = [data.astronaut(), data.chelsea(), data.coffee(), data.rocket()]
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        photo = Image.fromarray(photos[i % len(photos)])
        width, height = photo.size
        left, top = (int(v) for v in rng.integers(0, 40, 2))
        box = (left, top, width - int(rng.integers(0, 40)), height - int(rng.integers(0, 40)))
        path = folder / f"{i:04d}.jpg"
        photo.crop(box).resize(size, Image.Resampling.BILINEAR).save(path, quality=90)
        paths.append(path)
    return paths


# ---- Ray's canonical offline pipeline ----------------------------------------------------


def canonical_preprocess(row: dict[str, Any]) -> dict[str, Any]:
    """torchvision's Resize(256) -> CenterCrop(224) -> ToTensor -> Normalize, as Pillow steps
    (the model's stored mean and std)."""
    from examples.pipelines import tutorial_preprocess

    image = Image.fromarray(row["image"])
    return {"input": tutorial_preprocess(image)[0]}


class OnnxruntimeClassifier:
    """Ray's recipe: an onnxruntime session per actor, softmax and top 5."""

    def __init__(self, model: str) -> None:
        import onnxruntime as ort

        self.session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
        self.name = self.session.get_inputs()[0].name

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        logits = self.session.run(None, {self.name: np.stack(list(batch["input"]))})[0]
        logits = logits.astype(np.float64)
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        probabilities = shifted / shifted.sum(axis=1, keepdims=True)
        top = np.argsort(-probabilities, axis=1, kind="stable")[:, :5]
        return {"index": top, "probability": np.take_along_axis(probabilities, top, axis=1)}


def offline(
    model: str, folder: Path, few: Path, rounds: int, scaling: bool = True
) -> dict[str, Any]:
    """Both pipelines over `folder`, and over `few` (a handful of the same photos): what a
    pipeline costs whatever the number of images (starting its actors, loading the model,
    planning), which the per-image figures leave out."""
    import ray

    import fastort.ray

    def canonical(folder: Path = folder) -> int:
        ds = ray.data.read_images(str(folder), mode="RGB")
        ds = ds.map(canonical_preprocess).map_batches(
            OnnxruntimeClassifier,
            fn_constructor_kwargs={"model": model},
            batch_size=64,
            compute=ray.data.ActorPoolStrategy(size=1),
            num_cpus=1,
        )
        return len(ds.take_all())

    def classified(source: Path = folder, num_cpus: float = 1) -> list[dict[str, Any]]:
        ds = ray.data.read_binary_files(str(source), include_paths=True)
        return fastort.ray.classify(ds, model, batch_size=64, num_cpus=num_cpus).take_all()

    results: list[dict[str, Any]] = []

    def ours() -> int:
        results[:] = classified()
        return len(results)

    # Untimed first runs: the first Dataset of a process starts Ray Data's workers.
    ours()
    canonical()

    times: dict[str, list[float]] = {
        "fastort": [],
        "canonical": [],
        "fastort few": [],
        "canonical few": [],
    }
    for round_index in range(rounds):
        order = [
            ("fastort", ours),
            ("canonical", canonical),
            ("fastort few", lambda: len(classified(few))),
            ("canonical few", lambda: canonical(few)),
        ]
        for name, run in order if round_index % 2 == 0 else order[::-1]:
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)

    # Scaling: two actors of half a CPU (one ONNX Runtime thread each) against the default's
    # one actor of 1 CPU; timed like the rest, after a first run.
    def two_actors() -> int:
        return len(classified(num_cpus=0.5))

    if scaling:
        two_actors()
        times["fastort, 2 actors"] = []
        for _ in range(rounds):
            start = time.perf_counter()
            two_actors()
            times["fastort, 2 actors"].append(time.perf_counter() - start)
    session = fastort.Session(model)
    for row in results:  # every image equals Session.classify's answer
        (top,) = session.classify(row["path"])
        assert list(row["index"]) == [i for i, _, _ in top], row["path"]
    count = len(results)
    ratios = np.asarray(times["canonical"]) / np.asarray(times["fastort"])
    fixed = {name: statistics.median(times[f"{name} few"]) for name in ("fastort", "canonical")}
    few_count = len(list(few.iterdir()))
    # Per image beyond the fixed part: (whole run - run of a few) / (images - a few).
    per_image = {
        name: (statistics.median(times[name]) - fixed[name]) / (count - few_count)
        for name in ("fastort", "canonical")
    }
    result = {
        "images": count,
        "few_images": few_count,
        "fastort_fixed_s": fixed["fastort"],
        "canonical_fixed_s": fixed["canonical"],
        "fastort_per_image_ms": per_image["fastort"] * 1e3,
        "canonical_per_image_ms": per_image["canonical"] * 1e3,
        "per_image_ratio": per_image["canonical"] / per_image["fastort"],
        "fastort_images_per_s": count / statistics.median(times["fastort"]),
        "canonical_images_per_s": count / statistics.median(times["canonical"]),
        "ratio": statistics.median(times["canonical"]) / statistics.median(times["fastort"]),
        "ratio_min": float(ratios.min()),
        "ratio_max": float(ratios.max()),
    }
    if scaling:
        result["fastort_2_actors_images_per_s"] = count / statistics.median(
            times["fastort, 2 actors"]
        )
    return result


# ---- Serve -------------------------------------------------------------------------------


class TemplateServer:
    """Ray's ONNX serving template: Pillow preprocessing and a synchronous session.run in the
    async handler."""

    def __init__(self, model: str) -> None:
        import onnxruntime as ort

        self.session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
        self.name = self.session.get_inputs()[0].name

    async def __call__(self, request: Any) -> Any:
        from starlette.responses import JSONResponse

        from examples.pipelines import tutorial_preprocess

        image = Image.open(io.BytesIO(await request.body())).convert("RGB")
        logits = self.session.run(None, {self.name: tutorial_preprocess(image)})[0][0]
        row = logits.astype(np.float64)
        shifted = np.exp(row - row.max())
        probabilities = shifted / shifted.sum()
        top = np.argsort(-probabilities, kind="stable")[:5]
        return JSONResponse(
            [{"index": int(i), "probability": float(probabilities[i])} for i in top]
        )


def serve_batch_server() -> type:
    """fastort's replica with Serve's `@serve.batch` in place of the native `Batcher` (a
    class made here: the decorator needs Ray, which this module imports lazily)."""
    import asyncio

    from ray import serve

    class ServeBatchServer:
        def __init__(self, model: str) -> None:
            import fastort
            from fastort.classify import stored_transform

            self.session = fastort.Session(model, threads=1)  # as the deployment's 1 CPU
            transform = stored_transform(self.session)
            assert transform is not None, "the model stores no image transform"
            self.transform = transform
            self.name = self.session.inputs[0].name

        @serve.batch(max_batch_size=32, batch_wait_timeout_s=0.005)  # the deployment's
        async def logits(self, batches: list[np.ndarray]) -> list[np.ndarray]:
            stacked = np.concatenate(batches)
            (rows,) = await asyncio.to_thread(self.session.run, None, {self.name: stacked})
            return list(rows)

        async def __call__(self, request: Any) -> Any:
            from starlette.responses import JSONResponse

            from fastort.classify import softmax_top_k

            pixels = await asyncio.to_thread(self.transform, await request.body())
            logits = await self.logits(pixels)
            (top,), (probabilities,) = softmax_top_k(logits[None], 5)
            return JSONResponse(
                [
                    {"index": int(i), "probability": float(p)}
                    for i, p in zip(top.tolist(), probabilities.tolist())
                ]
            )

    return ServeBatchServer


def load(port: int, bodies: list[bytes], seconds: float) -> dict[str, float]:
    """CLIENTS threads POSTing for `seconds`, each on its own keep-alive connection."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def client(index: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine = []
        i = index
        while time.perf_counter() < stop:
            body = bodies[i % len(bodies)]
            i += 1
            start = time.perf_counter()
            connection.request("POST", "/", body=body)
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                errors[0] += 1
            mine.append(time.perf_counter() - start)
        connection.close()
        with lock:
            latencies.extend(mine)

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    assert errors[0] == 0, f"{errors[0]} requests failed"
    p50, p99 = np.percentile(latencies, [50, 99]) * 1e3
    return {"requests_per_s": len(latencies) / elapsed, "p50_ms": p50, "p99_ms": p99}


def serve_bench(model: str, folder: Path, seconds: float) -> dict[str, Any]:
    import socket

    from ray import serve

    import fastort.ray

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    bodies = [path.read_bytes() for path in sorted(folder.iterdir())[:16]]
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    results: dict[str, Any] = {}
    try:
        apps = {
            "fastort": fastort.ray.deployment(model, top_k=5),
            "template": serve.deployment(
                TemplateServer, ray_actor_options={"num_cpus": 1}, max_ongoing_requests=64
            ).bind(model),
            "serve_batch": serve.deployment(
                serve_batch_server(),
                name="serve_batch",
                ray_actor_options={"num_cpus": 1},
                max_ongoing_requests=128,  # as the deployment's: 4 x max_batch_size
            ).bind(model),
        }
        for name, app in apps.items():
            serve.run(app, name=name, route_prefix="/")
            load(port, bodies, min(1.0, seconds))  # warm-up
            results[name] = load(port, bodies, seconds)
            serve.delete(name)
    finally:
        serve.shutdown()
    results["ratio"] = results["fastort"]["requests_per_s"] / results["template"]["requests_per_s"]
    results["batcher_ratio"] = (
        results["fastort"]["requests_per_s"] / results["serve_batch"]["requests_per_s"]
    )
    return results


def run(model: Path, quick: bool) -> dict[str, Any]:
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    try:
        count, rounds = (QUICK_IMAGES, 1) if quick else (IMAGES, 3)
        with tempfile.TemporaryDirectory() as folder, tempfile.TemporaryDirectory() as few:
            write_photos(Path(folder), count)
            write_photos(Path(few), FEW_IMAGES)
            results = {
                "offline": offline(str(model), Path(folder), Path(few), rounds),
                "serve": serve_bench(str(model), Path(folder), 2.0 if quick else 10.0),
            }
        if not quick:
            with tempfile.TemporaryDirectory() as folder, tempfile.TemporaryDirectory() as few:
                write_photos(Path(folder), count, SMALL)
                write_photos(Path(few), FEW_IMAGES, SMALL)
                results["offline_small"] = offline(
                    str(model), Path(folder), Path(few), rounds, False
                )
        return results
    finally:
        ray.shutdown()


def _offline_rows(result: dict[str, Any], size: str) -> list[str]:
    rows = [
        f"| Ray Data, {result['images']} JPEGs {size} -> top-5, 2 CPUs: "
        "`fastort.ray.classify`, 1 actor | "
        f"{result['fastort_images_per_s']:.0f} images/s | canonical pipeline, 1 actor "
        f"{result['canonical_images_per_s']:.0f} images/s | "
        f"{result['ratio']:.2f}x ({result['ratio_min']:.2f}-{result['ratio_max']:.2f}) |"
    ]
    if "per_image_ratio" in result:  # absent from the JSON of older suites
        rows.append(
            f"| Ray Data, JPEGs {size} -> top-5, per image beyond each pipeline's fixed cost "
            f"(a run of {result['few_images']} images: fastort {result['fastort_fixed_s']:.1f} s,"
            f" canonical {result['canonical_fixed_s']:.1f} s) | "
            f"{result['fastort_per_image_ms']:.1f} ms | canonical pipeline "
            f"{result['canonical_per_image_ms']:.1f} ms | {result['per_image_ratio']:.2f}x |"
        )
    return rows


def readme_rows(results: dict[str, Any]) -> list[str]:
    """The README table's rows (speed-up: fastort's rate over the peer's)."""
    offline_result, serving = results["offline"], results["serve"]
    one_actor = offline_result["fastort_images_per_s"]
    two_actors = offline_result["fastort_2_actors_images_per_s"]
    ours, template = serving["fastort"], serving["template"]
    rows = _offline_rows(offline_result, "1920x1080")
    small = results.get("offline_small")  # absent from the JSON of older suites
    if small is not None:
        rows += _offline_rows(small, f"{SMALL[0]}x{SMALL[1]}")
    rows += [
        f"| Ray Data, {offline_result['images']} JPEGs -> top-5, `fastort.ray.classify`, "
        f"2 actors of 0.5 CPU | {two_actors:.0f} images/s | "
        f"1 actor of 1 CPU (2 threads) {one_actor:.0f} images/s | {two_actors / one_actor:.2f}x |",
        f"| Ray Serve, {CLIENTS} clients POSTing JPEGs 1920x1080, 1 replica | "
        f"{ours['requests_per_s']:.0f} req/s, p50 {ours['p50_ms']:.0f} ms, "
        f"p99 {ours['p99_ms']:.0f} ms | onnxruntime template {template['requests_per_s']:.0f} "
        f"req/s, p50 {template['p50_ms']:.0f} ms, p99 {template['p99_ms']:.0f} ms | "
        f"{serving['ratio']:.2f}x |",
    ]
    if "serve_batch" in serving:  # absent from the JSON of older suites
        batch = serving["serve_batch"]
        rows.append(
            f"| Ray Serve, {CLIENTS} clients, fastort replica: native `Batcher` | "
            f"{ours['requests_per_s']:.0f} req/s, p99 {ours['p99_ms']:.0f} ms | "
            f"`@serve.batch` {batch['requests_per_s']:.0f} req/s, p99 {batch['p99_ms']:.0f} ms | "
            f"{serving['batcher_ratio']:.2f}x |"
        )
    return rows


def main() -> None:
    from bench.run_suite import efficientnet

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--cache", type=Path, default=Path(".cache") / "demo")
    args = parser.parse_args()
    results = run(efficientnet(args.cache), args.quick)
    print(results)
    print("\n".join(readme_rows(results)))


if __name__ == "__main__":
    main()
