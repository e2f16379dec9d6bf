"""The ONNX models for the tests, and the photograph they look at.

YOLOX-Nano ships inside the package, so detector tests run in the fast suite on the bundled
file. EfficientNet-Lite0 and MiniLM come from the model cache (``smol models install``), which
lies outside the repository: tests on them are ``slow`` ones, and skip with the install
command where the model is missing. A test module makes the fixtures it needs:
``embedder = onnx_unit(Embed, MINILM)`` or ``minilm = model_fixture(MINILM)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from smolcpu.models import Bundled, model_spec

DATA = Path(__file__).resolve().parents[1] / "data"
BEAR = DATA / "bear.jpg"
"""A brown bear (COCO val2017 285, CC BY 2.0; see tests/data/README.md)."""

EFFICIENTNET = "efficientnet-lite0"
YOLOX = "yolox-nano"
MINILM = "minilm"


def model_file(name: str) -> Path:
    """The file of model ``name``: the bundled one, or the installed one (else the test is skipped)."""
    spec = model_spec(name)
    if isinstance(spec.source, Bundled):
        return spec.source.path
    if not spec.installed:
        pytest.skip(f"model {name} is not installed; install it with: ./smol models install {name}")
    return spec.cached


def _module_fixture(make: Any, name: str) -> Any:
    make.cached_model = not isinstance(model_spec(name).source, Bundled)  # tests/conftest.py marks its users slow
    return pytest.fixture(scope="module")(make)


def model_fixture(name: str) -> Any:
    """A module-scoped fixture: the file of model ``name`` (see :func:`model_file`)."""
    return _module_fixture(lambda: model_file(name), name)


def onnx_unit(unit: type, name: str) -> Any:
    """A module-scoped fixture: ``unit`` on model ``name``, loaded once."""
    return _module_fixture(lambda: unit(model_path=model_file(name)), name)
