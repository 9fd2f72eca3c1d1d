"""Fixtures: model files written under tmp_path, onnxruntime's sample models, inputs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np
import onnx
import pytest

import fastort
from models import add_model, mlp_model, ort_datasets


@pytest.fixture
def save(tmp_path: Path) -> Callable[..., str]:
    """save(model, name="m.onnx") -> path of the model written under tmp_path."""

    def _save(model, name: str = "m.onnx", **kwargs) -> str:
        path = tmp_path / name
        onnx.save_model(model, os.fspath(path), **kwargs)
        return os.fspath(path)

    return _save


@pytest.fixture
def add_path(save) -> str:
    return save(add_model(), "add.onnx")


@pytest.fixture
def sigmoid_path() -> str:
    return os.fspath(ort_datasets() / "sigmoid.onnx")


@pytest.fixture
def iris_path() -> str:
    return os.fspath(ort_datasets() / "logreg_iris.onnx")


@pytest.fixture
def xy() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.random((4, 3), dtype=np.float32), rng.random((4, 3), dtype=np.float32)


@pytest.fixture
def add_session(add_path) -> fastort.Session:
    return fastort.Session(add_path, threads=1)


@pytest.fixture
def slow_session(save) -> fastort.Session:
    """A model whose run of a few thousand rows takes long enough to queue requests behind."""
    return fastort.Session(save(mlp_model(width=256, layers=12), "slow.onnx"), threads=1)
