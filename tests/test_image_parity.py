"""Exactness: the uint8 crop equals Pillow's, the float output equals torchvision's."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastort
from reference import normalize_reference, pil_reference

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
    from reference import resized_size

    new_h, new_w = resized_size(height, width, resize)
    if crop is None and max(new_h, new_w) > 2000:
        return  # the whole resized image would be produced: keep the test fast
    if isinstance(resize, int) and max(new_h, new_w) > 200_000:
        return
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


def test_equals_torchvision_when_installed():
    transforms = pytest.importorskip("torchvision.transforms")
    from PIL import Image

    image = Image.fromarray(skimage_data.rocket())
    for interpolation in FILTERS:
        mode = getattr(transforms.InterpolationMode, interpolation.upper())
        pipeline = transforms.Compose(
            [
                transforms.Resize(256, interpolation=mode),
                transforms.CenterCrop(224),
                transforms.ToTensor(),
                transforms.Normalize(fastort.IMAGENET_MEAN, fastort.IMAGENET_STD),
            ]
        )
        expected = pipeline(image).numpy()
        ours = fastort.ImageTransform(interpolation=interpolation)(image)[0]
        assert np.array_equal(ours, expected)


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
