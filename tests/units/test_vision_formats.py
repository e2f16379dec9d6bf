"""The vision units open only the formats they support, by content, with no external program.

The review's finding: an EPS file given to classify or detect made Pillow run Ghostscript on
attacker-written PostScript as Smol's user (it read and wrote files, and ``{ } loop`` hung
the unit). Here a ``gs`` on PATH records that it was started, so the test fails if any path
hands the file to it; the PostScript aims at the user's home, where an attacker would.
"""

from __future__ import annotations

import asyncio
import io
import os
import stat
from pathlib import Path

import pytest
from PIL import EpsImagePlugin, Image

from smolcpu.artifact import BYTES, Artifact
from smolcpu.errors import UsageError
from smolcpu.units.neural import Classify, Detect
from smolcpu.units.neural._vision import FORMATS, open_image
from tests.units.onnx_models import EFFICIENTNET, YOLOX, onnx_unit

classifier = onnx_unit(Classify, EFFICIENTNET)
detector = onnx_unit(Detect, YOLOX)


def hostile_eps(target: Path) -> bytes:
    """A real EPS whose PostScript writes ``target`` and then loops forever."""
    return (
        "%!PS-Adobe-3.0 EPSF-3.0\n"
        "%%BoundingBox: 0 0 32 32\n"
        "%%EndComments\n"
        f"({target}) (w) file dup (owned by postscript\\n) writestring closefile\n"
        "{ } loop\n"
        "showpage\n"
        "%%EOF\n"
    ).encode()


@pytest.fixture
def ghostscript(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A ``gs`` first on PATH that notes each start in a file (and the user's home, set to a
    folder of the test's, as the PostScript's target). Pillow's cached answer to "is there a
    Ghostscript" is cleared, so it looks again."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    tools = tmp_path / "bin"
    tools.mkdir()
    started = tmp_path / "gs-started"
    gs = tools / "gs"
    gs.write_text(f'#!/bin/sh\necho "$@" >> {started}\nexit 1\n')
    gs.chmod(gs.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{tools}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(EpsImagePlugin, "gs_binary", None)
    return started


def test_an_eps_file_is_refused_and_ghostscript_never_starts(ghostscript: Path, tmp_path: Path) -> None:
    target = Path("~/.bashrc").expanduser()
    eps = hostile_eps(target)
    disguised = tmp_path / "holiday.jpg"  # the name says JPEG; the content decides
    disguised.write_bytes(eps)
    for given in (eps, disguised, str(disguised)):
        with pytest.raises(UsageError, match=r"PostScript \(EPS\) is refused; send the bytes of a JPEG"):
            open_image(given)
    assert not ghostscript.exists(), "Ghostscript was started"
    assert not target.exists()


def test_the_units_answer_an_eps_with_an_error_artifact(
    ghostscript: Path, classifier: Classify, detector: Detect
) -> None:
    eps = Artifact.create(hostile_eps(Path("~/.profile").expanduser()), type=BYTES)
    for unit in (classifier, detector):
        reply = asyncio.run(unit.handle(None, None, eps))
        assert reply.is_error and "PostScript (EPS) is refused" in reply.error_message
    assert not ghostscript.exists()


@pytest.mark.parametrize("form", ["PDF", "ICO", "TGA", "PPM"])
def test_formats_outside_the_list_are_refused_by_content(form: str) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), "red").save(buffer, format=form)
    with pytest.raises(UsageError, match="not an image Smol can read"):
        open_image(buffer.getvalue())


@pytest.mark.parametrize("form", FORMATS)
def test_every_supported_format_opens(form: str) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), "red").save(buffer, format=form)
    picture = open_image(buffer.getvalue())
    assert picture.size == (16, 16) and picture.image.mode == "RGB"
