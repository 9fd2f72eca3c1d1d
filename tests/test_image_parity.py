"""Exactness: the uint8 crop equals Pillow's, the float output equals torchvision's."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import fastort
from reference import normalize_reference, pil_reference, resized_size, torchvision_transforms

skimage_data = pytest.importorskip("skimage.data")
PHOTOS = ["chelsea", "coffee", "astronaut", "rocket", "camera"]
FILTERS = ["bilinear", "bicubic", "nearest"]


def crop_of(image, resize=256, crop=224, interpolation="bilinear", **options):
    transform = fastort.ImageTransform(
        resize=resize,
        crop=crop,
        interpolation=interpolation,
        dtype="uint8",
        layout="NHWC",
        **options,
    )
    return transform(image)[0]


def assert_same(ours: np.ndarray, reference: np.ndarray) -> None:
    assert ours.shape == reference.shape
    if not np.array_equal(ours, reference):
        diff = np.abs(ours.astype(int) - reference.astype(int))
        where = np.argwhere(diff)
        pytest.fail(f"{len(where)} values differ, max {diff.max()}, first at {where[0].tolist()}")


@pytest.mark.parametrize("photo", PHOTOS)
@pytest.mark.parametrize("interpolation", FILTERS)
def test_real_photos_match_pillow(photo, interpolation):
    image = getattr(skimage_data, photo)()
    for resize, crop in [(256, 224), (232, 224), (300, 320), ((200, 150), (120, 100))]:
        assert_same(
            crop_of(image, resize, crop, interpolation),
            pil_reference(image, resize, crop, interpolation),
        )


@pytest.mark.parametrize("size", [(3000, 4000), (4000, 3000), (1080, 1920), (1920, 1080)])
def test_large_photos_match_pillow(size):
    image = np.asarray(
        __import__("PIL.Image", fromlist=["Image"])
        .fromarray(skimage_data.astronaut())
        .resize(size[::-1])
    )
    for interpolation in FILTERS:
        assert_same(
            crop_of(image, interpolation=interpolation),
            pil_reference(image, interpolation=interpolation),
        )


@pytest.mark.parametrize(
    ("height", "width", "channels"), [(3000, 4000, 3), (4000, 3000, 4), (2999, 17, 1)]
)
def test_large_random_images_match_pillow(height, width, channels):
    rng = np.random.default_rng(height + width)
    shape = (height, width) if channels == 1 else (height, width, channels)
    image = rng.integers(0, 256, shape, dtype=np.uint8)
    for interpolation in FILTERS:
        assert_same(
            crop_of(image, interpolation=interpolation),
            pil_reference(image, interpolation=interpolation),
        )


@pytest.mark.parametrize("channels", [3, 4])
@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic"])
def test_every_filter_width_matches_pillow(channels, interpolation):
    # Downscales from 1x to 40x: the horizontal kernels' specialisations by taps per output
    # pixel (groups of 4 taps, 1-8 and more), the last pixels of a row, which they read
    # with bounds checks, and row counts that are not a multiple of their 4-row blocks.
    rng = np.random.default_rng(channels)
    for factor in [1.0, 1.3, 1.9, 2.5, 3.3, 4.2, 5.5, 7.1, 9.0, 11.7, 14.0, 17.5, 23.0, 40.0]:
        width = int(rng.integers(300, 1500))
        height = int(rng.integers(1, 11))
        new_w = max(1, round(width / factor))
        image = rng.integers(0, 256, (height, width, channels), dtype=np.uint8)
        assert_same(
            crop_of(image, (height, new_w), None, interpolation),
            pil_reference(image, (height, new_w), None, interpolation),
        )


@st.composite
def cases(draw):
    height = draw(st.integers(1, 700))
    width = draw(st.integers(1, 700))
    channels = draw(st.sampled_from([1, 3, 4, 0]))  # 0: HxW grey
    resize = draw(
        st.one_of(
            st.none(),
            st.integers(1, 400),
            st.tuples(st.integers(1, 400), st.integers(1, 400)),
        )
    )
    crop = draw(
        st.one_of(
            st.none(), st.integers(1, 400), st.tuples(st.integers(1, 400), st.integers(1, 400))
        )
    )
    interpolation = draw(st.sampled_from(FILTERS))
    seed = draw(st.integers(0, 2**32 - 1))
    return height, width, channels, resize, crop, interpolation, seed


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_random_images_match_pillow(case):
    height, width, channels, resize, crop, interpolation, seed = case
    new_h, new_w = resized_size(height, width, resize)
    # Pillow resizes the whole image: keep that small enough to be quick.
    assume(new_h * new_w <= 4_000_000)
    rng = np.random.default_rng(seed)
    shape = (height, width) if channels == 0 else (height, width, channels)
    image = rng.integers(0, 256, shape, dtype=np.uint8)
    assert_same(
        crop_of(image, resize, crop, interpolation),
        pil_reference(image, resize, crop, interpolation),
    )


def test_float_output_equals_the_torchvision_formula():
    image = skimage_data.chelsea()
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    ours = fastort.ImageTransform(mean=mean, std=std)(image)[0]
    expected = normalize_reference(pil_reference(image), mean, std)
    assert ours.dtype == np.float32
    assert np.array_equal(ours, expected)  # bit for bit
    odd = fastort.ImageTransform(mean=(0.1, 0.7, -3.25), std=(0.3, 1e-3, 7.0))(image)[0]
    assert np.array_equal(
        odd, normalize_reference(pil_reference(image), (0.1, 0.7, -3.25), (0.3, 1e-3, 7.0))
    )


def test_float_output_equals_torch_ops():
    torch = pytest.importorskip("torch")
    image = skimage_data.coffee()
    crop = pil_reference(image).copy()  # writable, as torch wants
    # torchvision's ToTensor and Normalize, spelled with the torch operations they use.
    tensor = torch.from_numpy(crop).permute(2, 0, 1).contiguous().to(torch.float32).div(255)
    mean = torch.as_tensor((0.485, 0.456, 0.406), dtype=torch.float32)[:, None, None]
    std = torch.as_tensor((0.229, 0.224, 0.225), dtype=torch.float32)[:, None, None]
    expected = tensor.sub(mean).div(std).numpy()
    assert np.array_equal(fastort.ImageTransform()(image)[0], expected)


@pytest.fixture(scope="module")
def torchvision():
    return torchvision_transforms()


def torchvision_steps(torchvision, resize, crop, interpolation="bilinear"):
    """torchvision's Resize -> CenterCrop on a PIL image (either step left out when None)."""
    mode = getattr(torchvision.InterpolationMode, interpolation.upper())
    steps = [] if resize is None else [torchvision.Resize(resize, interpolation=mode)]
    steps += [] if crop is None else [torchvision.CenterCrop(crop)]
    return torchvision.Compose(steps)


def torchvision_pipeline(torchvision, resize, crop, interpolation="bilinear"):
    """The full evaluation pipeline: Resize -> CenterCrop -> ToTensor -> Normalize."""
    return torchvision.Compose(
        [
            torchvision_steps(torchvision, resize, crop, interpolation),
            torchvision.ToTensor(),
            torchvision.Normalize(fastort.IMAGENET_MEAN, fastort.IMAGENET_STD),
        ]
    )


def assert_equals_torchvision(torchvision, image, resize, crop, interpolation):
    """Float output bit for bit and the uint8 crop byte for byte, against torchvision on the
    RGB image (grey and RGBA images are what convert("RGB") makes of them)."""
    rgb = image.convert("RGB")
    expected = torchvision_pipeline(torchvision, resize, crop, interpolation)(rgb).numpy()
    options = {"resize": resize, "crop": crop, "interpolation": interpolation}
    assert_same(fastort.ImageTransform(**options)(image)[0], expected)
    crop_expected = np.asarray(torchvision_steps(torchvision, resize, crop, interpolation)(rgb))
    ours = fastort.ImageTransform(**options, dtype="uint8", layout="NHWC")(image)[0]
    assert_same(ours, crop_expected)


SIZES = [
    (256, 224),
    ([256], 224),  # torchvision: the short side, like Resize(256)
    ((256,), (224,)),
    (232, 224),
    ((200, 150), (120, 100)),
    (300, 320),  # the crop is wider than the resized image: zero padding
    (None, 160),
    ([64], None),
]


@pytest.mark.parametrize("photo", PHOTOS)
@pytest.mark.parametrize("interpolation", FILTERS)
def test_real_photos_equal_torchvision(torchvision, photo, interpolation):
    from PIL import Image

    image = Image.fromarray(getattr(skimage_data, photo)())  # camera is grey ("L")
    for resize, crop in SIZES:
        assert_equals_torchvision(torchvision, image, resize, crop, interpolation)


@pytest.mark.parametrize(
    ("height", "width"),
    [(1, 1), (1, 7), (3, 2), (2, 301), (299, 3), (17, 999), (225, 223), (257, 255), (99, 1)],
)
@pytest.mark.parametrize("interpolation", FILTERS)
def test_odd_sizes_equal_torchvision(torchvision, height, width, interpolation):
    from PIL import Image

    rng = np.random.default_rng(height * 1000 + width)
    for mode, shape in [
        ("RGB", (height, width, 3)),
        ("L", (height, width)),
        ("RGBA", (height, width, 4)),
    ]:
        image = Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode)
        for resize, crop in [(256, 224), ([32], 31), ((33, 17), (16, 33)), (None, (5, 4))]:
            assert_equals_torchvision(torchvision, image, resize, crop, interpolation)


def test_resize_sequence_of_one_is_the_short_side_in_torchvision_too(torchvision):
    from PIL import Image

    image = Image.fromarray(np.zeros((480, 640, 3), np.uint8))
    assert torchvision.Resize([256])(image).size == (341, 256)
    assert fastort.ImageTransform(resize=[256], crop=None)(image).shape == (1, 3, 256, 341)


@st.composite
def torchvision_cases(draw):
    height = draw(st.integers(1, 600))
    width = draw(st.integers(1, 600))
    mode = draw(st.sampled_from(["RGB", "L"]))
    side = st.integers(1, 400)
    resize = draw(st.one_of(st.none(), side, st.lists(side, min_size=1, max_size=2)))
    crop = draw(st.one_of(st.none(), side, st.tuples(side, side)))
    interpolation = draw(st.sampled_from(FILTERS))
    seed = draw(st.integers(0, 2**32 - 1))
    return height, width, mode, resize, crop, interpolation, seed


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(torchvision_cases())
def test_random_images_equal_torchvision(torchvision, case):
    from PIL import Image

    height, width, mode, resize, crop, interpolation, seed = case
    size = (
        resize if not isinstance(resize, list) else resize[0] if len(resize) == 1 else tuple(resize)
    )
    new_h, new_w = resized_size(height, width, size)
    assume(new_h * new_w <= 4_000_000)  # torchvision resizes the whole image
    rng = np.random.default_rng(seed)
    shape = (height, width, 3) if mode == "RGB" else (height, width)
    image = Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode)
    assert_equals_torchvision(torchvision, image, resize, crop, interpolation)
    # The restated reference the Pillow tests use agrees with torchvision too.
    expected = torchvision_steps(torchvision, resize, crop, interpolation)(image.convert("RGB"))
    assert_same(pil_reference(np.asarray(image), size, crop, interpolation), np.asarray(expected))


def test_bgr_input_matches_rgb():
    image = skimage_data.astronaut()
    rgb = fastort.ImageTransform()(image)
    bgr = fastort.ImageTransform(channel_order="BGR")(np.ascontiguousarray(image[:, :, ::-1]))
    assert np.array_equal(rgb, bgr)


def test_layouts_hold_the_same_values():
    image = skimage_data.coffee()
    nchw = fastort.ImageTransform()(image)
    nhwc = fastort.ImageTransform(layout="NHWC")(image)
    assert np.array_equal(nchw, nhwc.transpose(0, 3, 1, 2))


def test_both_pillow_pass_orders():
    # Height shrinking more than twice the width: Pillow 13 runs the vertical pass first.
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (594, 162, 3), dtype=np.uint8)
    ours13 = crop_of(image, 160, 160, pass_order="pillow13")
    older = crop_of(image, 160, 160, pass_order="horizontal_first")
    assert not np.array_equal(ours13, older)
    assert_same(crop_of(image, 160, 160), pil_reference(image, 160, 160))


def test_antialias_false_is_plain_bilinear():
    # Without antialiasing a 2x downscale samples between two source pixels only.
    image = np.tile(np.array([0, 100], np.uint8), (4, 4))[:, :, None].repeat(3, 2)
    out = crop_of(image, (2, 4), None, antialias=False)
    assert (out == 50).all()
