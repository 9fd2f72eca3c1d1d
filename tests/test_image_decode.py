"""Encoded images: JPEGs decoded natively (byte for byte Pillow's decode), other formats by
Pillow, PIL images read in place, and every kind of bad file."""

from __future__ import annotations

import io
import os
import re
import struct
import threading
from pathlib import Path

import numpy as np
import pytest

import fastort
from fastort import ImageTransform, InvalidArgumentError, InvalidTypeError, read_image
from gil import python_steps_during

skimage_data = pytest.importorskip("skimage.data")
Image = pytest.importorskip("PIL.Image")
cv2 = pytest.importorskip("cv2")


def pillow_pixels(source: bytes | Path) -> np.ndarray:
    file = io.BytesIO(source) if isinstance(source, bytes) else source
    return np.asarray(Image.open(file).convert("RGB"))


def jpeg(pixels: np.ndarray, **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", **options)
    return buffer.getvalue()


def opencv_jpeg(pixels: np.ndarray, sampling: str, restart: int = 0) -> bytes:
    """JPEGs with the subsamplings Pillow's encoder cannot write (4:4:0, 4:1:1)."""
    factor = getattr(cv2, f"IMWRITE_JPEG_SAMPLING_FACTOR_{sampling}")
    options = [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, factor, cv2.IMWRITE_JPEG_QUALITY, 85]
    if restart:
        options += [cv2.IMWRITE_JPEG_RST_INTERVAL, restart]
    ok, encoded = cv2.imencode(".jpg", np.ascontiguousarray(pixels[..., ::-1]), options)
    assert ok
    return encoded.tobytes()


def encoded(pixels: np.ndarray, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, fmt, **options)
    return buffer.getvalue()


def noise(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def smooth(height: int, width: int) -> np.ndarray:
    """A photo-like image of any size: a real photo resized by Pillow."""
    photo = Image.fromarray(skimage_data.astronaut())
    return np.asarray(photo.resize((width, height), Image.Resampling.BILINEAR))


def cmyk_jpeg(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).convert("CMYK").save(buffer, "JPEG")
    return buffer.getvalue()


def exif_rotated(pixels: np.ndarray) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    return jpeg(pixels, exif=exif.tobytes())


@pytest.fixture(scope="module")
def corpus() -> dict[str, bytes]:
    """Every kind of JPEG the native decoder takes, and files it leaves to Pillow."""
    chelsea, coffee = skimage_data.chelsea(), skimage_data.coffee()
    files = {
        "chelsea-q95-444": jpeg(chelsea, quality=95, subsampling=0),
        "chelsea-q75-422": jpeg(chelsea, quality=75, subsampling=1),
        "chelsea-q50-420": jpeg(chelsea, quality=50, subsampling=2),
        "coffee-progressive": jpeg(coffee, quality=85, progressive=True),
        "coffee-optimized": jpeg(coffee, quality=90, optimize=True),
        "rocket-progressive-444": jpeg(
            skimage_data.rocket(), quality=80, progressive=True, subsampling=0
        ),
        "astronaut-440": opencv_jpeg(skimage_data.astronaut(), "440"),
        "astronaut-411": opencv_jpeg(skimage_data.astronaut(), "411"),
        "coffee-420-restart": opencv_jpeg(coffee, "420", restart=2),
        "noise-422-restart": opencv_jpeg(noise(61, 97), "422", restart=1),
        "grey": jpeg(skimage_data.camera(), quality=90),
        "grey-progressive": jpeg(skimage_data.camera()[:77, :301], progressive=True),
        "exif-rotated": exif_rotated(chelsea),
        "cmyk": cmyk_jpeg(chelsea),
        "png-rgb": encoded(coffee[:123, :200], "PNG"),
        "png-rgba": encoded(np.dstack([chelsea, chelsea[..., :1]]), "PNG"),
        "webp": encoded(chelsea, "WEBP", quality=80),
        "bmp": encoded(chelsea[:31, :45], "BMP"),
    }
    for height, width in [(1, 1), (1, 7), (13, 1), (17, 33), (255, 257), (1080, 1920)]:
        files[f"{height}x{width}-420"] = jpeg(smooth(height, width), quality=85)
        files[f"{height}x{width}-noise-444"] = jpeg(noise(height, width), subsampling=0)
    files["3000x4000"] = jpeg(smooth(3000, 4000), quality=90)
    return files


@pytest.fixture(scope="module")
def corpus_dir(corpus, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("corpus")
    for name, data in corpus.items():
        (folder / f"{name}.img").write_bytes(data)
    return folder


def test_every_file_reads_as_pillow_decodes_it(corpus, corpus_dir):
    for name, data in corpus.items():
        expected = pillow_pixels(data)
        path = corpus_dir / f"{name}.img"
        for source in (data, path, str(path), memoryview(data), bytearray(data)):
            pixels = read_image(source)
            assert pixels.dtype == np.uint8 and pixels.shape == expected.shape, name
            assert np.array_equal(pixels, expected), f"{name} via {type(source).__name__}"


def test_jpegs_are_decoded_natively_and_others_by_pillow(corpus):
    for name, data in corpus.items():
        native = fastort._core.decode_images([data], [0], 1)[0]
        left_to_pillow = name == "cmyk" or name.split("-")[0] in {"png", "webp", "bmp"}
        assert (native is None) == left_to_pillow, name


def test_grey_jpegs_stay_one_channel_for_the_transform(corpus):
    grey = fastort._core.decode_images([corpus["grey"]], [0], 1)[0]
    assert grey.shape == skimage_data.camera().shape
    assert np.array_equal(grey, np.asarray(Image.open(io.BytesIO(corpus["grey"]))))


@pytest.mark.parametrize("threads", [1, 2])
def test_transform_of_files_equals_transform_of_pillows_pixels(corpus, corpus_dir, threads):
    transform = ImageTransform(threads=threads)
    names = list(corpus)
    sources = [
        corpus[name]
        if i % 3 == 0
        else corpus_dir / f"{name}.img"
        if i % 3 == 1
        else str(corpus_dir / f"{name}.img")
        for i, name in enumerate(names)
    ]
    expected = transform([pillow_pixels(corpus[name]) for name in names])
    assert np.array_equal(transform(sources), expected)
    # One by one, and as uint8 crops.
    for name in names[:6]:
        assert np.array_equal(transform(corpus[name])[0], expected[names.index(name)])
    crops = transform.replace(dtype="uint8")
    assert np.array_equal(crops(sources), crops([pillow_pixels(corpus[n]) for n in names]))


def test_mixed_batches_of_paths_bytes_pil_images_and_arrays(corpus, corpus_dir):
    transform = ImageTransform(threads=2)
    chelsea = corpus["chelsea-q75-422"]
    batch = [
        chelsea,
        corpus_dir / "png-rgb.img",
        Image.open(io.BytesIO(corpus["coffee-optimized"])),
        pillow_pixels(corpus["grey"]),
        corpus["webp"],
    ]
    expected = transform(
        [pillow_pixels(chelsea)]
        + [pillow_pixels(corpus[n]) for n in ("png-rgb", "coffee-optimized", "grey", "webp")]
    )
    assert np.array_equal(transform(batch), expected)


@pytest.mark.parametrize(
    ("resize", "crop"), [(256, 224), (64, 56), ((120, 90), None), (None, 96), (700, 640)]
)
def test_fast_decode_equals_pillows_draft_decode(corpus, resize, crop):
    transform = ImageTransform(resize=resize, crop=crop, threads=2)
    names = ["1080x1920-420", "3000x4000", "chelsea-q95-444", "coffee-progressive", "grey"]
    names += ["astronaut-411", "cmyk", "png-rgb"]
    for name in names:
        if crop is None and name != names[0]:
            continue  # sizes differ without a crop: one image is enough
        opened = Image.open(io.BytesIO(corpus[name]))
        draft = transform._draft_size()
        if draft is not None:
            opened.draft("RGB", draft)
        expected = transform(np.asarray(opened.convert("RGB")))
        assert np.array_equal(transform(corpus[name], fast_decode=True), expected), name


def test_fast_decode_really_decodes_smaller():
    data = jpeg(smooth(1080, 1920), quality=90)
    full = fastort._core.decode_images([data], [0], 1)[0]
    reduced = fastort._core.decode_images([data], [0], 1, (256, 256))[0]
    assert full.shape == (1080, 1920, 3) and reduced.shape == (270, 480, 3)
    assert fastort._core.decode_images([data], [0], 1, (100, 100))[0].shape == (135, 240, 3)


def test_exif_orientation_is_not_applied(corpus):
    pixels = read_image(corpus["exif-rotated"])
    assert pixels.shape == skimage_data.chelsea().shape  # not rotated to 451 x 300


def test_pil_images_are_read_in_place():
    transform = ImageTransform(threads=1)
    rgb = Image.fromarray(smooth(1080, 1920))
    for mode in ("RGB", "L", "RGBA", "RGBX"):
        image = rgb.convert(mode)
        before = fastort._core.debug_counters()["image_bytes_copied"]
        result = transform(image)
        assert fastort._core.debug_counters()["image_bytes_copied"] == before, mode
        assert np.array_equal(result, transform(np.asarray(image))), mode


def test_pil_images_of_other_modes_match():
    transform = ImageTransform(threads=2)
    pixels = smooth(300, 400)
    for mode in ("P", "LA", "CMYK", "YCbCr", "1", "I;16"):
        image = Image.fromarray(pixels).convert(mode)
        assert np.array_equal(transform(image), transform(np.asarray(image.convert("RGB")))), mode


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"resize": (64, 2000)},  # the height shrinks most: the vertical pass goes first
        {"resize": None, "crop": 300},  # no resampling: rows read as they are
        {"interpolation": "bicubic", "dtype": "uint8"},
        {"interpolation": "nearest", "resize": 97},
    ],
)
def test_pil_images_stored_in_several_blocks_are_read_through_their_rows(options):
    # Over Pillow's 16 MiB block: Pillow keeps the rows in separate blocks and exports no
    # Arrow array for them.
    image = Image.fromarray(noise(3100, 2000, seed=3))
    grey = image.convert("L").resize((6000, 3000))
    transform = ImageTransform(threads=2, **options)
    for pil in (image, image.convert("RGBA"), grey):
        with pytest.raises(ValueError):
            pil.__arrow_c_array__()
        before = fastort._core.debug_counters()["image_bytes_copied"]
        result = transform(pil)
        assert fastort._core.debug_counters()["image_bytes_copied"] == before
        assert np.array_equal(result, transform(np.asarray(pil))), pil.mode


def test_pil_image_closed_after_the_call_is_not_needed():
    image = Image.fromarray(smooth(64, 80))
    expected = ImageTransform(resize=32, crop=32)(np.asarray(image))
    result = ImageTransform(resize=32, crop=32)(image)
    image.close()
    del image
    assert np.array_equal(result, expected)


def test_decoded_arrays_own_their_pixels(corpus):
    pixels = read_image(corpus["chelsea-q75-422"])
    assert pixels.flags.owndata is False and pixels.base is not None  # the decoder's buffer
    assert pixels.flags.writeable and pixels.flags.c_contiguous
    pixels[0, 0] = 0  # writable, and nothing else sees it
    assert not np.array_equal(pixels, read_image(corpus["chelsea-q75-422"]))


def test_decoding_runs_without_the_gil():
    data = jpeg(smooth(1080, 1920), quality=90)
    transform = ImageTransform(threads=1)
    assert python_steps_during(lambda: transform([data] * 8)) > 1000


def test_concurrent_calls_share_the_pool(corpus):
    data = corpus["coffee-progressive"]
    transform = ImageTransform(threads=2)
    expected = transform([data] * 3)
    failures: list[str] = []

    def work() -> None:
        for _ in range(5):
            if not np.array_equal(transform([data] * 3), expected):
                failures.append("differs")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_build_info_names_libjpeg_turbo():
    info = fastort.build_info()
    assert re.fullmatch(r"\d+\.\d+\.\d+", info["libjpeg_turbo"])
    assert info["jpeg_simd"] in {"avx2", "sse2", "neon", "none", "unknown"}
    assert info["version"] == fastort.__version__


# ---- bad input -------------------------------------------------------------------------------


def test_truncated_jpegs_raise_like_pillow(corpus):
    data = corpus["chelsea-q75-422"]
    for cut in (3, 20, 200, len(data) // 3, len(data) // 2, len(data) - 100, len(data) - 2):
        with pytest.raises(OSError):
            pillow_pixels(data[:cut])
        with pytest.raises(InvalidArgumentError, match=r"^image 0\b.*: cannot decode: "):
            read_image(data[:cut])
    progressive = corpus["coffee-progressive"]
    with pytest.raises(InvalidArgumentError, match="truncated"):
        read_image(progressive[: len(progressive) // 2])


def test_jpegs_whose_end_is_missing_or_padded_decode_where_pillow_decodes_them(corpus):
    # Pillow decodes a JPEG whose data ends before its EOI marker when every row came out
    # before its decoder asked for more data than there was, and raises otherwise; it
    # depends on where the last bits fall, so both outcomes occur across the corpus.
    outcomes = set()
    for name, data in corpus.items():
        if not data.startswith(b"\xff\xd8\xff") or not data.endswith(b"\xff\xd9"):
            continue
        variants = {"no EOI": data[:-2], "no D9": data[:-1], "EOI zeroed": data[:-2] + bytes(16)}
        for variant, damaged in variants.items():
            try:
                expected = pillow_pixels(damaged)
            except OSError:
                outcomes.add("raises")
                with pytest.raises(InvalidArgumentError, match="truncated"):
                    read_image(damaged)
                continue
            outcomes.add("decodes")
            np.testing.assert_array_equal(read_image(damaged), expected, err_msg=name + variant)
    assert outcomes == {"raises", "decodes"}


def test_every_exception_pillow_raises_on_a_bad_file_names_its_image(tmp_path):
    # A DDS file of a pixel format Pillow does not implement: it raises NotImplementedError.
    dds = (
        b"DDS "
        + struct.pack("<7I", 124, 0x0A1007, 256, 256, 65536, 1, 1)
        + bytes(44)
        + struct.pack("<3I", 32, 4, 0)
        + bytes(20)
        + struct.pack("<2I", 0x1000, 0)
        + bytes(12)
        + struct.pack("<I", 0x5D)
    )
    with pytest.raises(NotImplementedError):
        Image.open(io.BytesIO(dds)).load()
    path = tmp_path / "unimplemented.dds"
    path.write_bytes(dds)
    good = encoded(noise(9, 9), "PNG")
    for source in (dds, path):
        with pytest.raises(InvalidArgumentError, match=r"^image 0\b.*cannot decode"):
            read_image(source)
        with pytest.raises(InvalidArgumentError, match=r"^image 2\b.*cannot decode") as raised:
            ImageTransform(threads=2)([good, good, source])
        assert isinstance(raised.value.__cause__, NotImplementedError)


def test_bad_bytes_name_their_image_and_leave_the_pool_usable(corpus):
    good = corpus["chelsea-q95-444"]
    transform = ImageTransform(threads=2)
    bad_files = {
        "empty": b"",
        "text": b"hello, this is not an image",
        "soi only": b"\xff\xd8\xff",
        "garbage after soi": b"\xff\xd8\xff" + bytes(range(256)) * 4,
        "truncated": good[: len(good) // 2],
        "png header only": encoded(noise(8, 8), "PNG")[:40],
    }
    for name, data in bad_files.items():
        with pytest.raises(InvalidArgumentError, match=r"image 3\b.*cannot decode"):
            transform([good, good, good, data, good])
        assert np.array_equal(transform(good), transform(pillow_pixels(good))), name


def test_the_lowest_failing_index_is_reported(corpus):
    bad = b"\xff\xd8\xff\xe0 broken"
    with pytest.raises(InvalidArgumentError, match=r"^image 1\b"):
        ImageTransform(threads=2)([corpus["grey"], bad, bad, b""])


def damaged_copies(data: bytes, seed: int, count: int, first: int, flips: int | None = None):
    """`count` copies of `data`, each with `flips` random bytes (1 to 7 when None) from
    offset `first` on replaced (the last two, the EOI marker, kept when first > 2)."""
    rng = np.random.default_rng(seed)
    end = len(data) if first <= 2 else len(data) - 2
    for _ in range(count):
        damaged = bytearray(data)
        for at in rng.integers(first, end, flips or rng.integers(1, 8)):
            damaged[at] = rng.integers(0, 256)
        yield damaged


def test_corrupted_jpegs_never_crash_and_agree_with_pillow(corpus):
    agreed = 0
    for mutated in damaged_copies(corpus["chelsea-q75-422"], seed=1, count=150, first=2):
        try:
            expected = pillow_pixels(bytes(mutated))
        except Exception:  # Pillow's errors vary; only "it raised" matters
            expected = None
        try:
            pixels = read_image(bytes(mutated))
        except InvalidArgumentError:
            pixels = None
        if expected is not None and pixels is not None:
            assert np.array_equal(pixels, expected)
            agreed += 1
    assert agreed > 50  # most single-byte damage still decodes, identically


def test_decompression_bombs_are_refused_before_decoding(corpus, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    for name in ("chelsea-q75-422", "png-rgb", "cmyk"):
        with pytest.raises(InvalidArgumentError, match="decompression bomb"):
            read_image(corpus[name])
        with pytest.raises(InvalidArgumentError, match=r"image 1\b.*decompression bomb"):
            ImageTransform()([corpus["1x1-420"], corpus[name]])
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)  # Pillow's "no limit"
    assert read_image(corpus["chelsea-q75-422"]).shape == (300, 451, 3)


def test_a_header_claiming_huge_dimensions_is_refused(corpus):
    data = bytearray(corpus["1x1-420"])
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = (65000).to_bytes(2, "big") * 2  # 65000 x 65000 pixels
    with pytest.raises(InvalidArgumentError, match="decompression bomb"):
        read_image(bytes(data))


def test_files_that_cannot_be_read(tmp_path, corpus):
    with pytest.raises(FileNotFoundError) as missing:
        read_image(tmp_path / "missing.jpg")
    assert missing.value.filename == str(tmp_path / "missing.jpg")
    with pytest.raises(IsADirectoryError):
        read_image(tmp_path)
    if os.path.exists("/dev/zero"):  # an endless device: refused after its first bytes
        with pytest.raises(InvalidArgumentError, match="cannot decode"):
            read_image("/dev/zero")
    with pytest.raises(FileNotFoundError, match="image 1"):
        ImageTransform()([corpus["grey"], tmp_path / "missing.jpg"])
    locked = tmp_path / "locked.jpg"
    locked.write_bytes(corpus["grey"])
    locked.chmod(0)
    try:
        if os.access(locked, os.R_OK):
            pytest.skip("this user reads files regardless of their permissions (root)")
        with pytest.raises(PermissionError):
            read_image(locked)
    finally:
        locked.chmod(0o600)


def test_bad_sources_are_refused_with_type_errors():
    with pytest.raises(InvalidTypeError, match="read_image expects"):
        read_image(42)  # type: ignore[arg-type]
    with pytest.raises(InvalidTypeError, match="image 0"):
        ImageTransform()([object()])
    with pytest.raises((InvalidArgumentError, ValueError), match="NUL"):
        read_image("bad\0name.jpg")


def test_decoding_only_what_the_transform_reads_changes_no_pixel():
    """Random files and transforms: JPEGs decoded natively are decoded only where the
    transform reads them (whole iMCU columns cropped, rows above and below skipped), and the
    result must still equal the transform of Pillow's full decode."""
    rng = np.random.default_rng(7)
    samplings = ["444", "422", "420", "440", "411"]
    for case in range(40):
        height, width = (int(v) for v in rng.integers(1, 900, 2))
        pixels = smooth(height, width) if case % 2 else noise(height, width, seed=case)
        sampling = samplings[case % len(samplings)]
        if case % 3 == 0:
            data = jpeg(pixels, progressive=True, subsampling=case % 3)
        else:
            data = opencv_jpeg(pixels, sampling, restart=int(rng.integers(0, 3)))
        short = int(rng.integers(1, 2 * max(height, width)))
        crop = (int(rng.integers(1, short + 8)), int(rng.integers(1, short + 8)))
        transform = ImageTransform(
            resize=short if case % 4 else (int(rng.integers(1, 700)), int(rng.integers(1, 700))),
            crop=crop,
            interpolation=["bilinear", "bicubic", "nearest"][case % 3],
            antialias=bool(case % 5),
            dtype="uint8",
            threads=1 + case % 2,
        )
        expected = transform(pillow_pixels(data))
        assert np.array_equal(transform(data), expected), (case, height, width, sampling)
        fast = transform(data, fast_decode=True)
        opened = Image.open(io.BytesIO(data))
        opened.draft("RGB", transform._draft_size())
        assert np.array_equal(fast, transform(np.asarray(opened.convert("RGB")))), case


def test_a_small_crop_of_a_large_photo_decodes_a_small_window(corpus):
    transform = ImageTransform(resize=3000, crop=(40, 700))
    decoded = fastort._core.decode_images([corpus["3000x4000"]], [0], 1, spec=transform._spec)[0]
    first_row, first_column, rows, columns = decoded.window
    assert decoded.shape == (3000, 4000, 3)
    # A window around the crop (rows 1480-1520, columns 1650-2350 of 4000 x 3000), not the
    # whole photo.
    assert 1400 < first_row < 1480 and rows < 200
    assert 1550 < first_column < 1650 and columns < 800
    assert np.array_equal(
        transform(corpus["3000x4000"]), transform(pillow_pixels(corpus["3000x4000"]))
    )
    # Truncated below the window: still an error, as in Pillow.
    with pytest.raises(InvalidArgumentError, match="truncated"):
        transform(corpus["3000x4000"][: len(corpus["3000x4000"]) * 9 // 10])


def test_pil_images_that_pillow_cannot_load_or_convert_name_their_index(corpus):
    truncated = corpus["chelsea-q75-422"][:3000]
    good_pixels = pillow_pixels(corpus["chelsea-q95-444"])
    transform = ImageTransform(threads=2)
    unloadable = {
        "lazy, truncated": lambda: Image.open(io.BytesIO(truncated)),  # not loaded yet
        "closed": lambda: closed(Image.fromarray(good_pixels)),
        "unconvertible mode": lambda: Image.new("La", (8, 8)),
    }
    for name, make in unloadable.items():
        with pytest.raises(InvalidArgumentError, match=r"^image 2: cannot read the PIL image"):
            transform([good_pixels, good_pixels, make(), good_pixels])
        with pytest.raises(InvalidArgumentError) as raised:
            transform(make())
        assert raised.value.__cause__ is not None, name  # Pillow's own error, chained


def closed(image: Image.Image) -> Image.Image:
    image.close()
    return image


def test_a_window_decoded_for_one_transform_is_refused_by_another(corpus):
    # The private decode hands out what one transform reads; another transform must not read
    # beyond it (it read unowned memory, or crashed, before this was checked).
    data = corpus["3000x4000"]
    narrow = ImageTransform(resize=None, crop=(8, 4000))
    decoded = fastort._core.decode_images([data], [0], 1, spec=narrow._spec)[0]
    whole = ImageTransform(resize=None, crop=None, dtype="uint8")
    with pytest.raises(InvalidArgumentError, match="another transform reads"):
        fastort._core.transform_images([decoded], whole._spec)
    assert np.array_equal(
        fastort._core.transform_images([decoded], narrow._spec), narrow(pillow_pixels(data))
    )


def test_a_closed_pil_image_raises_pillows_error():
    image = Image.fromarray(smooth(40, 50))
    image.close()
    with pytest.raises(ValueError, match="closed image"):
        ImageTransform()(image)


FORGED_PIL = """
import ctypes, sys, numpy as np, fastort

new = ctypes.pythonapi.PyCapsule_New
new.restype, new.argtypes = ctypes.py_object, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
keep = []

def capsule(buffer, name):
    keep.extend([buffer, name])
    return new(ctypes.cast(buffer, ctypes.c_void_p), name, None)

def arrow(self, requested_schema=None):
    if sys.argv[1] == "arrow":  # the right capsule names over zeroed memory
        return (capsule(ctypes.create_string_buffer(256), b"arrow_schema"),
                capsule(ctypes.create_string_buffer(256), b"arrow_array"))
    raise ValueError("Image rows are not contiguous in memory")

class Core:
    ptr = capsule(ctypes.create_string_buffer(4), b"Pillow Imaging")  # 4 bytes: no struct

namespace = {"mode": "RGB", "size": (64, 64), "__arrow_c_array__": arrow, "im": Core(),
             "load": lambda self: None, "convert": lambda self, mode: self,
             "__array__": lambda self, dtype=None, copy=None: np.zeros((64, 64, 3), np.uint8)}
Forged = type("Image", (), namespace)
Forged.__module__ = "PIL.Image"  # poses as Pillow's
try:
    fastort.ImageTransform(resize=None, crop=None, dtype="uint8")(Forged())
except fastort.InvalidTypeError:  # not an array either: refused, with the process intact
    print("refused")
"""


@pytest.mark.parametrize("case", ["arrow", "rows"])
def test_objects_posing_as_pil_images_are_copied_not_trusted(case):
    from isolated import describe, run_python

    process = run_python(FORGED_PIL, case)
    assert process.returncode == 0, describe(process)
    assert process.stdout.strip() == "refused"


def test_corrupt_data_that_ends_properly_decodes_as_in_pillow(corpus):
    # A damaged scan that makes libjpeg read to the end of the data while finishing: Pillow
    # decodes it (the file ends with its EOI marker); a file cut short is still an error.
    data = corpus["chelsea-q75-422"]
    both_decoded = 0
    for damaged in damaged_copies(data, seed=11, count=300, first=600, flips=3):
        try:
            pillow_pixels(bytes(damaged))
        except Exception:  # Pillow's errors vary; only "it raised" matters
            continue
        both_decoded += 1
        read_image(bytes(damaged))  # must not raise where Pillow decodes
    assert both_decoded > 100
    with pytest.raises(InvalidArgumentError, match="truncated"):
        read_image(bytes(data[:-2]))  # the EOI marker cut off
