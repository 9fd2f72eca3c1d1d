"""ImageTransform's inputs, outputs, options and bad input."""

from __future__ import annotations

import copy
import inspect
import io
import json
import multiprocessing
import os
import pickle
import re
import subprocess
import sys
import threading

import numpy as np
import pytest

import fastort
from fastort import ImageTransform, InvalidArgumentError, InvalidTypeError
from gil import python_steps_during
from reference import pil_reference

skimage_data = pytest.importorskip("skimage.data")
MAX_SIDE = fastort._core.MAX_IMAGE_SIDE
Image = pytest.importorskip("PIL.Image")


@pytest.fixture
def photo() -> np.ndarray:
    return skimage_data.chelsea()


def test_defaults_are_imagenet(photo):
    out = ImageTransform.imagenet()(photo)
    assert out.shape == (1, 3, 224, 224) and out.dtype == np.float32
    assert ImageTransform() == ImageTransform.imagenet()


def test_pil_images_paths_and_bytes_decode_like_pillow(photo, tmp_path):
    path = tmp_path / "cat.png"
    Image.fromarray(photo).save(path)
    expected = ImageTransform()(photo)
    for source in (Image.open(path), path, str(path), path.read_bytes()):
        assert np.array_equal(ImageTransform()(source), expected)


def test_grey_and_rgba_and_other_pil_modes(photo):
    grey = Image.fromarray(photo).convert("L")
    as_rgb = ImageTransform()(grey.convert("RGB"))
    assert np.array_equal(ImageTransform()(grey), as_rgb)
    assert np.array_equal(ImageTransform()(np.asarray(grey)[:, :, None]), as_rgb)
    rgba = Image.fromarray(photo).convert("RGBA")
    assert np.array_equal(ImageTransform()(rgba), ImageTransform()(photo))
    palette = Image.fromarray(photo).convert("P")
    assert np.array_equal(ImageTransform()(palette), ImageTransform()(palette.convert("RGB")))


def test_batch_of_mixed_sizes_fills_one_array():
    images = [
        skimage_data.chelsea(),
        skimage_data.coffee(),
        skimage_data.camera(),
        skimage_data.rocket(),
    ]
    batch = ImageTransform(threads=2)(images)
    assert batch.shape == (4, 3, 224, 224)
    for index, image in enumerate(images):
        assert np.array_equal(batch[index], ImageTransform(threads=1)(image)[0])


def test_threads_do_not_change_results():
    image = np.asarray(Image.fromarray(skimage_data.astronaut()).resize((1920, 1080)))
    one = ImageTransform(threads=1)(image)
    for threads in (2, 3, 8):
        assert np.array_equal(ImageTransform(threads=threads)(image), one)


def test_the_gil_is_released_while_kernels_run():
    large = np.random.default_rng(0).integers(0, 256, (3000, 4000, 3), dtype=np.uint8)
    transform = ImageTransform(threads=1)
    transform(large)  # warm-up
    assert python_steps_during(lambda: transform([large] * 4)) > 1000


def test_out_is_written_in_place(photo):
    transform = ImageTransform()
    out = np.full((2, 3, 224, 224), np.nan, np.float32)
    result = transform([photo, photo], out=out)
    assert result is out and np.array_equal(out, transform([photo, photo]))


def test_out_overlapping_an_image_is_refused():
    memory = np.zeros(4096, np.uint8)
    memory[:] = np.arange(4096) % 251
    transform = ImageTransform(resize=None, crop=8)  # float32 1x3x8x8: 768 bytes
    out = memory[1024:1792].view(np.float32).reshape(1, 3, 8, 8)
    separate = memory[:768].reshape(16, 16, 3)  # ends where out starts
    assert not np.shares_memory(separate, out)
    expected = transform(separate.copy())
    assert transform(separate, out=out) is out and np.array_equal(out, expected)
    for start in (1000, 1024, 1500, 1791):  # overlapping views, not the same array
        image = memory[start : start + 768].reshape(16, 16, 3)
        assert np.shares_memory(image, out)
        with pytest.raises(fastort.InvalidArgumentError, match="out shares memory with image 0"):
            transform(image, out=out)
    pair = memory[2048:3584].view(np.float32).reshape(2, 3, 8, 8)
    with pytest.raises(fastort.InvalidArgumentError, match="out shares memory with image 1"):
        transform([separate, memory[3000:3768].reshape(16, 16, 3)], out=pair)
    same = ImageTransform(resize=None, crop=None, dtype="uint8", layout="NHWC")
    batch = memory[:768].reshape(1, 16, 16, 3)
    with pytest.raises(fastort.InvalidArgumentError, match="shares memory"):
        same(batch[0], out=batch)


def test_overlap_is_judged_byte_by_byte_like_shares_memory():
    # Row-strided images with out placed at random, often in the gaps between rows.
    rng = np.random.default_rng(5)
    memory = np.zeros(1 << 14, np.uint8)
    refused = accepted = 0
    for _ in range(300):
        height, width = rng.integers(1, 12, 2)
        stride = width * 3 + rng.integers(0, 40)
        start = rng.integers(0, 4096)
        image = np.lib.stride_tricks.as_strided(
            memory[start:], (height, width, 3), (stride, 3, 1), writeable=False
        )
        memory[:] = rng.integers(0, 256, memory.size, dtype=np.uint8)
        crop = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        transform = ImageTransform(resize=None, crop=crop, dtype="uint8", layout="NHWC")
        size = crop[0] * crop[1] * 3
        offset = rng.integers(max(0, start - size), start + height * stride + 1)
        out = memory[offset : offset + size].reshape(1, *crop, 3)
        if np.shares_memory(image, out):
            refused += 1
            with pytest.raises(fastort.InvalidArgumentError, match="shares memory"):
                transform(image, out=out)
        else:
            accepted += 1
            expected = transform(image.copy())
            assert np.array_equal(transform(image, out=out), expected)
    assert refused > 50 and accepted > 50


def test_views_with_row_strides_are_read_in_place(photo):
    big = np.zeros((400, 600, 3), np.uint8)
    big[50:350, 70:521] = photo
    view = big[50:350, 70:521]
    assert not view.flags.c_contiguous
    assert np.array_equal(ImageTransform()(view), ImageTransform()(photo))
    strided = np.ascontiguousarray(np.repeat(photo, 2, axis=1))[:, ::2]  # column stride: copied
    assert np.array_equal(ImageTransform()(strided), ImageTransform()(photo))


def test_only_images_with_unpacked_pixels_are_copied(photo):
    def copied_by(image: np.ndarray) -> int:
        before = fastort._core.debug_counters()["image_bytes_copied"]
        ImageTransform(threads=1)(image)
        return fastort._core.debug_counters()["image_bytes_copied"] - before

    big = np.zeros((400, 600, 4), np.uint8)
    big[50:350, 70:521, :3] = photo
    in_place = [
        photo,
        big[50:350, 70:521, :3].copy(),
        big[50:350, 70:521],  # RGBA, row-strided
        np.ascontiguousarray(big[:, :, 0])[50:350, 70:521],  # grey, row-strided
        np.ascontiguousarray(photo[:, :, :1]),  # HxWx1
    ]
    for image in in_place:
        assert copied_by(image) == 0
    column_strided = np.repeat(photo, 2, axis=1)[:, ::2]
    rgb_of_rgba = big[50:350, 70:521, :3]  # pixels 4 bytes apart
    flipped = photo[::-1]  # rows in decreasing order
    for image in (column_strided, rgb_of_rgba, flipped):
        assert not image.flags.c_contiguous
        assert copied_by(image) == image.size  # the image once, at its own size
    assert copied_by(photo) == 0


def test_broadcast_images_are_copied_and_strides_of_length_one_axes_ignored(photo):
    def result_and_copied(image: np.ndarray) -> tuple[np.ndarray, int]:
        before = fastort._core.debug_counters()["image_bytes_copied"]
        out = ImageTransform(resize=None, crop=None, dtype="uint8", layout="NHWC")(image)
        return out[0], fastort._core.debug_counters()["image_bytes_copied"] - before

    broadcast = np.broadcast_to(photo[:1], photo.shape)  # every row the same memory
    assert broadcast.strides[0] == 0
    out, copied = result_and_copied(broadcast)
    assert np.array_equal(out, np.ascontiguousarray(broadcast)) and copied == broadcast.size
    strided = np.lib.stride_tricks.as_strided
    one_row = [
        photo[:1][::-1],  # a negative row stride
        strided(photo, (1, *photo.shape[1:]), (-7, *photo.strides[1:])),
    ]
    one_column = strided(photo, (photo.shape[0], 1, 3), (photo.strides[0], 999, 1))
    for image in [*one_row, one_column]:
        out, copied = result_and_copied(image)
        assert np.array_equal(out, np.ascontiguousarray(image))
        assert copied == 0  # read in place


def test_uint8_mode_and_no_crop_or_resize(photo):
    exact = ImageTransform(dtype="uint8", layout="NHWC")(photo)[0]
    assert np.array_equal(exact, pil_reference(photo))
    whole = ImageTransform(resize=None, crop=None, dtype="uint8", layout="NHWC")(photo)[0]
    assert np.array_equal(whole, photo)
    sized = ImageTransform(resize=(100, 50), crop=None)(photo)
    assert sized.shape == (1, 3, 100, 50)


def test_a_one_element_resize_is_the_short_side_like_torchvision(photo):
    expected = ImageTransform(resize=256, crop=None)(photo)
    assert expected.shape == (1, 3, 256, 384)  # 300 x 451: 451 * 256 / 300 = 384.85
    for resize in ([256], (256,), [np.int64(256)]):
        transform = ImageTransform(resize=resize, crop=None)
        assert transform.resize == 256 and transform == ImageTransform(resize=256, crop=None)
        assert np.array_equal(transform(photo), expected)
        data = json.loads(json.dumps(transform.to_dict()))
        assert data["resize"] == 256 and ImageTransform.from_dict(data) == transform
    assert ImageTransform.from_dict({"resize": [256], "crop": None})(photo).shape == expected.shape
    landscape = np.zeros((480, 640, 3), np.uint8)
    assert ImageTransform(resize=[256], crop=None)(landscape).shape == (1, 3, 256, 341)
    square = ImageTransform(resize=None, crop=[100])  # CenterCrop([100]) stays square
    assert square.crop == (100, 100) and square(photo).shape == (1, 3, 100, 100)


def test_crop_larger_than_image_pads_with_zeros():
    image = np.full((10, 20, 3), 200, np.uint8)
    out = ImageTransform(resize=None, crop=(16, 24), dtype="uint8", layout="NHWC")(image)[0]
    assert np.array_equal(out, pil_reference(image, None, (16, 24)))
    assert out[0].max() == 0 and out[8, 12, 0] == 200


def test_dict_round_trip_is_json(photo):
    transform = ImageTransform(resize=(300, 200), crop=128, interpolation="bicubic", layout="NHWC")
    data = json.loads(json.dumps(transform.to_dict()))
    again = ImageTransform.from_dict(data)
    assert again == transform
    assert np.array_equal(again(photo), transform(photo))
    with pytest.raises(InvalidArgumentError, match="unknown ImageTransform fields: colour"):
        ImageTransform.from_dict({"colour": "red"})


# A value other than the default for every field of ImageTransform.
CHANGES = {
    "resize": (300, 200),
    "crop": (128, 96),
    "mean": (0.5, 0.25, 0.125),
    "std": (0.5, 2.0, 4.0),
    "interpolation": "bicubic",
    "antialias": False,
    "layout": "NHWC",
    "channel_order": "BGR",
    "threads": 3,
    "dtype": "uint8",
    "pass_order": "horizontal_first",
}


def test_every_field_is_listed_here():
    assert list(CHANGES) == list(inspect.signature(ImageTransform).parameters)


def test_dict_and_repr_round_trip_every_field():
    transform = ImageTransform(**CHANGES)
    data = json.loads(json.dumps(transform.to_dict()))
    assert list(data) == list(CHANGES)
    assert ImageTransform.from_dict(data) == transform
    assert {name: getattr(transform, name) for name in CHANGES} == CHANGES
    assert eval(repr(transform), {"ImageTransform": ImageTransform}) == transform


def test_a_transform_is_immutable(photo):
    transform = ImageTransform(resize=256, crop=224)
    before = transform(photo)
    for name in [*CHANGES, "_spec", "_resize", "colour"]:
        with pytest.raises(AttributeError, match="immutable"):
            setattr(transform, name, CHANGES.get(name, 100))
        with pytest.raises(AttributeError, match="immutable"):
            delattr(transform, name)
    assert transform == ImageTransform(resize=256, crop=224)
    assert repr(transform) == repr(ImageTransform(resize=256, crop=224))
    assert np.array_equal(transform(photo), before)


@pytest.mark.parametrize(("name", "value"), CHANGES.items())
def test_replace_makes_a_changed_copy(photo, name, value):
    transform = ImageTransform(threads=2)
    changed = transform.replace(**{name: value})
    assert getattr(changed, name) == value and changed != transform
    assert changed == ImageTransform(**{"threads": 2, name: value})
    assert transform == ImageTransform(threads=2)  # the original is untouched
    assert np.array_equal(changed(photo), ImageTransform(**{"threads": 2, name: value})(photo))


def test_replace_validates_like_the_constructor():
    transform = ImageTransform()
    assert transform.replace() == transform and transform.replace() is not transform
    assert transform.replace(resize=100, crop=None) == ImageTransform(resize=100, crop=None)
    with pytest.raises(InvalidTypeError, match="unknown ImageTransform fields: colour"):
        transform.replace(colour="red")
    with pytest.raises(InvalidArgumentError, match="resize sizes"):
        transform.replace(resize=0)
    with pytest.raises(InvalidArgumentError, match="threads must be between"):
        transform.replace(threads=-1)


def test_equality_and_hashing_are_by_value():
    one = ImageTransform(resize=[256], crop=(224,), mean=list(fastort.IMAGENET_MEAN))
    other = ImageTransform.imagenet()
    assert one == other and hash(one) == hash(other) and len({one, other}) == 1
    changed = [other.replace(**{name: value}) for name, value in CHANGES.items()]
    assert all(transform != other for transform in changed)
    assert len({other, *changed}) == len(CHANGES) + 1
    assert other != other.to_dict() and other != "ImageTransform()"


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_pickle_keeps_every_field(photo, protocol):
    transform = ImageTransform(**CHANGES)
    again = pickle.loads(pickle.dumps(transform, protocol=protocol))
    assert type(again) is ImageTransform and again == transform
    assert {name: getattr(again, name) for name in CHANGES} == CHANGES
    assert np.array_equal(again(photo), transform(photo))


def test_the_native_spec_pickles_and_copies_by_value():
    # In a child process: pybind11's own pickling aborts the interpreter with protocols 0 and 1.
    code = """if True:
        import copy, pickle, fastort
        spec = fastort._core.ImageTransformSpec(
            resize=(300, 200), crop=(128, 96), channel_order="BGR", threads=3
        )
        for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
            again = pickle.loads(pickle.dumps(spec, protocol))
            assert again == spec and hash(again) == hash(spec) and again is not spec, protocol
            assert repr(again) == repr(spec)
        assert copy.copy(spec) is spec and copy.deepcopy(spec) is spec  # immutable
        print("ok")
    """
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout == "ok\n", result.stderr


def test_the_native_spec_is_a_read_only_value_made_by_keyword():
    spec_class = fastort._core.ImageTransformSpec
    spec = spec_class(resize=(300, 200), crop=96, std=[0.5, 0.5, 0.5], channel_order="BGR")
    assert (spec.resize, spec.crop, spec.std, spec.channel_order) == (
        (300, 200),
        (96, 96),
        (0.5, 0.5, 0.5),
        "BGR",
    )
    same = spec_class(
        resize=[300, 200], crop=(96, 96), std=np.full(3, 0.5), channel_order="BGR", threads=0
    )
    assert same == spec and hash(same) == hash(spec) and same != spec_class()
    assert (
        spec_class() == spec_class(resize=256, crop=224) and spec_class().pass_order == "pillow13"
    )
    assert ImageTransform(pass_order="pillow13")._spec == spec_class()
    with pytest.raises(TypeError):
        spec_class(256)  # keyword-only
    with pytest.raises(AttributeError):
        spec.resize = 100
    assert spec.__eq__("spec") is NotImplemented


def test_copy_and_deepcopy_keep_every_field(photo):
    transform = ImageTransform(**CHANGES)
    for copied in (copy.copy(transform), copy.deepcopy(transform), copy.deepcopy([transform])[0]):
        assert copied == transform
        assert {name: getattr(copied, name) for name in CHANGES} == CHANGES
        assert np.array_equal(copied(photo), transform(photo))


def test_a_transform_goes_to_spawned_worker_processes(photo):
    transform = ImageTransform(**CHANGES)
    images = [photo, skimage_data.coffee()]
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        back = pool.apply(copy.deepcopy, (transform,))  # there and back again
        outputs = pool.map(transform, images)  # the transform runs in the worker
    assert back == transform and back.threads == CHANGES["threads"]
    for image, output in zip(images, outputs):
        assert np.array_equal(output, transform(image))


def test_concurrent_calls_share_nothing_mutable():
    images = [skimage_data.chelsea(), skimage_data.coffee()]
    transform = ImageTransform(threads=2)
    expected = [transform(image) for image in images]
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            for _ in range(20):
                assert np.array_equal(transform(images[index % 2]), expected[index % 2])
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


@pytest.mark.parametrize(
    ("image", "error", "match"),
    [
        (np.zeros((10, 10, 3), np.float32), InvalidTypeError, "expected a uint8 array"),
        (np.zeros((10, 10, 3), np.uint16), InvalidTypeError, "expected a uint8 array"),
        (np.zeros((0, 10, 3), np.uint8), InvalidArgumentError, "is empty"),
        (np.zeros((10, 0), np.uint8), InvalidArgumentError, "is empty"),
        (np.zeros((10, 10, 2), np.uint8), InvalidArgumentError, "2 channels"),
        (np.zeros((10, 10, 5), np.uint8), InvalidArgumentError, "5 channels"),
        (np.zeros((2, 10, 10, 3), np.uint8), InvalidArgumentError, "pass a batch as a list"),
        (np.zeros(10, np.uint8), InvalidArgumentError, "expected HxW or HxWxC"),
        (None, InvalidTypeError, "image 0"),
        (3.5, InvalidTypeError, "image 0"),
    ],
)
def test_bad_images(image, error, match):
    with pytest.raises(error, match=match):
        ImageTransform()(image)


def test_bad_batches_and_files(tmp_path, photo):
    with pytest.raises(InvalidArgumentError, match="no images"):
        ImageTransform()([])
    with pytest.raises(InvalidTypeError, match="image 1"):
        ImageTransform()([photo, 42])
    with pytest.raises(InvalidArgumentError, match="different sizes"):
        ImageTransform(crop=None)([photo, skimage_data.camera()])
    with pytest.raises(FileNotFoundError):
        ImageTransform()(tmp_path / "missing.jpg")
    (tmp_path / "junk.jpg").write_bytes(b"not a jpeg at all")
    with pytest.raises(InvalidArgumentError, match=r"image 0 \('.*junk.jpg'\): cannot decode"):
        ImageTransform()(tmp_path / "junk.jpg")
    with pytest.raises(InvalidArgumentError, match=r"image 0 \(14 bytes\): cannot decode"):
        ImageTransform()(b"\x89PNG truncated")
    with pytest.raises(IsADirectoryError):
        ImageTransform()(tmp_path)


def test_bad_out_arrays(photo):
    transform = ImageTransform()
    with pytest.raises(
        InvalidArgumentError,
        match=r"out must be float32\[1,3,224,224\], got float32\[1,3,224,225\]",
    ):
        transform(photo, out=np.empty((1, 3, 224, 225), np.float32))
    with pytest.raises(InvalidTypeError, match="out must be float32"):
        transform(photo, out=np.empty((1, 3, 224, 224), np.float64))
    with pytest.raises(InvalidTypeError, match="out must be a numpy array"):
        transform(photo, out=[0.0])
    not_contiguous = np.empty((1, 224, 3, 224), np.float32).transpose(0, 2, 1, 3)
    with pytest.raises(InvalidArgumentError, match="C-contiguous"):
        transform(photo, out=not_contiguous)
    readonly = np.empty((1, 3, 224, 224), np.float32)
    readonly.flags.writeable = False
    with pytest.raises(InvalidArgumentError, match="writable"):
        transform(photo, out=readonly)


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        (
            {"resize": 0},
            InvalidArgumentError,
            f"resize sizes must be between 1 and {MAX_SIDE}, got 0",
        ),
        ({"resize": -5}, InvalidArgumentError, "resize sizes"),
        ({"resize": (10, 0)}, InvalidArgumentError, r"resize sizes .*got \(10, 0\)"),
        ({"crop": 0}, InvalidArgumentError, "crop sizes"),
        ({"crop": (5, -1)}, InvalidArgumentError, r"crop sizes .*got \(5, -1\)"),
        ({"resize": 10**9}, InvalidArgumentError, "resize sizes"),
        ({"resize": "256"}, InvalidTypeError, "resize must be"),
        ({"crop": 2.5}, InvalidTypeError, "crop must be"),
        ({"mean": (0.5, 0.5)}, InvalidArgumentError, "mean must have 3 values"),
        ({"std": (1.0, 0.0, 1.0)}, InvalidArgumentError, "std must be a normal float32"),
        ({"std": (1.0, float("nan"), 1.0)}, InvalidArgumentError, "std must be a normal float32"),
        ({"mean": "abc"}, InvalidTypeError, "mean must be 3 numbers"),
        ({"interpolation": "lanczos"}, InvalidArgumentError, "interpolation must be one of"),
        ({"layout": "CHW"}, InvalidArgumentError, "layout must be one of"),
        ({"channel_order": "GBR"}, InvalidArgumentError, "channel_order must be one of"),
        ({"dtype": "float16"}, InvalidArgumentError, "dtype must be one of"),
        ({"antialias": "yes"}, InvalidTypeError, "antialias must be a bool"),
        ({"resize": (1, 2, 3)}, InvalidArgumentError, "resize must be .* got 3 values"),
        ({"crop": ()}, InvalidArgumentError, "crop must be .* got 0 values"),
        ({"crop": [2.5]}, InvalidTypeError, "crop must be"),
        ({"resize": {256}}, InvalidTypeError, "resize must be"),
        ({"interpolation": 2}, InvalidArgumentError, "interpolation must be one of"),
        ({"pass_order": "pillow12"}, InvalidArgumentError, "pass_order must be one of"),
    ],
)
def test_bad_options(options, error, match):
    with pytest.raises(error, match=match) as raised:
        ImageTransform(**options)
    assert raised.value.code is None and raised.value.ort_code is None  # like the core's errors


def test_the_error_types_come_from_the_core():
    assert fastort.InvalidArgumentError is fastort._core.InvalidArgumentError
    assert fastort.InvalidTypeError is fastort._core.InvalidTypeError
    assert issubclass(InvalidArgumentError, ValueError) and issubclass(
        InvalidArgumentError, fastort.FastortError
    )
    assert issubclass(InvalidTypeError, TypeError) and issubclass(
        InvalidTypeError, fastort.FastortError
    )


def test_a_decompression_bomb_is_an_invalid_argument(photo, tmp_path, monkeypatch):
    path = tmp_path / "bomb.png"
    Image.fromarray(photo).save(path)  # 451 x 300 pixels, over twice the limit set below
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 50_000)
    for source, name in [(path, repr(str(path))), (path.read_bytes(), "bytes")]:
        with pytest.raises(InvalidArgumentError, match="possible decompression bomb") as raised:
            ImageTransform()([photo, source])
        assert str(raised.value).startswith("image 1 (") and name in str(raised.value)
        assert isinstance(raised.value.__cause__, Image.DecompressionBombError)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"std": (1.0, 1e-40, 1.0)}, r"std must be a normal float32 .*, got 1e-40 \(channel 1\)"),
        ({"std": (1e-39, 1.0, 1.0)}, "std must be a normal float32"),
        ({"std": (1.0, 1.0, 1e-50)}, "std must be a normal float32 .*, got 0 "),
        ({"std": (1.0, float("inf"), 1.0)}, "std must be a normal float32"),
        ({"std": (1.0, 1.0, 1e39)}, "std must be a normal float32 .*, got inf"),
        ({"mean": (float("-inf"), 0.0, 0.0)}, "mean must be finite"),
        ({"mean": (0.0, 1e39, 0.0)}, "mean must be finite as a float32, got inf"),
        ({"mean": (-3e38, 0.0, 0.0), "std": (1e-3, 1.0, 1.0)}, "overflow float32"),
    ],
)
def test_normalisation_must_give_finite_values(options, match):
    with pytest.raises(fastort.InvalidArgumentError, match=match):
        ImageTransform(**options)


@pytest.mark.parametrize("value", ["123", b"\x01\x02\x03", bytearray(3), ["1", "2", "3"]])
@pytest.mark.parametrize("name", ["mean", "std"])
def test_mean_and_std_refuse_text(name, value):
    with pytest.raises(fastort.InvalidTypeError, match=f"{name} must be 3 numbers"):
        ImageTransform(**{name: value})


def test_mean_and_std_take_any_three_numbers(photo):
    expected = ImageTransform(mean=(0.5, 0.25, 0.0), std=(2.0, 1.0, 0.5))(photo)
    for mean, std in [
        ([0.5, 0.25, 0], np.array([2.0, 1.0, 0.5])),
        (np.array([0.5, 0.25, 0.0], np.float32), (np.float64(2), 1, np.float32(0.5))),
    ]:
        assert np.array_equal(ImageTransform(mean=mean, std=std)(photo), expected)


def test_one_thread_limit_from_the_core(photo):
    limit = fastort._core.MAX_THREADS
    assert limit == 1024
    expected = ImageTransform(threads=1)(photo)
    for threads in ("auto", None, 0, 2, np.int64(3), limit):
        assert np.array_equal(ImageTransform(threads=threads)(photo), expected)
    message = f"threads must be between 0 (the default) and {limit}, got "
    for threads in (-1, limit + 1, 10**30):
        with pytest.raises(fastort.InvalidArgumentError, match=re.escape(message)):
            ImageTransform(threads=threads)
    for threads in (2.0, "2", "Auto", True):
        with pytest.raises(
            fastort.InvalidTypeError, match='threads must be "auto", None or an int'
        ):
            ImageTransform(threads=threads)


def test_an_output_larger_than_memory_is_refused_before_allocating():
    image = np.zeros((4, 4, 3), np.uint8)
    needed = 64 * 3 * 65536 * 65536 * 4
    with pytest.raises(fastort.InvalidArgumentError, match=f"needs {needed} bytes, more than"):
        ImageTransform(crop=65536)([image] * 64)
    exact = ImageTransform(resize=(65536, 65536), crop=None, dtype="uint8", layout="NHWC")
    with pytest.raises(fastort.InvalidArgumentError, match=r"uint8\[64,65536,65536,3\] needs"):
        exact([image] * 64)


def test_the_memory_limit_is_the_machines_physical_memory():
    if not hasattr(os, "sysconf"):
        pytest.skip("os.sysconf is POSIX-only")
    memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    per_image = 3 * 4096 * 4096 * 4
    count = memory // per_image + 1  # the smallest batch over the limit
    with pytest.raises(fastort.InvalidArgumentError) as error:
        ImageTransform(crop=4096)([np.zeros((4, 4, 3), np.uint8)] * count)
    assert f"needs {count * per_image} bytes" in str(error.value)
    assert f"physical memory ({memory} bytes)" in str(error.value)
    transform = ImageTransform(crop=4096)  # a batch that fits is still allocated
    assert transform.output_shape(count, 4, 4) == (count, 3, 4096, 4096)


def test_huge_resize_of_a_thin_image_is_refused_not_attempted():
    with pytest.raises(InvalidArgumentError, match="gives a side over"):
        ImageTransform(resize=60000, crop=10)(np.zeros((1, 60000, 3), np.uint8))


def test_fast_decode_is_close_but_not_exact(tmp_path):
    large = Image.fromarray(skimage_data.astronaut()).resize((2048, 2048))
    path = tmp_path / "large.jpg"
    large.save(path, quality=95)
    exact = ImageTransform()(path)
    fast = ImageTransform()(path, fast_decode=True)
    assert fast.shape == exact.shape
    assert not np.array_equal(fast, exact)
    assert np.abs(fast - exact).mean() < 0.1


def test_transform_feeds_a_session_without_copies(save):
    import onnx
    from onnx import TensorProto, helper

    model = helper.make_model(
        helper.make_graph(
            [helper.make_node("ReduceMean", ["pixels"], ["mean"], keepdims=0)],
            "g",
            [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["N", 3, 224, 224])],
            [helper.make_tensor_value_info("mean", TensorProto.FLOAT, [])],
        ),
        opset_imports=[helper.make_opsetid("", 17)],
    )
    onnx.checker.check_model(model)
    session = fastort.Session(save(model))
    pixels = np.empty((1, 3, 224, 224), np.float32)
    ImageTransform()(skimage_data.coffee(), out=pixels)
    before = fastort._core.debug_counters()["input_bytes_copied"]
    (mean,) = session.run(None, {"pixels": pixels})
    assert fastort._core.debug_counters()["input_bytes_copied"] == before
    assert mean == pytest.approx(pixels.mean(), rel=1e-5)


def test_bytes_input_via_io(photo):
    buffer = io.BytesIO()
    Image.fromarray(photo).save(buffer, format="PNG")
    assert np.array_equal(ImageTransform()(buffer.getvalue()), ImageTransform()(photo))
