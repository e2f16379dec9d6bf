"""A container build context that serves one program: ``smol compile PROGRAM --target container DIR``.

The context holds everything the image needs and nothing it must fetch from a model hub:

    Dockerfile            python:X.Y-slim, the pinned requirements, Smol, the program, the models
    requirements.txt      every dependency ``name==version`` as installed here (``_requirements``)
    src/                  Smol itself (its package, pyproject.toml, README.md), installed --no-deps
    programs/NAME.smol    the program (and NAME.examples.json, its classifier's examples)
    models/FILE           each model the program loads, the verified file of the cache
    smol-container.json   the manifest: program, model name served, models by name and sha256,
                          requirements, the command; what a test or a reviewer checks

The image runs ``smol serve --host 0.0.0.0 --programs /app/programs``: the program answers as
model ``smol/NAME``; as the server refuses to listen beyond loopback without a key, the
container needs ``SMOL_API_KEYS`` (or a key file) at run time. Without ``bundle_models`` the
Dockerfile installs the models at build time instead (``smol models install``: PyPI, or
``SMOL_MODELS_MIRROR``), and the context stays small.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import smolcpu
from smolcpu.deploy._requirements import pinned_requirements
from smolcpu.errors import UsageError
from smolcpu.lang import DEFAULT_UNIT, Graph, compile_file
from smolcpu.models import KNOWN, ModelSpec, model_path
from smolcpu.programs import models_needed

MANIFEST = "smol-container.json"
"""The context's manifest file."""

PORT = 8000
APP = "/app"
CACHE = "/opt/smol/cache"
"""Where the image keeps its models (``SMOL_CACHE``): outside ``SMOL_HOME``, which is a volume."""
DATA = "/data"
"""The image's ``SMOL_HOME``: artifacts, the run index, the vault (mount a volume here)."""

SOURCE_FILES = ("pyproject.toml", "README.md")
"""What, beside the package, installing Smol from source needs."""


@dataclass
class Context:
    """A written build context: where, what it serves and what it holds."""

    folder: Path
    program: str
    models: list[ModelSpec]
    requirements: list[str]
    files: list[str] = field(default_factory=list)
    sha256: dict[str, str] = field(default_factory=dict)
    """Each model's pin for the file the image gets (a converted file has a pin of its own)."""

    @property
    def served_model(self) -> str:
        return f"smol/{self.program}"


def _source_root() -> Path:
    """The checkout Smol runs from (the package and the project files it is built from).

    Raises:
        UsageError: Smol is installed without its project files.
    """
    root = Path(smolcpu.__file__).resolve().parent.parent
    missing = [name for name in SOURCE_FILES if not (root / name).is_file()]
    if missing:
        raise UsageError(
            f"this Smol is installed without its source ({', '.join(missing)} not found beside the package);"
            " build the container from a clone of Smol: ./smol compile PROGRAM --target container DIR"
        )
    return root


def _program(path: Path) -> tuple[str, Graph]:
    """The program's name and compiled graph.

    Raises:
        UsageError: no such file, a name that cannot be a model name, or a program with errors.
    """
    if not path.is_file():
        raise UsageError(f"no program file {str(path)!r}")
    if not path.stem.isidentifier():
        raise UsageError(f"the program's name {path.stem!r} must be a name (letters, digits, _) to be served as smol/NAME")
    compilation = compile_file(path)
    if not compilation.ok:
        raise UsageError("the program has errors:\n" + compilation.render(warnings=False))
    return path.stem, compilation.runnable()


def _models(graph: Graph, llm: str | None) -> list[ModelSpec]:
    """The registry models ``graph`` loads.

    Raises:
        UsageError: the LLM is given as a file, not a registry name.
    """
    names = models_needed(graph, llm=llm)
    unknown = [name for name in names if name not in KNOWN]
    if unknown:
        raise UsageError(
            f"a container names its models from the registry (smol models list), not {', '.join(map(repr, unknown))}"
        )
    return [KNOWN[name] for name in names]


def _place(source: Path, target: Path) -> None:
    """``source`` at ``target``: a hard link where both share a filesystem (models are large), else a copy."""
    target.parent.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def dockerfile(context: Context, *, bundle_models: bool, sandbox: bool) -> str:
    """The Dockerfile of ``context``."""
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    names = " ".join(spec.name for spec in context.models)
    lines = [
        "# syntax=docker/dockerfile:1",
        f"# Serves {context.program}.smol as model {context.served_model}; written by smol compile --target container.",
        f"FROM python:{python}-slim",
        f"ENV PYTHONDONTWRITEBYTECODE=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 SMOL_HOME={DATA} SMOL_CACHE={CACHE}",
    ]
    if sandbox:
        lines += [
            "# The code sandbox's jail (docs/security.md): bubblewrap, and util-linux for its fallback.",
            "RUN apt-get update && apt-get install -y --no-install-recommends bubblewrap util-linux"
            " && rm -rf /var/lib/apt/lists/*",
        ]
    lines += [
        f"WORKDIR {APP}",
        "COPY requirements.txt ./",
        "RUN pip install --no-deps -r requirements.txt",
        "COPY src/ ./src/",
        "RUN pip install --no-deps ./src",
    ]
    if context.models:
        if bundle_models:
            lines.append(f"COPY models/ {CACHE}/models/")
        else:
            lines.append(f"RUN smol models install {names}")
        lines.append(f"RUN smol models verify {names}")
    lines += [
        "COPY programs/ ./programs/",
        f"RUN smol check programs/{context.program}.smol",
        f"VOLUME {DATA}",
        f"EXPOSE {PORT}",
        'CMD ' + json.dumps(serve_command(context)),
    ]
    return "\n".join(lines) + "\n"


def serve_command(context: Context) -> list[str]:
    """The command the image runs."""
    command = ["smol", "serve", "--host", "0.0.0.0", "--port", str(PORT), "--programs", f"{APP}/programs"]
    llm = next((spec.name for spec in context.models if spec.role.startswith("llm")), None)
    return command + (["--model", llm] if llm else [])


def write_container(
    program: Path, folder: Path, *, llm: str | None = None, bundle_models: bool = True, extras: Sequence[str] = ()
) -> Context:
    """Write the build context that serves ``program`` into ``folder`` (made if missing; must
    be empty or a context written before).

    Args:
        program: the ``.smol`` file.
        folder: where the context goes.
        llm: the LLM the program's ``llm`` steps use (default ``SMOL_LLM_MODEL``).
        bundle_models: copy the models into the context (verified), rather than install them at build time.
        extras: Smol's extras the image needs too (``ray`` for ``smol serve --cluster``), pinned as installed here.

    Raises:
        UsageError: the program has errors, the folder holds something else, a model is
            not installed (with ``bundle_models``), or Smol has no source to install from.
    """
    program, folder = Path(program).expanduser(), Path(folder).expanduser()
    name, graph = _program(program)
    if folder.exists() and any(folder.iterdir()) and not (folder / MANIFEST).is_file():
        raise UsageError(f"{folder} is not empty; give a new folder (or one a container was written to before)")
    root = _source_root()
    context = Context(folder, name, _models(graph, llm), pinned_requirements(extras=extras))
    for stale in ("src", "programs", "models"):
        shutil.rmtree(folder / stale, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {f"programs/{name}.smol": program}
    examples = program.with_suffix(".examples.json")
    if examples.is_file():
        files[f"programs/{name}.examples.json"] = examples
    for spec in context.models:
        context.sha256[spec.name] = spec.sha256
        if bundle_models:
            cached = model_path(spec.name)
            files[f"models/{spec.file}"] = cached
            context.sha256[spec.name] = spec.pins[cached.stat().st_size]
    for relative, source in files.items():
        _place(source, folder / relative)
    shutil.copytree(root / "smolcpu", folder / "src" / "smolcpu", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for project_file in SOURCE_FILES:
        shutil.copyfile(root / project_file, folder / "src" / project_file)
    kinds = {step.binding.unit if step.binding is not None else DEFAULT_UNIT for step in graph.steps()}
    (folder / "requirements.txt").write_text("\n".join(context.requirements) + "\n")
    (folder / "Dockerfile").write_text(dockerfile(context, bundle_models=bundle_models, sandbox="sandbox" in kinds))
    context.files = sorted(["Dockerfile", "requirements.txt", MANIFEST, *files])
    (folder / MANIFEST).write_text(json.dumps(manifest(context, bundle_models=bundle_models), indent=2) + "\n")
    return context


def manifest(context: Context, *, bundle_models: bool) -> dict[str, Any]:
    """What the context serves and holds, for a reviewer or a test to check against the files."""
    return {
        "program": f"programs/{context.program}.smol",
        "served_model": context.served_model,
        "smolcpu": smolcpu.__version__,
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
        "models": [
            {"name": spec.name, "file": spec.file, "sha256": context.sha256[spec.name], "source": spec.source.describe()}
            for spec in context.models
        ],
        "models_bundled": bundle_models,
        "requirements": context.requirements,
        "command": serve_command(context),
        "files": context.files,
    }


__all__ = ["MANIFEST", "Context", "dockerfile", "manifest", "serve_command", "write_container"]
