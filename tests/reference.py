"""References: torchvision itself, and its Resize -> CenterCrop restated over Pillow.

`torchvision_transforms()` imports the real `torchvision.transforms` (pure Python). The
torchvision wheel built for the pinned torch (0.28.0, installed by `make setup` with
--no-deps) carries compiled operators that do not load beside the CPU build of torch, and
its package `__init__` registers them, so importing `torchvision` fails; the transforms
need none of them, so the package's `__init__` is bypassed.

`pil_reference` restates the sizing rules torchvision applies around Pillow's calls (the
long side is truncated, crop offsets use Python's round(), a crop larger than the image pads
with zeros, as a PIL crop box outside the image does) for inputs torchvision does not take
directly (grey HxWx1 arrays, RGBA arrays); the tests check it against torchvision too.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types

import numpy as np
import pytest
from PIL import Image

FILTERS = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
}


def resized_size(height: int, width: int, resize) -> tuple[int, int]:
    if resize is None:
        return height, width
    if isinstance(resize, tuple):
        return resize
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = resize, int(resize * long / short)
    return (new_long, new_short) if width <= height else (new_short, new_long)


def pil_reference(array: np.ndarray, resize=256, crop=224, interpolation="bilinear") -> np.ndarray:
    """The uint8 HxWx3 crop torchvision produces from `array` (grey replicated, alpha dropped)."""
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    image = Image.fromarray(np.ascontiguousarray(array))
    if image.mode == "RGBA":
        image = image.convert("RGB")
    height, width = array.shape[:2]
    new_h, new_w = resized_size(height, width, resize)
    if (new_h, new_w) != (height, width):
        image = image.resize((new_w, new_h), FILTERS[interpolation])
    if crop is not None:
        crop_h, crop_w = (crop, crop) if isinstance(crop, int) else crop
        top = -((crop_h - new_h) // 2) if crop_h > new_h else int(round((new_h - crop_h) / 2.0))  # noqa: RUF046 (torchvision's code)
        left = -((crop_w - new_w) // 2) if crop_w > new_w else int(round((new_w - crop_w) / 2.0))  # noqa: RUF046
        image = image.crop((left, top, left + crop_w, top + crop_h))
    image = image.convert("RGB")
    return np.asarray(image)


def normalize_reference(crop: np.ndarray, mean, std) -> np.ndarray:
    """ToTensor + Normalize as torchvision computes them, in float32: (u / 255 - mean) / std."""
    values = crop.astype(np.float32) / np.float32(255)
    values = values - np.asarray(mean, np.float32)
    values = values / np.asarray(std, np.float32)
    return values.transpose(2, 0, 1)


def torchvision_transforms() -> types.ModuleType:
    """The installed `torchvision.transforms`; the test is skipped if torchvision is not
    installed (e.g. a wheel tested with only its own extras) and fails if it does not import.
    """
    if "torchvision.transforms" in sys.modules:
        return sys.modules["torchvision.transforms"]
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("torchvision is not installed (make setup installs it)")
    if "torchvision" not in sys.modules:
        # A bare package over the installed directory: its submodules import as usual, and
        # torchvision/__init__.py, which loads the compiled operators, never runs.
        package = types.ModuleType("torchvision", "torchvision, without its __init__ (tests)")
        package.__path__ = list(spec.submodule_search_locations)
        sys.modules["torchvision"] = package
    return importlib.import_module("torchvision.transforms")
