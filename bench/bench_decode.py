"""Image input: JPEG bytes and files decoded natively, PIL images read in place.

Each row times fastort against the peer doing the same work, interleaved round by round, on
one thread unless stated; ratios are the peer's median over fastort's, with the 10th-90th
percentile range of the per-round ratios:

  PIL image        transform(PIL image) against transform(the same pixels as an array), at
                   1920x1080 and 4000x3000 (a target of <= 1.15x: reading Pillow's storage in
                   place rather than copying it)
  JPEG bytes       transform(1920x1080 JPEG bytes) against Pillow's decode alone
                   (`Image.open(b).convert("RGB").load()`): decode + resize + normalise in less
                   time than Pillow takes to decode
  fast_decode      transform(bytes, fast_decode=True) against the exact transform(bytes)
  32 files         32 1920x1080 JPEG files, ImageTransform(threads=2) against threads=1

The photo is the demo's (scikit-image's astronaut resized, quality 90). From the repository's
root: python -m bench.bench_decode [--rounds N]
"""

from __future__ import annotations

import argparse
import io
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PIL import Image

import fastort
from examples.pipelines import interleaved_ms, photo_jpeg


def _compare(
    ours: Callable[[], object], peer: Callable[[], object], rounds: int
) -> dict[str, float]:
    samples = interleaved_ms({"ours": ours, "peer": peer}, rounds)
    ratios = np.asarray(samples["peer"]) / np.asarray(samples["ours"])
    return {
        "ours_ms": float(np.median(samples["ours"])),
        "peer_ms": float(np.median(samples["peer"])),
        "ratio": float(np.median(samples["peer"]) / np.median(samples["ours"])),
        "ratio_p10": float(np.percentile(ratios, 10)),
        "ratio_p90": float(np.percentile(ratios, 90)),
    }


def _loaded(data: bytes) -> Any:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def run(rounds: int) -> dict[str, Any]:
    transform = fastort.ImageTransform(threads=1)
    results: dict[str, Any] = {"build": fastort.build_info()}
    for width, height in ((1920, 1080), (4000, 3000)):
        image = _loaded(photo_jpeg(width, height))
        pixels = np.asarray(image)
        # The ratio is array time over PIL time: below 1 means the PIL image costs more.
        results[f"pil {width}x{height}"] = _compare(
            lambda image=image: transform(image), lambda pixels=pixels: transform(pixels), rounds
        )
    data = photo_jpeg(1920, 1080)
    results["bytes 1920x1080"] = _compare(
        lambda: transform(data),
        lambda: Image.open(io.BytesIO(data)).convert("RGB").load(),
        rounds,
    )
    results["fast_decode 1920x1080"] = _compare(
        lambda: transform(data, fast_decode=True), lambda: transform(data), rounds
    )
    with tempfile.TemporaryDirectory() as folder:
        paths = [Path(folder) / f"{i}.jpg" for i in range(32)]
        for path in paths:
            path.write_bytes(data)
        two = transform.replace(threads=2)
        results["files 32"] = _compare(
            lambda: two(paths), lambda: transform(paths), max(3, rounds // 3)
        )
    return results


def _range(result: dict[str, float]) -> str:
    return f"{result['ratio']:.2f}x ({result['ratio_p10']:.2f}-{result['ratio_p90']:.2f})"


def readme_rows(results: dict[str, Any]) -> list[str]:
    """The README table's rows (speed-up: the peer's time over fastort's)."""
    rows = []
    for size in ("1920x1080", "4000x3000"):
        r = results[f"pil {size}"]
        rows.append(
            f"| `transform(PIL image)`, {size} | {r['ours_ms']:.2f} ms | "
            f"`transform(array)` {r['peer_ms']:.2f} ms | {_range(r)} |"
        )
    r = results["bytes 1920x1080"]
    rows.append(
        f"| `transform(JPEG bytes)`, 1920x1080 | {r['ours_ms']:.2f} ms | "
        f"Pillow's decode alone {r['peer_ms']:.2f} ms | {_range(r)} |"
    )
    r = results["fast_decode 1920x1080"]
    rows.append(
        f"| `transform(JPEG bytes, fast_decode=True)`, 1920x1080 | {r['ours_ms']:.2f} ms | "
        f"exact `transform(JPEG bytes)` {r['peer_ms']:.2f} ms | {_range(r)} |"
    )
    r = results["files 32"]
    rows.append(
        f"| 32 JPEG files 1920x1080, `threads=2` | {r['ours_ms']:.0f} ms | "
        f"`threads=1` {r['peer_ms']:.0f} ms | {_range(r)} |"
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=21)
    args = parser.parse_args()
    results = run(args.rounds)
    print(results["build"])
    print("\n".join(readme_rows(results)))


if __name__ == "__main__":
    main()
