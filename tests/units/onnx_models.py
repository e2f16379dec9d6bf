"""The ONNX units on the reference models of ../shared/models, loaded once per test module.

A test module makes the fixtures it needs: ``embedder = onnx_unit(Embed, MINILM)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SHARED

MODELS = SHARED / "models"
EFFICIENTNET = "efficientnet_lite0.onnx"
YOLOX = "yolox_nano.onnx"
MINILM = "all-MiniLM-L6-v2.onnx"


def reference_model(file: str) -> Path:
    """``../shared/models/FILE``; the test is skipped where ../shared is absent."""
    path = MODELS / file
    if not path.is_file():
        pytest.skip(f"{path} is not beside this checkout")
    return path


def onnx_unit(unit: type, file: str) -> Any:
    """A module-scoped fixture: ``unit`` on the reference model ``file``, loaded once."""

    @pytest.fixture(scope="module")
    def loaded() -> Any:
        return unit(model_path=reference_model(file))

    return loaded
