"""``smol compile PROGRAM --target container DIR``: the build context is complete and consistent.

No container engine is needed: the test reads the Dockerfile it wrote and plays its steps on
a folder standing in for the image's root (``COPY`` copies, ``RUN smol ...`` runs Smol from the
context's own ``src/``, ``RUN pip`` is checked against the pins instead of run), then checks
the manifest against the files and the command against ``smol serve``'s options.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as metadata
import json
import os
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from typer.main import get_command
from typer.testing import CliRunner

from smolcpu.cli import app
from smolcpu.deploy import MANIFEST, write_container
from smolcpu.errors import UsageError
from smolcpu.models import KNOWN, ModelSpec, PackagedFile

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

SEEING = """\
; Looks at an image, then answers with the LLM.
smol >= 0.1
use look = detect
use answer = llm "Say what was found."

out <= switch <= (
    look => next
    answer => send
) <= in
"""

DETECTING = """\
; Finds the objects in an image.
smol >= 0.1
use look = detect

out <= switch <= (
    look => send
) <= in
"""

MODEL = b"not really a GGUF file, but pinned like one\n" * 1000


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private model cache holding one pinned test LLM (yolox-nano, bundled, installs itself)."""
    monkeypatch.setenv("SMOL_CACHE", str(tmp_path / "cache"))
    spec = ModelSpec(
        "test-llm", "llm (tests)", "test-llm.gguf", len(MODEL), hashlib.sha256(MODEL).hexdigest(),
        PackagedFile("no-such-package", "1.0", "no_such_package", "x.gguf"), "a test LLM",
    )  # fmt: skip
    monkeypatch.setitem(KNOWN, spec.name, spec)
    spec.cached.parent.mkdir(parents=True)
    spec.cached.write_bytes(MODEL)
    return tmp_path / "cache"


def smol(*args: str, **options) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "smolcpu", *args], capture_output=True, text=True, timeout=300, **options)


def build(context: Path, root: Path) -> list[str]:
    """Play the Dockerfile of ``context`` on ``root`` (the image's /); the command it ends with."""
    env = {"PATH": os.environ["PATH"], "HOME": str(root / "root")}
    workdir = root
    inside = lambda path: root / path.lstrip("/") if path.startswith("/") else workdir / path  # noqa: E731
    command: list[str] = []
    for line in (context / "Dockerfile").read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        instruction, _, rest = line.partition(" ")
        if instruction == "FROM":
            assert rest == f"python:{sys.version_info.major}.{sys.version_info.minor}-slim"
        elif instruction == "ENV":
            for pair in shlex.split(rest):
                key, _, value = pair.partition("=")
                env[key] = str(inside(value)) if value.startswith("/") else value
        elif instruction == "WORKDIR":
            workdir = inside(rest)
            workdir.mkdir(parents=True, exist_ok=True)
        elif instruction == "COPY":
            source, target = shlex.split(rest)
            assert (context / source).exists(), f"COPY of {source}, which the context lacks"
            copy = shutil.copytree if (context / source).is_dir() else shutil.copy
            copy(context / source, inside(target), **({"dirs_exist_ok": True} if copy is shutil.copytree else {}))
        elif instruction == "RUN" and rest.startswith("pip install"):
            words = shlex.split(rest)
            assert "--no-deps" in words  # everything comes from requirements.txt, pinned
            assert all((workdir / word).exists() for word in words[2:] if not word.startswith("-"))
        elif instruction == "RUN" and rest.startswith("smol "):
            ran = smol(*shlex.split(rest)[1:], cwd=workdir, env=env | {"PYTHONPATH": str(workdir / "src")})
            assert ran.returncode == 0, f"{rest}: {ran.stdout}{ran.stderr}"
        elif instruction == "CMD":
            command = json.loads(rest)
        else:
            assert instruction in ("VOLUME", "EXPOSE"), line
    return command


def test_the_context_serves_the_program_with_its_models_pinned(tmp_path: Path) -> None:
    program = tmp_path / "seeing.smol"
    program.write_text(SEEING)
    folder = tmp_path / "context"
    made = CliRunner().invoke(app, ["compile", str(program), "--target", "container", str(folder), "--model", "test-llm"])
    assert made.exit_code == 0, made.output
    assert "smol/seeing" in made.output and "docker build" in made.output
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["served_model"] == "smol/seeing" and manifest["program"] == "programs/seeing.smol"
    assert (folder / manifest["program"]).read_text() == SEEING
    assert [model["name"] for model in manifest["models"]] == ["test-llm", "yolox-nano"]
    for model in manifest["models"]:
        assert model["sha256"] in KNOWN[model["name"]].pins.values()
        assert hashlib.sha256((folder / "models" / model["file"]).read_bytes()).hexdigest() == model["sha256"]
    assert sorted(path.name for path in (folder / "models").iterdir()) == sorted(m["file"] for m in manifest["models"])
    assert sorted(manifest["files"]) == sorted(
        str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file() and "src" not in path.parts
    )
    assert manifest["command"][-2:] == ["--model", "test-llm"]
    assert "RUN smol models verify test-llm yolox-nano" in (folder / "Dockerfile").read_text()


def test_the_dockerfile_builds_from_the_context_alone(tmp_path: Path) -> None:
    program = tmp_path / "detecting.smol"
    program.write_text(DETECTING)
    folder = tmp_path / "context"
    made = smol("compile", str(program), "--target", "container", str(folder))
    assert made.returncode == 0, made.stderr
    command = build(folder, tmp_path / "image")
    assert command == json.loads((folder / MANIFEST).read_text())["command"]
    assert command[:2] == ["smol", "serve"] and "--model" not in command
    assert (tmp_path / "image/opt/smol/cache/models/yolox_nano.onnx.verified").is_file()  # `smol models verify` ran
    assert (tmp_path / "image/app/programs/detecting.smol").read_text() == DETECTING


def test_the_requirements_pin_every_dependency_as_installed(tmp_path: Path) -> None:
    context = write_container(EXAMPLES / "calc.smol", tmp_path / "context")
    pins = dict(line.split("==") for line in (tmp_path / "context/requirements.txt").read_text().split())
    assert pins == dict(line.split("==") for line in context.requirements)
    for name, version in pins.items():
        assert metadata.version(name) == version, name
    project = tomllib.loads((tmp_path / "context/src/pyproject.toml").read_text())["project"]
    for line in project["dependencies"]:
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate():
            assert canonicalize_name(requirement.name) in pins, requirement.name
            assert requirement.specifier.contains(pins[canonicalize_name(requirement.name)], prereleases=True)
    assert (tmp_path / "context/src/smolcpu/__init__.py").is_file()
    assert not list((tmp_path / "context/src").rglob("__pycache__"))
    assert context.models == [] and not (tmp_path / "context/models").exists()


def test_the_command_is_one_smol_serve_takes(tmp_path: Path) -> None:
    context = write_container(EXAMPLES / "calc.smol", tmp_path / "context")
    command = json.loads((tmp_path / "context" / MANIFEST).read_text())["command"]
    serve = get_command(app).get_command(None, "serve")  # type: ignore[attr-defined]
    parsed = serve.make_context("serve", command[2:]).params
    assert parsed["host"] == "0.0.0.0" and parsed["programs"] == Path("/app/programs")
    assert context.served_model == "smol/calc"


def test_installing_models_at_build_time_leaves_them_out_of_the_context(tmp_path: Path) -> None:
    program = tmp_path / "seeing.smol"
    program.write_text(SEEING)
    write_container(program, tmp_path / "context", llm="qwen2.5-coder-0.5b", bundle_models=False)
    dockerfile = (tmp_path / "context/Dockerfile").read_text()
    assert "RUN smol models install qwen2.5-coder-0.5b yolox-nano\n" in dockerfile
    assert not (tmp_path / "context/models").exists()
    manifest = json.loads((tmp_path / "context" / MANIFEST).read_text())
    assert manifest["models"][0]["sha256"] == KNOWN["qwen2.5-coder-0.5b"].sha256


def test_a_program_that_runs_code_gets_the_sandbox_jail(tmp_path: Path) -> None:
    program = tmp_path / "coder.smol"
    program.write_text("smol >= 0.1\nuse run = sandbox\n\nout <= switch <= (\n    run => send\n) <= in\n")
    write_container(program, tmp_path / "context")
    assert "apt-get install -y --no-install-recommends bubblewrap" in (tmp_path / "context/Dockerfile").read_text()


@pytest.mark.parametrize(
    ("source", "name", "saying"),
    [
        ("out <= switch <= (\n    x => nowhere\n) <= in\n", "broken.smol", "syntax error"),
        ("out <= switch <= (\n    x => [nowhere.jump]\n) <= in\n", "broken.smol", "the program has errors"),
        ("out <= in\n", "not-a-name.smol", "must be a name"),
    ],
)
def test_bad_programs_are_refused_before_anything_is_written(tmp_path: Path, source: str, name: str, saying: str) -> None:
    program = tmp_path / name
    program.write_text(source)
    with pytest.raises(UsageError, match=saying):
        write_container(program, tmp_path / "context")
    assert not (tmp_path / "context").exists()


def test_a_folder_holding_something_else_is_refused(tmp_path: Path) -> None:
    (tmp_path / "context").mkdir()
    (tmp_path / "context" / "thesis.tex").write_text("years of work")
    result = smol("compile", str(EXAMPLES / "calc.smol"), "--target", "container", str(tmp_path / "context"))
    assert result.returncode == 2 and "is not empty" in " ".join(result.stderr.split()) and "Traceback" not in result.stderr
    assert (tmp_path / "context" / "thesis.tex").read_text() == "years of work"


def test_a_model_given_as_a_file_is_refused(tmp_path: Path) -> None:
    program = tmp_path / "seeing.smol"
    program.write_text(SEEING)
    with pytest.raises(UsageError, match="names its models from the registry"):
        write_container(program, tmp_path / "context", llm=str(tmp_path / "mine.gguf"))


def test_an_extra_pins_its_packages_too(tmp_path: Path) -> None:
    plain = write_container(EXAMPLES / "calc.smol", tmp_path / "plain")
    tested = write_container(EXAMPLES / "calc.smol", tmp_path / "tested", extras=["test"])
    assert f"pytest=={metadata.version('pytest')}" in tested.requirements
    assert set(plain.requirements) < set(tested.requirements)
    with pytest.raises(UsageError, match="no extra 'nope'|no extra nope"):
        write_container(EXAMPLES / "calc.smol", tmp_path / "other", extras=["nope"])
