"""Encoded images (paths, `str`, `os.PathLike`, bytes) decoded for `ImageTransform` and
`read_image`.

JPEGs are decoded by the core with libjpeg-turbo, one image per task on its thread pool with
the GIL released; the pixels equal Pillow's `Image.open(source).convert("RGB")` byte for
byte. Everything else (other formats, CMYK and YCCK JPEGs) is decoded by Pillow, on a few
threads when there are several (Pillow releases the GIL while it decodes). Both paths refuse
images of more pixels than Pillow's `Image.MAX_IMAGE_PIXELS` before decoding them, and raise
`InvalidArgumentError` naming the image for anything that does not decode.
"""

from __future__ import annotations

import functools
import importlib.util
import io
import os
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import _core

__all__ = ["ENCODED_TYPES", "decode", "max_image_pixels", "pil_pixels", "read_image"]

# What counts as an encoded image (rather than pixels).
ENCODED_TYPES = (str, os.PathLike, bytes, bytearray, memoryview)

# Pillow's default Image.MAX_IMAGE_PIXELS, used while Pillow is not imported (nobody can have
# changed it then, and importing it costs tens of milliseconds).
_DEFAULT_MAX_IMAGE_PIXELS = 89478485


# Pillow's decoders raise many kinds of exception on bad data (each format's plugin its own:
# OSError, SyntaxError, ValueError, NotImplementedError, struct.error, ZeroDivisionError, ...);
# every one but these is a bad image.
_NOT_THE_IMAGES_FAULT = (FileNotFoundError, IsADirectoryError, PermissionError, MemoryError)


def _argument_error(message: str) -> _core.InvalidArgumentError:
    error = _core.InvalidArgumentError(message)
    error.code = error.ort_code = None  # as on the core's errors: ONNX Runtime did not raise it
    return error


def _type_error(message: str) -> _core.InvalidTypeError:
    error = _core.InvalidTypeError(message)
    error.code = error.ort_code = None
    return error


def max_image_pixels() -> int:
    """Pillow's `Image.MAX_IMAGE_PIXELS` as it is set now (0: no limit)."""
    image_module = sys.modules.get("PIL.Image")
    if image_module is None:
        return _DEFAULT_MAX_IMAGE_PIXELS
    limit = getattr(image_module, "MAX_IMAGE_PIXELS", _DEFAULT_MAX_IMAGE_PIXELS)
    return 0 if limit is None else int(limit)


def _pillow_decode(source: Any, index: int, draft: tuple[int, int] | None) -> Any:
    """The loaded PIL image of one source, with fastort's errors."""
    try:
        from PIL import Image
    except ImportError:
        raise ImportError(
            "decoding formats other than JPEG needs Pillow: pip install pillow"
        ) from None
    if isinstance(source, (bytes, bytearray, memoryview)):
        name = f"image {index} ({len(source)} bytes)"
        file: Any = io.BytesIO(source)
    else:
        file = os.fspath(source)
        name = f"image {index} ({file!r})"
    limit = max_image_pixels()
    try:
        opened = Image.open(file)
        width, height = opened.size
        if limit and width * height > limit:
            raise Image.DecompressionBombError(
                f"{width * height} pixels, over the limit of {limit}"
            )
        if draft is not None:
            opened.draft("RGB", draft)
        opened.load()
    except Image.DecompressionBombError as error:
        raise _argument_error(
            f"{name} is refused as a possible decompression bomb: {error} "
            "(PIL.Image.MAX_IMAGE_PIXELS sets the limit)"
        ) from error
    except _NOT_THE_IMAGES_FAULT:
        raise
    except Exception as error:
        raise _argument_error(f"{name}: cannot decode: {error}") from error
    return opened


def pil_pixels(image: Any, index: int, convert: bool) -> Any:
    """A PIL image loaded (a lazily opened one is decoded now), converted to RGB when
    `convert`; what Pillow raises on the way is an InvalidArgumentError naming the image."""
    try:
        image.load()
        return image.convert("RGB") if convert else image
    except _NOT_THE_IMAGES_FAULT:
        raise
    except Exception as error:
        raise _argument_error(f"image {index}: cannot read the PIL image: {error}") from error


@functools.cache
def _pillow_installed() -> bool:
    """Whether Pillow can be imported (it is not imported here: that takes tens of ms). The
    core then leaves it the JPEGs whose data ends early, for Pillow to decide on."""
    return "PIL" in sys.modules or importlib.util.find_spec("PIL") is not None


def _worker_count(threads: int, jobs: int) -> int:
    return max(1, min(jobs, threads if threads > 0 else _core.hardware_threads()))


def decode(
    sources: Sequence[Any],
    indexes: Sequence[int],
    threads: int,
    draft: tuple[int, int] | None = None,
    rgb: bool = False,
    spec: _core.ImageTransformSpec | None = None,
) -> list[Any]:
    """Each source decoded: a uint8 array (JPEGs, decoded natively: H x W grey or H x W x 3
    RGB, or always RGB with `rgb`), else a loaded PIL image (an RGB array with `rgb`).

    `indexes` name the sources in errors; `draft` is Pillow's draft size (width, height):
    JPEGs are decoded at the largest DCT-domain reduction that keeps both sides at least as
    large, natively and by Pillow alike. With `spec`, native JPEGs come back as
    `_core.DecodedImage`, holding only what that transform reads of them.
    """
    decoded: list[Any] = _core.decode_images(
        list(sources),
        list(indexes),
        threads,
        draft,
        max_image_pixels(),
        rgb,
        spec,
        fallback=_pillow_installed(),
    )
    left = [i for i, image in enumerate(decoded) if image is None]
    if not left:
        return decoded

    def pillow(i: int) -> Any:
        image = _pillow_decode(sources[i], indexes[i], draft)
        return np.asarray(pil_pixels(image, indexes[i], convert=True)) if rgb else image

    workers = _worker_count(threads, len(left))
    if workers == 1:
        for i in left:
            decoded[i] = pillow(i)
        return decoded
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(workers, thread_name_prefix="fastort-decode") as pool:
        futures = [(i, pool.submit(pillow, i)) for i in left]
    # Every decode has ended; the error of the lowest index is raised, like the core's.
    for i, future in futures:
        decoded[i] = future.result()
    return decoded


def read_image(source: Any) -> np.ndarray:
    """The pixels of an encoded image (a path, `str`, `os.PathLike` or bytes) as an
    H x W x 3 uint8 array: exactly Pillow's `np.asarray(Image.open(source).convert("RGB"))`.

    JPEGs are decoded natively (libjpeg-turbo, no Pillow needed); other formats by Pillow.
    EXIF orientation is not applied, as neither Pillow's `open` nor torchvision applies it.
    Raises `InvalidArgumentError` for data that does not decode (truncated, corrupt, not an
    image) or an image over Pillow's `Image.MAX_IMAGE_PIXELS`, and FileNotFoundError,
    IsADirectoryError or PermissionError for a path that cannot be read.
    """
    if not isinstance(source, ENCODED_TYPES):
        raise _type_error(
            "read_image expects a path, str, os.PathLike or encoded bytes, got "
            f"{type(source).__name__}"
        )
    image: np.ndarray = decode([source], [0], 1, rgb=True)[0]
    return image
