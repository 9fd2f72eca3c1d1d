"""Session.classify, Session.transform and Session.labels on models made with onnx.helper."""

from __future__ import annotations

import json
import uuid

import numpy as np
import pytest

import fastort
from models import classifier_model

TRANSFORM = fastort.ImageTransform(resize=8, crop=8)
LABELS = ["a", "b", "c", "d", "e"]


def stored(transform=TRANSFORM, labels=LABELS):
    metadata = {}
    if transform is not None:
        metadata["fastort.transform"] = json.dumps(transform.to_dict())
    if labels is not None:
        metadata["fastort.labels"] = json.dumps(labels)
    return metadata


@pytest.fixture
def image():
    return np.random.default_rng(1).integers(0, 256, (20, 30, 3), dtype=np.uint8)


def test_classify_matches_the_softmax_of_the_logits(save, image):
    session = fastort.Session(save(classifier_model(metadata=stored())))
    (top,) = session.classify(image, top_k=5)
    (logits,) = session.run(None, {"input": TRANSFORM(image)})
    probabilities = np.exp(logits[0] - logits[0].max())
    probabilities /= probabilities.sum()
    order = np.argsort(-probabilities, kind="stable")
    assert [i for i, _, _ in top] == order.tolist()
    assert [label for _, label, _ in top] == [LABELS[i] for i in order]
    np.testing.assert_allclose([p for _, _, p in top], probabilities[order], rtol=1e-6)


def test_argument_errors_are_fastort_errors(save, image):
    session = fastort.Session(save(classifier_model(metadata=stored())))
    for top_k in (0, -1, True, 2.0):
        with pytest.raises(fastort.InvalidArgumentError, match="top_k must be a positive int"):
            session.classify(image, top_k=top_k)
    with pytest.raises(fastort.InvalidTypeError, match="transform must be"):
        session.classify(image, transform={"resize": 8})
    with pytest.raises(fastort.InvalidTypeError, match="labels must be"):
        session.classify(image, labels="abcde")
    bare = fastort.Session(save(classifier_model(), "bare.onnx"))
    with pytest.raises(fastort.InvalidArgumentError, match="stores no image transform"):
        bare.classify(image)


def test_any_classifier_with_a_transform_and_labels(save, image):
    session = fastort.Session(save(classifier_model()))
    assert session.transform is None and session.labels is None
    (plain,) = session.classify(image, transform=TRANSFORM)
    assert {label for _, label, _ in plain} == {None}
    (named,) = session.classify(image, transform=TRANSFORM, labels=tuple(LABELS))
    assert [(i, LABELS[i], p) for i, _, p in plain] == named


def test_a_label_count_that_does_not_match_the_classes_is_an_error(save, image):
    session = fastort.Session(save(classifier_model(metadata=stored(labels=["a", "b", "c"]))))
    with pytest.raises(
        fastort.InvalidModelError, match="stores 3 labels but output 'output' has 5 classes"
    ):
        session.classify(image)
    with pytest.raises(
        fastort.InvalidArgumentError, match="got 6 labels but output 'output' has 5 classes"
    ):
        session.classify(image, labels=[*LABELS, "f"])
    (top,) = session.classify(image, labels=LABELS)  # explicit labels replace stored ones
    assert top[0][1] in LABELS


def test_a_transform_that_cannot_fit_the_input_is_refused_before_any_work(save, image):
    huge = fastort.ImageTransform(resize=65536, crop=65536)  # 48 GiB of float32
    session = fastort.Session(save(classifier_model(metadata=stored(transform=huge))))
    with pytest.raises(fastort.InvalidModelError, match=r"stored transform makes 65536x65536"):
        session.classify(image)
    with pytest.raises(fastort.InvalidArgumentError, match=r"input 'input' takes \[N, 3, 8, 8\]"):
        session.classify(image, transform=fastort.ImageTransform(resize=9, crop=(9, 8)))


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("fastort.transform", "[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ("fastort.transform", "{not json", "Expecting property name"),
        ("fastort.transform", json.dumps({"crop": 0}), "crop sizes must be between"),
        ("fastort.labels", json.dumps({"a": 1}), "labels must be a list of strings"),
        ("fastort.labels", json.dumps(["a", 2]), "labels must be strings"),
    ],
)
def test_malformed_metadata_is_an_invalid_model_error(save, image, key, value, problem):
    metadata = stored()
    metadata[key] = value
    session = fastort.Session(save(classifier_model(metadata=metadata)))
    attribute = "transform" if key == "fastort.transform" else "labels"
    with pytest.raises(fastort.InvalidModelError, match=f"{key} metadata is malformed: {problem}"):
        getattr(session, attribute)
    with pytest.raises(fastort.InvalidModelError, match=problem):
        session.classify(image)


def test_stored_metadata_is_parsed_once_per_loaded_model(save, image, monkeypatch):
    labels = [f"{uuid.uuid4()} {i}" for i in range(5)]  # parsed nowhere before
    path = save(classifier_model(metadata=stored(labels=labels)))
    calls = []
    loads = json.loads

    def counting_loads(text, *args, **kwargs):
        calls.append(text[:20])
        return loads(text, *args, **kwargs)

    monkeypatch.setattr(json, "loads", counting_loads)
    for _ in range(3):
        session = fastort.Session(path)  # a new Python object over the cached core session
        session.classify(image)
        assert session.labels == labels and session.transform == TRANSFORM
    assert len(calls) == 2, calls  # the transform and the labels, once each
    session.labels.append("changed")  # callers get their own list
    assert fastort.Session(path).labels == labels
