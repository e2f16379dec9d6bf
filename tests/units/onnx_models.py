"""The ONNX units on the reference models of ../shared/models, loaded once per test module.

Import the fixtures a test module needs (``from tests.units.onnx_models import embedder``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from smolcpu.units.neural import Classify, Detect, Embed
from tests.conftest import SHARED

MODELS = SHARED / "models"


def reference_model(file: str) -> Path:
    """``../shared/models/FILE``; the test is skipped where ../shared is absent."""
    path = MODELS / file
    if not path.is_file():
        pytest.skip(f"{path} is not beside this checkout")
    return path


@pytest.fixture(scope="module")
def classifier() -> Classify:
    return Classify(model_path=reference_model("efficientnet_lite0.onnx"))


@pytest.fixture(scope="module")
def detector() -> Detect:
    return Detect(model_path=reference_model("yolox_nano.onnx"))


@pytest.fixture(scope="module")
def embedder() -> Embed:
    return Embed(model_path=reference_model("all-MiniLM-L6-v2.onnx"))
