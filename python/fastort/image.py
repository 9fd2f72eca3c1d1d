"""`ImageTransform`: Resize -> CenterCrop -> ToTensor -> Normalize in one native pass.

The reference is torchvision on PIL images: `Resize(resize)`, `CenterCrop(crop)`,
`ToTensor()`, `Normalize(mean, std)`. The uint8 crop equals Pillow's byte for byte (Pillow's
fixed-point resampling, torchvision's sizing and crop offsets, zero padding when the crop is
larger than the image) and the float32 output equals torchvision's bit for bit.

Images may be uint8 numpy arrays (HxW or HxWx1 grey, HxWx3 RGB or BGR, HxWx4 with alpha
dropped, any row stride), PIL images, file paths or encoded bytes (decoded with Pillow,
which is then required). Arrays are read in place; arrays whose pixels are not packed
within a row (e.g. `image[:, ::2]`) are copied once.
"""

from __future__ import annotations

import functools
import io
import os
import struct
from collections.abc import Sequence
from dataclasses import FrozenInstanceError
from typing import Any, Union

import numpy as np

from . import _core

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "ImageInput", "ImageTransform"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_INTERPOLATIONS = ("bilinear", "bicubic", "nearest")
_LAYOUTS = ("NCHW", "NHWC")
_CHANNEL_ORDERS = ("RGB", "BGR")
_DTYPES = ("float32", "uint8")
_PASS_ORDERS = ("auto", "pillow13", "horizontal_first")
# ImageTransform's fields, in the constructor's order.
_FIELDS = (
    "resize",
    "crop",
    "mean",
    "std",
    "interpolation",
    "antialias",
    "layout",
    "channel_order",
    "threads",
    "dtype",
    "pass_order",
)

ImageInput = Union[np.ndarray, "os.PathLike[str]", str, bytes, Any]


def _argument_error(message: str) -> _core.InvalidArgumentError:
    error = _core.InvalidArgumentError(message)
    error.code = error.ort_code = None  # as on the core's errors: ONNX Runtime did not raise it
    return error


def _type_error(message: str) -> _core.InvalidTypeError:
    error = _core.InvalidTypeError(message)
    error.code = error.ort_code = None
    return error


def _size_pair(name: str, value: Any, allow_none: bool) -> tuple[int, int] | int | None:
    if value is None and allow_none:
        return None
    size = _size_value(name, value)
    for side in (size,) if isinstance(size, int) else size:
        # 0 would mean "none" to the core, so sizes are checked here.
        if not 1 <= side <= 65536:
            raise _argument_error(f"{name} sizes must be between 1 and 65536, got {value!r}")
    return size


def _size_value(name: str, value: Any) -> tuple[int, int] | int:
    expected = f"{name} must be an int or a (height, width) pair"
    if isinstance(value, bool):
        raise _type_error(f"{expected}, got bool")
    if isinstance(value, (int, np.integer)):
        return int(value)
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise _type_error(f"{expected}, got {value!r}")
    if len(value) not in (1, 2):
        raise _argument_error(f"{expected}, got {len(value)} values: {value!r}")
    items = list(value)
    if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in items):
        raise _type_error(f"{expected}, got {value!r}")
    # One value is torchvision's int: the short side for Resize, a square for CenterCrop.
    return int(items[0]) if len(items) == 1 else (int(items[0]), int(items[1]))


def _triple(name: str, value: Any) -> tuple[float, float, float]:
    # A string is iterable and float("1") works, so "123" would read as (1, 2, 3).
    if isinstance(value, (str, bytes, bytearray)):
        raise _type_error(f"{name} must be 3 numbers (one per RGB channel), got {value!r}")
    try:
        items = tuple(_number(v) for v in value)
    except (TypeError, ValueError):
        raise _type_error(
            f"{name} must be 3 numbers (one per RGB channel), got {value!r}"
        ) from None
    if len(items) != 3:
        raise _argument_error(f"{name} must have 3 values (one per RGB channel), got {len(items)}")
    return items[0], items[1], items[2]


def _number(value: Any) -> float:
    if isinstance(value, (str, bytes)):
        raise TypeError("text is not a number")
    return float(value)


def _choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise _argument_error(
            f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}"
        )
    return value


@functools.cache
def _installed_pillow_order() -> str:
    """The pass order of the installed Pillow (13 changed it), without importing Pillow.

    Read once: looking up package metadata costs most of a millisecond, and `replace`,
    `from_dict` and unpickling make new transforms often."""
    from importlib import metadata

    try:
        major = int(metadata.version("pillow").split(".")[0])
    except (metadata.PackageNotFoundError, ValueError):
        return "pillow13"
    return "pillow13" if major >= 13 else "horizontal_first"


class ImageTransform:
    """torchvision's Resize -> CenterCrop -> ToTensor -> Normalize, fused and exact.

    A value: immutable (change it with `replace(**changes)`, which returns a new transform),
    equal and hashed by its fields, picklable and copyable with every field, and described
    by `to_dict()` / `from_dict()`.

    Args:
        resize: short side (torchvision's `Resize(int)` or `Resize([int])`: the long side is
            truncated), a (height, width) pair, or None for no resize.
        crop: centre crop size, int or (height, width), or None for no crop.
        mean, std: per-channel normalisation (RGB order), applied after dividing by 255.
        interpolation: "bilinear" (default), "bicubic" or "nearest", as Pillow does them.
        antialias: False keeps the filter narrow when downscaling (OpenCV-like, not PIL).
        layout: "NCHW" (default) or "NHWC".
        channel_order: "RGB", or "BGR" for images from OpenCV (output stays RGB).
        threads: threads for a batch or a large image: None or 0 for one per hardware thread,
            at most `fastort._core.MAX_THREADS` (1024).
        dtype: "float32" (normalised) or "uint8" (the exact resized crop, no normalisation).
        pass_order: Pillow 13 changed the order of its two resampling passes for images whose
            height shrinks much more than their width, which changes the last bit of some
            pixels. "auto" follows the installed Pillow (Pillow 13's order without Pillow);
            "pillow13" or "horizontal_first" (Pillow <= 12) force one.
    """

    __slots__ = (
        "_antialias",
        "_channel_order",
        "_crop",
        "_dtype",
        "_interpolation",
        "_key",
        "_layout",
        "_mean",
        "_pass_order",
        "_resize",
        "_spec",
        "_std",
        "_thread_count",
        "_threads",
    )

    _resize: int | tuple[int, int] | None
    _crop: tuple[int, int] | None
    _mean: tuple[float, float, float]
    _std: tuple[float, float, float]
    _interpolation: str
    _antialias: bool
    _layout: str
    _channel_order: str
    _threads: int | None
    _dtype: str
    _pass_order: str
    _key: tuple[Any, ...]  # every field, in _FIELDS order: equality, hashing, pickling
    _thread_count: int  # what the core takes: 0 for the default
    _spec: _core.ImageSpec  # parsed and validated once

    def __init__(
        self,
        resize: int | Sequence[int] | None = 256,
        crop: int | Sequence[int] | None = 224,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        interpolation: str = "bilinear",
        antialias: bool = True,
        layout: str = "NCHW",
        channel_order: str = "RGB",
        threads: int | None = None,
        dtype: str = "float32",
        pass_order: str = "auto",
    ) -> None:
        crop_size = _size_pair("crop", crop, allow_none=True)
        if not isinstance(antialias, bool):
            raise _type_error(f"antialias must be a bool, got {antialias!r}")
        if threads is not None:
            if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)):
                raise _type_error(f"threads must be None or an int, got {type(threads).__name__}")
            threads = int(threads)
            _core.check_threads("threads", threads)
        fields: dict[str, Any] = {
            "resize": _size_pair("resize", resize, allow_none=True),
            "crop": (crop_size, crop_size) if isinstance(crop_size, int) else crop_size,
            "mean": _triple("mean", mean),
            "std": _triple("std", std),
            "interpolation": _choice("interpolation", interpolation, _INTERPOLATIONS),
            "antialias": antialias,
            "layout": _choice("layout", layout, _LAYOUTS),
            "channel_order": _choice("channel_order", channel_order, _CHANNEL_ORDERS),
            "threads": threads,
            "dtype": _choice("dtype", dtype, _DTYPES),
            "pass_order": _choice("pass_order", pass_order, _PASS_ORDERS),
        }
        # Set once here, never again (__setattr__ refuses): the native spec cannot go stale.
        for name, value in fields.items():
            object.__setattr__(self, "_" + name, value)
        object.__setattr__(self, "_key", tuple(fields.values()))
        object.__setattr__(self, "_thread_count", threads or 0)
        object.__setattr__(self, "_spec", self._make_spec())

    @property
    def resize(self) -> int | tuple[int, int] | None:
        """The short side (int), the exact (height, width), or None for no resize."""
        return self._resize

    @property
    def crop(self) -> tuple[int, int] | None:
        """The centre crop (height, width), or None for no crop."""
        return self._crop

    @property
    def mean(self) -> tuple[float, float, float]:
        return self._mean

    @property
    def std(self) -> tuple[float, float, float]:
        return self._std

    @property
    def interpolation(self) -> str:
        return self._interpolation

    @property
    def antialias(self) -> bool:
        return self._antialias

    @property
    def layout(self) -> str:
        return self._layout

    @property
    def channel_order(self) -> str:
        return self._channel_order

    @property
    def threads(self) -> int | None:
        return self._threads

    @property
    def dtype(self) -> str:
        return self._dtype

    @property
    def pass_order(self) -> str:
        return self._pass_order

    def replace(self, **changes: Any) -> ImageTransform:
        """A new transform with `changes` applied (validated like the constructor's
        arguments); this one stays as it is. `transform.replace(threads=1)`."""
        unknown = set(changes) - set(_FIELDS)
        if unknown:
            raise _type_error(f"unknown ImageTransform fields: {', '.join(sorted(unknown))}")
        return type(self)(**{**self._fields(), **changes})

    def _fields(self) -> dict[str, Any]:
        return dict(zip(_FIELDS, self._key))

    def __reduce__(self) -> tuple[Any, ...]:
        # By field name, so that pickles survive reordered or added (defaulted) fields; the
        # native spec is rebuilt on the other side, never pickled.
        return (_from_fields, (type(self), self._fields()))

    def __copy__(self) -> ImageTransform:
        return self  # immutable: a copy is the same value, native spec included

    def __deepcopy__(self, memo: dict[int, Any]) -> ImageTransform:
        return self

    def __setattr__(self, name: str, value: Any) -> None:
        raise FrozenInstanceError(
            f"ImageTransform is immutable: use transform.replace({name}=...) for a changed copy"
        )

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"ImageTransform is immutable: cannot delete {name!r}")

    @classmethod
    def imagenet(cls, **overrides: Any) -> ImageTransform:
        """The standard ImageNet evaluation transform: resize 256, crop 224, ImageNet stats."""
        return cls(
            **{"resize": 256, "crop": 224, "mean": IMAGENET_MEAN, "std": IMAGENET_STD, **overrides}
        )

    def _make_spec(self) -> _core.ImageSpec:
        if self._resize is None:
            resize_h, resize_w = 0, 0
        elif isinstance(self._resize, int):
            resize_h, resize_w = self._resize, 0
        else:
            resize_h, resize_w = self._resize
        crop_h, crop_w = self._crop if self._crop is not None else (0, 0)
        order = _installed_pillow_order() if self._pass_order == "auto" else self._pass_order
        fields = {
            "resize_height": resize_h,
            "resize_width": resize_w,
            "crop_height": crop_h,
            "crop_width": crop_w,
            "interpolation": self._interpolation,
            "antialias": self._antialias,
            "mean": self._mean,
            "std": self._std,
            "layout": self._layout,
            "bgr": self._channel_order == "BGR",
            "pass_order": order,
        }
        return _core.ImageSpec(fields)  # validates sizes, mean and std

    def output_shape(self, count: int, height: int, width: int) -> tuple[int, int, int, int]:
        """Shape of the output for `count` images of height x width."""
        return self._spec.output_shape(count, height, width)

    def __call__(
        self,
        images: ImageInput | Sequence[ImageInput],
        out: np.ndarray | None = None,
        *,
        fast_decode: bool = False,
    ) -> np.ndarray:
        """Transform one image or a list of images into one batch (N x 3 x H x W by default).

        `out` receives the batch in place (e.g. an array you then pass to `Session.run`, so
        nothing is copied on the way to the model); it must be C-contiguous with the exact
        shape and dtype, and share no memory with the images. `fast_decode=True` lets Pillow
        decode JPEGs at a reduced scale (draft mode): much faster for large photos, but the
        pixels then differ from a full decode, so results are no longer identical to
        torchvision's.
        """
        batch = self._as_list(images)
        arrays = [self._as_array(image, index, fast_decode) for index, image in enumerate(batch)]
        if not arrays:
            raise _argument_error("no images given")
        height, width = _image_size(arrays[0])
        # Checked against the machine's memory only when the array is ours to allocate.
        dtype = self._dtype
        shape = self._spec.output_shape(len(arrays), height, width, dtype if out is None else None)
        if out is None:
            out = np.empty(shape, dtype=dtype)
        elif not isinstance(out, np.ndarray):
            raise _type_error(f"out must be a numpy array, got {type(out).__name__}")
        elif out.shape != shape or out.dtype != dtype:
            error = _argument_error if out.dtype == dtype else _type_error
            raise error(f"out must be {dtype}{list(shape)}, got {out.dtype}{list(out.shape)}")
        _core.transform_images(arrays, self._spec, out, self._thread_count)
        return out

    transform = __call__

    @staticmethod
    def _as_list(images: Any) -> list[Any]:
        if isinstance(images, (list, tuple)):
            return list(images)
        return [images]

    def _as_array(self, image: Any, index: int, fast_decode: bool) -> Any:
        if isinstance(image, np.ndarray) or (
            hasattr(image, "__array_interface__") and not _is_pil(image)
        ):
            return image
        if _is_pil(image):
            return _pil_to_array(image)
        if isinstance(image, (str, os.PathLike, bytes, bytearray, memoryview)):
            return _pil_to_array(self._decode(image, index, fast_decode))
        raise _type_error(
            f"image {index}: expected a uint8 numpy array, a PIL image, a path or encoded bytes, "
            f"got {type(image).__name__}"
        )

    def _decode(self, source: Any, index: int, fast_decode: bool) -> Any:
        try:
            from PIL import Image, UnidentifiedImageError
        except ImportError:
            raise ImportError("decoding image files needs Pillow: pip install pillow") from None
        if isinstance(source, (bytes, bytearray, memoryview)):
            name = f"image {index} ({len(source)} bytes)"
            file: Any = io.BytesIO(bytes(source))
        else:
            file = os.fspath(source)
            name = f"image {index} ({file!r})"
        try:
            opened = Image.open(file)
            if fast_decode:
                opened.draft("RGB", self._draft_size(opened.size))
            opened.load()
        except Image.DecompressionBombError as error:
            raise _argument_error(
                f"{name} is refused as a possible decompression bomb: {error} "
                "(PIL.Image.MAX_IMAGE_PIXELS sets Pillow's limit)"
            ) from error
        except (FileNotFoundError, IsADirectoryError, PermissionError):
            raise
        # What Pillow's decoders raise on corrupt or truncated data.
        except (
            UnidentifiedImageError,
            OSError,
            SyntaxError,
            ValueError,
            EOFError,
            struct.error,
        ) as error:
            raise _argument_error(f"{name}: cannot decode: {error}") from error
        return opened

    def _draft_size(self, size: tuple[int, int]) -> tuple[int, int]:
        # The decoded image must stay at least as large as what the resize needs.
        if self._resize is None:
            return size
        if isinstance(self._resize, int):
            return (self._resize, self._resize)
        return (self._resize[1], self._resize[0])

    def to_dict(self) -> dict[str, Any]:
        """Every field, JSON-ready (e.g. for model metadata); `from_dict` reverses it."""
        return {
            name: list(value) if isinstance(value, tuple) else value
            for name, value in self._fields().items()
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImageTransform:
        """The transform `to_dict` described; missing fields take their defaults."""
        if not isinstance(data, dict):
            raise _type_error(f"expected a dict, got {type(data).__name__}")
        unknown = set(data) - set(_FIELDS)
        if unknown:
            raise _argument_error(f"unknown ImageTransform fields: {', '.join(sorted(unknown))}")
        return cls(**data)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ImageTransform):
            return NotImplemented
        return self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={value!r}" for name, value in self._fields().items())
        return f"{type(self).__name__}({fields})"


def _from_fields(cls: type[ImageTransform], fields: dict[str, Any]) -> ImageTransform:
    """What unpickling calls: the transform with these fields."""
    return cls(**fields)


def _image_size(image: Any) -> tuple[int, int]:
    shape = np.shape(image)
    if len(shape) < 2:
        raise _argument_error(f"image 0: expected HxW or HxWxC, got shape {tuple(shape)}")
    return int(shape[0]), int(shape[1])


def _is_pil(image: Any) -> bool:
    module = type(image).__module__
    return module.startswith("PIL.") and hasattr(image, "mode") and hasattr(image, "convert")


def _pil_to_array(image: Any) -> np.ndarray:
    # RGB, grey and RGBA map straight to arrays; every other mode goes through Pillow's own
    # conversion to RGB, as torchvision users do with .convert("RGB").
    if image.mode not in ("RGB", "L", "RGBA"):
        image = image.convert("RGB")
    return np.asarray(image)
