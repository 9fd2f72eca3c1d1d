"""`ImageTransform`: Resize -> CenterCrop -> ToTensor -> Normalize in one native pass.

The reference is torchvision on PIL images: `Resize(resize)`, `CenterCrop(crop)`,
`ToTensor()`, `Normalize(mean, std)`. The uint8 crop equals Pillow's byte for byte (Pillow's
fixed-point resampling, torchvision's sizing and crop offsets, zero padding when the crop is
larger than the image) and the float32 output equals torchvision's bit for bit.

Images may be uint8 numpy arrays (HxW or HxWx1 grey, HxWx3 RGB or BGR, HxWx4 with alpha
dropped, any row stride), PIL images, file paths or encoded bytes. Arrays are read in place;
arrays whose pixels are not packed within a row (e.g. `image[:, ::2]`) or whose rows run
backwards (`image[::-1]`) are copied once. PIL images of mode L, RGB, RGBA and RGBX are read
in place from Pillow's own storage (Pillow >= 11.2, images in one storage block: up to 16 MiB
by default, about 4 megapixels in RGB); others are copied once, and other modes converted to
RGB first. JPEGs are decoded natively (see `fastort._decode`), other formats by Pillow.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from typing import Any, Literal, Union

import numpy as np

from . import _core, _decode
from ._decode import _argument_error, _type_error

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "ImageInput", "ImageTransform"]

# The core's defaults (Resize(256), CenterCrop(224), ImageNet's statistics), read from it
# rather than restated: the bound spec owns every default, limit and name.
_DEFAULT = _core.ImageTransformSpec()
IMAGENET_MEAN: tuple[float, float, float] = _DEFAULT.mean
IMAGENET_STD: tuple[float, float, float] = _DEFAULT.std

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


def _torchvision_size(value: Any) -> Any:
    """torchvision's sizes: one value in a sequence is the int (Resize([256]) is the short
    side, CenterCrop([224]) a square); anything else goes to the core as it is."""
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)) and len(value) == 1:
        return value[0]
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

    A value over the core's `ImageTransformSpec`, which checks every option once: immutable
    (change it with `replace(**changes)`, which returns a new transform), equal and hashed by
    its fields, picklable and copyable with every field, and described by `to_dict()` /
    `from_dict()`.

    Args:
        resize: short side (torchvision's `Resize(int)` or `Resize([int])`: the long side is
            truncated), a (height, width) pair, or None for no resize. Sides are at most
            `fastort._core.MAX_IMAGE_SIDE`.
        crop: centre crop size, int or (height, width), or None for no crop.
        mean, std: per-channel normalisation (RGB order), applied after dividing by 255.
        interpolation: "bilinear" (default), "bicubic" or "nearest", as Pillow does them.
        antialias: False keeps the filter narrow when downscaling (OpenCV-like, not PIL).
        layout: "NCHW" (default) or "NHWC".
        channel_order: "RGB", or "BGR" for images from OpenCV (output stays RGB).
        threads: threads for a batch or a large image, at most `fastort._core.MAX_THREADS`
            (1024). "auto" (the default; None and 0 mean the same): one per CPU this process
            may use, as its affinity mask, its container's CPU quota and OMP_NUM_THREADS allow.
        dtype: "float32" (normalised) or "uint8" (the exact resized crop, no normalisation).
        pass_order: Pillow 13 changed the order of its two resampling passes for images whose
            height shrinks much more than their width, which changes the last bit of some
            pixels. "auto" follows the installed Pillow (Pillow 13's order without Pillow);
            "pillow13" or "horizontal_first" (Pillow <= 12) force one.
    """

    __slots__ = ("_auto_pass_order", "_spec")

    _spec: _core.ImageTransformSpec  # every option, checked once by the core
    _auto_pass_order: bool  # pass_order="auto": the spec holds the installed Pillow's order

    def __init__(
        self,
        resize: int | Sequence[int] | None = _DEFAULT.resize,
        crop: int | Sequence[int] | None = _DEFAULT.crop,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        interpolation: str = _DEFAULT.interpolation,
        antialias: bool = _DEFAULT.antialias,
        layout: str = _DEFAULT.layout,
        channel_order: str = _DEFAULT.channel_order,
        threads: int | Literal["auto"] | None = "auto",
        dtype: str = _DEFAULT.dtype,
        pass_order: str = "auto",
    ) -> None:
        # "auto" and None are Python's spellings of the core's 0.
        if isinstance(threads, str) and threads == "auto":
            threads = None
        if threads is not None and (
            isinstance(threads, bool) or not isinstance(threads, (int, np.integer))
        ):
            raise _type_error(f'threads must be "auto", None or an int, got {threads!r}')
        auto = isinstance(pass_order, str) and pass_order == "auto"
        spec = _core.ImageTransformSpec(
            resize=_torchvision_size(resize),
            crop=_torchvision_size(crop),
            mean=mean,
            std=std,
            interpolation=interpolation,
            antialias=antialias,
            layout=layout,
            channel_order=channel_order,
            threads=0 if threads is None else threads,
            dtype=dtype,
            pass_order=_installed_pillow_order() if auto else pass_order,
        )
        # Set once here, never again (__setattr__ refuses).
        object.__setattr__(self, "_spec", spec)
        object.__setattr__(self, "_auto_pass_order", auto)

    @property
    def resize(self) -> int | tuple[int, int] | None:
        """The short side (int), the exact (height, width), or None for no resize."""
        return self._spec.resize

    @property
    def crop(self) -> tuple[int, int] | None:
        """The centre crop (height, width), or None for no crop."""
        return self._spec.crop

    @property
    def mean(self) -> tuple[float, float, float]:
        return self._spec.mean

    @property
    def std(self) -> tuple[float, float, float]:
        return self._spec.std

    @property
    def interpolation(self) -> str:
        return self._spec.interpolation

    @property
    def antialias(self) -> bool:
        return self._spec.antialias

    @property
    def layout(self) -> str:
        return self._spec.layout

    @property
    def channel_order(self) -> str:
        return self._spec.channel_order

    @property
    def threads(self) -> int:
        """Threads for a batch or a large image; 0 ("auto") for one per CPU this process may
        use."""
        return self._spec.threads

    @property
    def dtype(self) -> str:
        return self._spec.dtype

    @property
    def pass_order(self) -> str:
        return "auto" if self._auto_pass_order else self._spec.pass_order

    def replace(self, **changes: Any) -> ImageTransform:
        """A new transform with `changes` applied (validated like the constructor's
        arguments); this one stays as it is. `transform.replace(threads=1)`."""
        unknown = set(changes) - set(_FIELDS)
        if unknown:
            raise _type_error(f"unknown ImageTransform fields: {', '.join(sorted(unknown))}")
        return type(self)(**{**self._fields(), **changes})

    def _fields(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _FIELDS}

    def __reduce__(self) -> tuple[Any, ...]:
        # By field name, so that pickles survive reordered or added (defaulted) fields, and
        # "auto" is resolved again where the pickle is loaded.
        return (_from_fields, (type(self), self._fields()))

    def __copy__(self) -> ImageTransform:
        return self  # immutable: a copy is the same value

    def __deepcopy__(self, memo: dict[int, Any]) -> ImageTransform:
        return self

    def __setattr__(self, name: str, value: Any) -> None:
        # dataclasses is imported here, not at `import fastort` (it costs a millisecond or two).
        from dataclasses import FrozenInstanceError

        raise FrozenInstanceError(
            f"ImageTransform is immutable: use transform.replace({name}=...) for a changed copy"
        )

    def __delattr__(self, name: str) -> None:
        from dataclasses import FrozenInstanceError

        raise FrozenInstanceError(f"ImageTransform is immutable: cannot delete {name!r}")

    @classmethod
    def imagenet(cls, **overrides: Any) -> ImageTransform:
        """The standard ImageNet evaluation transform (the defaults): resize 256, crop 224,
        ImageNet's mean and std."""
        return cls(**overrides)

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
        shape and dtype, and share no memory with the images.

        Paths and bytes holding JPEGs are decoded natively, several at once on the transform's
        threads, with pixels identical to Pillow's decode; other formats are decoded by Pillow.
        `fast_decode=True` decodes JPEGs at a reduced scale (libjpeg's DCT scaling by 1/2, 1/4
        or 1/8, the largest that keeps the image at least as large as the resize needs),
        exactly as Pillow's `draft("RGB", size)` would: much faster for large photos, but the
        pixels then differ from a full decode, so results are no longer identical to
        torchvision's on the full image.
        """
        items = self._as_list(images)
        inputs: list[Any] = [None] * len(items)
        encoded: list[int] = []
        for index, image in enumerate(items):
            if isinstance(image, _decode.ENCODED_TYPES):
                encoded.append(index)
            else:
                inputs[index] = self._as_input(image, index)
        if encoded:
            draft = self._draft_size() if fast_decode else None
            decoded = _decode.decode(
                [items[i] for i in encoded], encoded, self._spec.threads, draft, spec=self._spec
            )
            for index, image in zip(encoded, decoded):
                native = isinstance(image, _core.DecodedImage)
                inputs[index] = image if native else _pil_input(image, index)
        return _core.transform_images(inputs, self._spec, out)

    transform = __call__

    @staticmethod
    def _as_list(images: Any) -> list[Any]:
        if isinstance(images, (list, tuple)):
            return list(images)
        return [images]

    @staticmethod
    def _as_input(image: Any, index: int) -> Any:
        if isinstance(image, np.ndarray):
            return image
        # Before hasattr(image, "__array_interface__"): on a PIL image, that property copies
        # every pixel (tobytes()).
        if _is_pil(image):
            return _pil_input(image, index)
        if hasattr(image, "__array_interface__"):
            return image
        raise _type_error(
            f"image {index}: expected a uint8 numpy array, a PIL image, a path or encoded bytes, "
            f"got {type(image).__name__}"
        )

    def _draft_size(self) -> tuple[int, int] | None:
        """Pillow's draft size (width, height): the decoded image must stay at least as large
        as what the resize needs. None (a full decode) without a resize."""
        resize = self.resize
        if resize is None:
            return None
        if isinstance(resize, int):
            return (resize, resize)
        return (resize[1], resize[0])

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
        return self._spec == other._spec and self._auto_pass_order == other._auto_pass_order

    def __hash__(self) -> int:
        return hash((self._spec, self._auto_pass_order))

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={value!r}" for name, value in self._fields().items())
        return f"{type(self).__name__}({fields})"


def _from_fields(cls: type[ImageTransform], fields: dict[str, Any]) -> ImageTransform:
    """What unpickling calls: the transform with these fields."""
    return cls(**fields)


def _is_pil(image: Any) -> bool:
    module = type(image).__module__
    return module.startswith("PIL.") and hasattr(image, "mode") and hasattr(image, "convert")


def _pil_input(image: Any, index: int) -> Any:
    """What the core reads of a PIL image, loaded: the image itself for the modes it reads in
    place (L, RGB, RGBA, RGBX), else Pillow's own conversion to RGB, as torchvision users do
    with .convert("RGB"). An image Pillow cannot load or convert raises InvalidArgumentError
    naming it."""
    return _decode.pil_pixels(image, index, convert=image.mode not in ("RGB", "L", "RGBA", "RGBX"))
