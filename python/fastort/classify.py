"""Image classification with a session: preprocessing, the model, softmax and top-k.

The preprocessing and class names default to those `fastort.export` stored in the model
(see `_metadata`); any classifier works when they are given.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from . import _core
from ._metadata import check_fits, check_label_count, classes_per_row, label_list, stored_metadata
from .image import ImageTransform

if TYPE_CHECKING:
    from .session import Session

__all__ = ["classify", "softmax_top_k", "stored_labels", "stored_transform", "top_classes"]


def stored_transform(session: Session) -> ImageTransform | None:
    """The preprocessing stored in the model by `fastort.export(transform=...)`, if any.

    Parsed once per loaded model. Malformed metadata raises `fastort.InvalidModelError`.
    """
    return stored_metadata(session).get_transform()


def stored_labels(session: Session) -> list[str] | None:
    """The class names stored in the model by `fastort.export(labels=...)`, if any.

    Parsed once per loaded model. Malformed metadata raises `fastort.InvalidModelError`.
    """
    labels = stored_metadata(session).get_labels()
    return None if labels is None else list(labels)


def top_classes(
    session: Session,
    images: Any,
    top_k: int = 5,
    *,
    transform: ImageTransform | None = None,
    labels: Sequence[str] | None = None,
    fast_decode: bool = False,
) -> tuple[np.ndarray, np.ndarray, list[str] | None]:
    """`classify` as arrays: the top-k class indices (int64 [N, k]), their probabilities
    (float64 [N, k]) and the class names (None when the model stores none and none are
    given), for callers that want columns rather than tuples (`fastort.ray`)."""
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise _core.InvalidArgumentError(f"top_k must be a positive int, got {top_k!r}")
    stored = stored_metadata(session)
    from_model = transform is None
    if transform is None:
        transform = stored.get_transform()
        if transform is None:
            raise _core.InvalidArgumentError(
                "the model stores no image transform; pass transform=ImageTransform(...)"
            )
    elif not isinstance(transform, ImageTransform):
        raise _core.InvalidTypeError(
            f"transform must be a fastort.ImageTransform, got {type(transform).__name__}"
        )
    names = stored.get_labels() if labels is None else label_list(labels)
    first_in, first_out = session.inputs[0], session.outputs[0]
    check_fits(transform, first_in, from_model)
    check_label_count(names, classes_per_row(first_out.shape), first_out.name, labels is None)
    batch = transform(images, fast_decode=fast_decode)
    logits = np.asarray(session.run([first_out.name], {first_in.name: batch})[0])
    check_label_count(names, int(np.prod(logits.shape[1:])), first_out.name, labels is None)
    top, probabilities = softmax_top_k(logits, top_k)
    return top, probabilities, (None if names is None else list(names))


def softmax_top_k(logits: np.ndarray, top_k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row of `logits` (N x classes): the `top_k` class indices of the softmax, best first
    and ties in class order (int64 [N, k]), and their probabilities (float64 [N, k])."""
    logits = np.asarray(logits, np.float64).reshape(len(logits), -1)
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities = shifted / shifted.sum(axis=1, keepdims=True)
    top = np.argsort(-probabilities, axis=1, kind="stable")[:, :top_k]
    return top.astype(np.int64), np.take_along_axis(probabilities, top, axis=1)


def classify(
    session: Session,
    images: Any,
    top_k: int = 5,
    *,
    transform: ImageTransform | None = None,
    labels: Sequence[str] | None = None,
    fast_decode: bool = False,
) -> list[list[tuple[int, str | None, float]]]:
    """Top-k classes per image: [(class index, label or None, probability), ...].

    Images go through `transform` (default: the one stored in the model) into the first
    input; probabilities are the softmax of the first output's logits. `labels` (default:
    the ones stored in the model) must name every class. `fast_decode` is passed to the
    transform (see `ImageTransform.__call__`).
    """
    top, probabilities, names = top_classes(
        session, images, top_k, transform=transform, labels=labels, fast_decode=fast_decode
    )
    return [
        [
            (int(i), names[i] if names else None, float(p))
            for i, p in zip(indices.tolist(), row.tolist())
        ]
        for indices, row in zip(top, probabilities)
    ]
