"""Image preprocessing to a 1x3x224x224 float32 batch: fastort against the usual pipelines.

Every method runs on one thread, interleaved round by round in one process, on the demo's
photo (scikit-image's astronaut, resized with Pillow) at 640x480, 1920x1080 and 4000x3000.
Each method's maximum deviation from torchvision's output is shown in grey levels
(|difference| x std x 255).

  torchvision v2       the same on a uint8 tensor, when torchvision is installed
  torchvision on PIL   Resize(256) -> CenterCrop(224) -> ToTensor -> Normalize; when
                       torchvision is not importable, the same steps spelled with Pillow
                       and torch (or numpy) operations, which is what torchvision runs
  cv2 INTER_LINEAR     cv2.resize to the same size, crop, numpy normalisation
  cv2 INTER_AREA       the same with INTER_AREA
  cv2.dnn.blobFromImage  resize and crop to 224 in one call, then divide by std
  fastort              ImageTransform(threads=1)

Then a batch of 32 mixed-size photos with fastort on 1 and 2 threads.

    python -m bench.bench_preprocess [--rounds 9] [--quick] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

import fastort
from examples.pipelines import photo

MEAN = np.asarray(fastort.IMAGENET_MEAN, np.float32)
STD = np.asarray(fastort.IMAGENET_STD, np.float32)
SIZES = [(640, 480), (1920, 1080), (4000, 3000)]


def resized_size(width: int, height: int, short: int = 256) -> tuple[int, int]:
    if width <= height:
        return short, int(short * height / width)
    return int(short * width / height), short


def crop_box(width: int, height: int, crop: int = 224) -> tuple[int, int]:
    return round((width - crop) / 2.0), round((height - crop) / 2.0)


def torchvision_pipeline() -> tuple[str, Callable[[np.ndarray], np.ndarray]]:
    try:
        from torchvision import transforms

        pipeline = transforms.Compose(
            [
                transforms.Resize(256),
                transforms.CenterCrop(224),
                transforms.ToTensor(),
                transforms.Normalize(fastort.IMAGENET_MEAN, fastort.IMAGENET_STD),
            ]
        )
        return (
            "torchvision on PIL",
            lambda image: pipeline(Image.fromarray(image)).unsqueeze(0).numpy(),
        )
    except Exception:  # torchvision is optional and does not import beside every torch
        pass

    def pil_steps(image: np.ndarray) -> np.ndarray:
        pil = Image.fromarray(image)
        width, height = resized_size(*pil.size)
        pil = pil.resize((width, height), Image.Resampling.BILINEAR)
        left, top = crop_box(width, height)
        crop = np.array(pil.crop((left, top, left + 224, top + 224)))
        try:
            import torch

            tensor = torch.from_numpy(crop).permute(2, 0, 1).contiguous().float().div(255)
            mean = torch.from_numpy(MEAN)[:, None, None]
            std = torch.from_numpy(STD)[:, None, None]
            return tensor.sub(mean).div(std).unsqueeze(0).numpy()
        except ImportError:
            values = crop.astype(np.float32) / np.float32(255)
            return ((values - MEAN) / STD).transpose(2, 0, 1)[None]

    return "torchvision steps on PIL", pil_steps


def torchvision_v2_pipelines() -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """torchvision.transforms.v2 on uint8 tensors (antialiased bilinear), when installed."""
    try:
        import torch
        from torchvision.transforms import v2
    except Exception:
        return {}
    torch.set_num_threads(1)
    pipeline = v2.Compose(
        [
            v2.Resize(256, antialias=True),
            v2.CenterCrop(224),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(fastort.IMAGENET_MEAN, fastort.IMAGENET_STD),
        ]
    )
    return {
        "torchvision v2 on uint8 tensor": lambda image: (
            pipeline(torch.from_numpy(image).permute(2, 0, 1)).unsqueeze(0).numpy()
        )
    }


def cv2_pipelines() -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    try:
        import cv2
    except ImportError:
        return {}
    cv2.setNumThreads(1)

    def resize_crop(interpolation: int) -> Callable[[np.ndarray], np.ndarray]:
        def run(image: np.ndarray) -> np.ndarray:
            height, width = image.shape[:2]
            new_w, new_h = resized_size(width, height)
            resized = cv2.resize(image, (new_w, new_h), interpolation=interpolation)
            left, top = crop_box(new_w, new_h)
            crop = resized[top : top + 224, left : left + 224]
            values = crop.astype(np.float32) * np.float32(1 / 255)
            return ((values - MEAN) / STD).transpose(2, 0, 1)[None]

        return run

    def blob(image: np.ndarray) -> np.ndarray:
        result = cv2.dnn.blobFromImage(
            image, 1 / 255, (224, 224), tuple(float(m) * 255 for m in MEAN), swapRB=False, crop=True
        )
        return result / STD[None, :, None, None]

    return {
        "cv2 INTER_LINEAR + numpy": resize_crop(cv2.INTER_LINEAR),
        "cv2 INTER_AREA + numpy": resize_crop(cv2.INTER_AREA),
        "cv2.dnn.blobFromImage": blob,
    }


def time_method(run: Callable[[np.ndarray], np.ndarray], image: np.ndarray, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        run(image)
    return (time.perf_counter() - start) / calls * 1e3


def bench_size(width: int, height: int, rounds: int, quick: bool) -> list[dict[str, float | str]]:
    image = photo(width, height)
    reference_name, reference = torchvision_pipeline()
    transform = fastort.ImageTransform(threads=1)
    methods = {
        reference_name: reference,
        **torchvision_v2_pipelines(),
        **cv2_pipelines(),
        "fastort": lambda img: transform(img),
    }
    expected = reference(image)
    calls = 1 if quick or width >= 4000 else 3
    samples: dict[str, list[float]] = {name: [] for name in methods}
    for _ in range(rounds):
        for name, run in methods.items():
            samples[name].append(time_method(run, image, calls))
    base = statistics.median(samples[reference_name])
    rows = []
    for name, run in methods.items():
        deviation = float(np.abs(run(image) - expected).max() * STD.max() * 255)
        median = statistics.median(samples[name])
        rows.append(
            {"method": name, "ms": median, "speedup": base / median, "deviation": deviation}
        )
    return rows


def bench_batch(rounds: int) -> dict[str, float]:
    sizes = [(640, 480), (1280, 720), (1024, 1024), (480, 640), (1920, 1080), (800, 600)]
    images = [photo(*sizes[i % len(sizes)]) for i in range(32)]
    single = fastort.ImageTransform(threads=1)
    double = fastort.ImageTransform(threads=2)
    times: dict[str, list[float]] = {"1 thread": [], "2 threads": []}
    for _ in range(rounds):
        for name, transform in (("1 thread", single), ("2 threads", double)):
            start = time.perf_counter()
            transform(images)
            times[name].append((time.perf_counter() - start) * 1e3)
    one, two = statistics.median(times["1 thread"]), statistics.median(times["2 threads"])
    return {"1 thread ms": one, "2 threads ms": two, "speedup": one / two}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--quick", action="store_true", help="few rounds, for CI smoke runs")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be >= 1")
    rounds = 2 if args.quick else args.rounds
    results: dict[str, object] = {}
    for width, height in SIZES:
        rows = bench_size(width, height, rounds, args.quick)
        results[f"{width}x{height}"] = rows
        print(f"\n{width}x{height} -> 1x3x224x224 float32, 1 thread (median of {rounds})")
        print(f"  {'method':28s} {'median':>9s} {'speed-up':>9s} {'max deviation':>14s}")
        for row in rows:
            print(
                f"  {row['method']:28s} {row['ms']:7.2f}ms {row['speedup']:8.1f}x "
                f"{row['deviation']:9.1f} levels"
            )
    batch = bench_batch(rounds)
    results["batch32"] = batch
    print(
        f"\nbatch of 32 mixed photos: 1 thread {batch['1 thread ms']:.1f} ms, "
        f"2 threads {batch['2 threads ms']:.1f} ms ({batch['speedup']:.2f}x)"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
