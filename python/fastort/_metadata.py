"""fastort's metadata in a model (preprocessing and class names), parsed once per model, and
the checks `Session.classify` makes of it against the model's signature before any work.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from . import _core
from .image import ImageTransform

if TYPE_CHECKING:
    from .session import Session, ValueInfo

TRANSFORM_KEY = "fastort.transform"
LABELS_KEY = "fastort.labels"


class StoredMetadata:
    """fastort's metadata of a model (transform and labels), parsed from their JSON text.

    `problems` maps each malformed key to what is wrong with it; the getters raise
    `fastort.InvalidModelError` for a malformed entry.
    """

    def __init__(self, transform_text: str | None, labels_text: str | None) -> None:
        self.transform_text, self.labels_text = transform_text, labels_text
        self.transform: ImageTransform | None = None
        self.labels: tuple[str, ...] | None = None
        self.problems: dict[str, str] = {}
        if transform_text is not None:
            try:
                self.transform = ImageTransform.from_dict(_json_loads(transform_text))
            except (ValueError, TypeError, RecursionError) as error:
                self.problems[TRANSFORM_KEY] = _problem(error)
        if labels_text is not None:
            try:
                self.labels = tuple(label_list(_json_loads(labels_text)))
            except (ValueError, TypeError, RecursionError) as error:
                self.problems[LABELS_KEY] = _problem(error)

    def get_transform(self) -> ImageTransform | None:
        self._raise_if_malformed(TRANSFORM_KEY)
        return self.transform

    def get_labels(self) -> tuple[str, ...] | None:
        self._raise_if_malformed(LABELS_KEY)
        return self.labels

    def _raise_if_malformed(self, key: str) -> None:
        if key in self.problems:
            raise _core.InvalidModelError(
                f"the model's {key} metadata is malformed: {self.problems[key]}"
            )


# Parsed once per model, not per call: 20,000 labels take milliseconds to parse. A cached
# Session(path) is a new Python object over a shared core session, so besides the entry per
# Session object, the last few models' parsed metadata is kept and found by its text (a copy
# and a compare, no parse).
_stored_by_session: weakref.WeakKeyDictionary[Session, StoredMetadata] = weakref.WeakKeyDictionary()
_recent_stored: list[StoredMetadata] = []
_RECENT_STORED = 8


def stored_metadata(session: Session) -> StoredMetadata:
    """The parsed fastort metadata of `session`'s model."""
    found = _stored_by_session.get(session)
    if found is None:
        custom = session._model.metadata.custom_metadata_map
        texts = custom.get(TRANSFORM_KEY), custom.get(LABELS_KEY)
        found = next(
            (m for m in _recent_stored if (m.transform_text, m.labels_text) == texts), None
        )
        if found is None:
            found = StoredMetadata(*texts)
            _recent_stored.insert(0, found)
            del _recent_stored[_RECENT_STORED:]
        _stored_by_session[session] = found
    return found


def _problem(error: BaseException) -> str:
    if isinstance(error, RecursionError):
        return "nested too deeply"
    return str(error) or type(error).__name__


def label_list(labels: Any) -> list[str]:
    if isinstance(labels, (str, bytes)) or not isinstance(labels, Sequence):
        raise _core.InvalidTypeError(
            f"labels must be a list of strings, got {type(labels).__name__}"
        )
    result = list(labels)
    for index, label in enumerate(result):
        if not isinstance(label, str):
            raise _core.InvalidTypeError(
                f"labels must be strings, got {type(label).__name__} at index {index}"
            )
    return result


def classes_per_row(shape: Sequence[int | str | None]) -> int | None:
    """Classes per row of an output shaped [batch, ...], when its dims are fixed."""
    count = 1
    for dim in shape[1:]:
        if not isinstance(dim, int):
            return None
        count *= dim
    return count


def check_label_count(
    names: Sequence[str] | None, classes: int | None, output: str, from_model: bool
) -> None:
    if names is None or classes is None or len(names) == classes:
        return
    if from_model:
        raise _core.InvalidModelError(
            f"the model stores {len(names)} labels but output {output!r} has {classes} classes"
        )
    raise _core.InvalidArgumentError(
        f"got {len(names)} labels but output {output!r} has {classes} classes"
    )


def check_fits(transform: ImageTransform, info: ValueInfo, from_model: bool) -> None:
    """Refuse a transform whose images cannot fit the input, before any image is made."""
    if transform.crop is not None:
        height, width = transform.crop
    elif isinstance(transform.resize, tuple):
        height, width = transform.resize
    else:
        return  # the size depends on the image
    shape = info.shape
    if len(shape) != 4:
        return
    # Compared as (channels, height, width) whatever the layout.
    wanted = shape[1:] if transform.layout == "NCHW" else [shape[3], shape[1], shape[2]]
    if any(isinstance(w, int) and w != m for w, m in zip(wanted, (3, height, width))):
        source = "the model's stored transform" if from_model else "the transform"
        error = _core.InvalidModelError if from_model else _core.InvalidArgumentError
        dims = ", ".join("N" if d is None else str(d) for d in shape)
        raise error(
            f"{source} makes {height}x{width} images with 3 channels ({transform.layout}) but "
            f"input {info.name!r} takes [{dims}]"
        )


def _json_loads(text: str) -> Any:
    import json  # here, not at module level: `import fastort` stays light

    return json.loads(text)
