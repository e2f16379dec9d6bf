"""docs/tutorial.md, run as a reader runs it, so that the tutorial cannot drift from the code.

The tutorial's fenced blocks are its steps: a ``console`` block holds commands (``$ ...``),
each followed by the output it shows; a block whose info string names a file after the
language (```` ```toml mytools/pyproject.toml ````) is a file the reader writes. The slow test
copies this checkout (its tracked and new files, no .venv) into an empty folder, writes the
files and runs every command there in order, with a fresh SMOL_HOME, and checks each command's
output (stdout, then stderr) against the lines shown: each shown line must match one output line, in order, where
``…`` matches any text. The fast tests check that the tutorial parses into steps and that
every ``./smol`` command in it exists.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

from smolcpu.cli import app
from smolcpu.models import model_spec

ROOT = Path(__file__).resolve().parents[1]
TUTORIAL = ROOT / "docs" / "tutorial.md"
BLOCK = re.compile(r"^```([^\n]*)\n(.*?)^```$", re.S | re.M)
COMMAND_TIMEOUT_S = 1800
"""The first ``./smol`` makes the copy's .venv: minutes on a busy machine."""
TUTORIAL_TIMEOUT_S = 3600
"""The whole tutorial: the .venv, a pip install and an LLM run."""


@dataclass
class Command:
    line: str
    shown: list[str] = field(default_factory=list)


@dataclass
class File:
    path: str
    text: str


def steps(markdown: str) -> list[Command | File]:
    """The tutorial's commands and files, in the order a reader meets them."""
    found: list[Command | File] = []
    for info, body in BLOCK.findall(markdown):
        words = info.split()
        if words[:1] == ["console"]:
            for line in body.splitlines():
                if line.startswith("$ "):
                    found.append(Command(line[2:]))
                elif found and isinstance(found[-1], Command) and line.strip():
                    found[-1].shown.append(line.rstrip())
        elif len(words) == 2:
            found.append(File(words[1], body))
    return found


def pattern(shown: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in shown.split("…")))


def unmatched(shown: list[str], output: str) -> list[str]:
    """The shown lines that do not match the output, in order ([] when all do)."""
    lines = [line.rstrip() for line in output.splitlines()]
    at = 0
    for index, line in enumerate(shown):
        wanted = pattern(line)
        while at < len(lines) and not wanted.fullmatch(lines[at]):
            at += 1
        if at == len(lines):
            return shown[index:]
        at += 1
    return []


def test_the_tutorial_parses_into_files_and_commands_with_their_output() -> None:
    found = steps(TUTORIAL.read_text())
    commands = [step for step in found if isinstance(step, Command)]
    files = {step.path for step in found if isinstance(step, File)}
    assert files == {"mytools/pyproject.toml", "mytools/mytools.py", "task.smol"}
    assert len(commands) >= 10 and all(command.shown for command in commands if command.line.startswith("./smol"))
    assert unmatched(["a … c", "end"], "x\na b c\ny\nend\n") == []
    assert unmatched(["end", "a … c"], "a b c\nend\n") == ["a … c"]


def test_every_smol_command_of_the_tutorial_exists() -> None:
    for command in (step for step in steps(TUTORIAL.read_text()) if isinstance(step, Command)):
        if command.line.startswith("./smol "):
            words = [word for word in command.line.split()[1:3] if re.fullmatch(r"[a-z]+", word)]
            shown = CliRunner().invoke(app, [*words, "--help"])
            assert shown.exit_code == 0, f"{command.line}: {shown.output}"


def copy_of_the_checkout(target: Path) -> Path:
    """This checkout's tracked and new (not ignored) files, as a clone would have them."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


@pytest.mark.slow
@pytest.mark.timeout(TUTORIAL_TIMEOUT_S)
def test_the_tutorial_runs_as_written(tmp_path: Path) -> None:
    if not model_spec("smollm2").installed:
        pytest.skip("the tutorial's model is not installed; install it with: ./smol models install smollm2")
    if shutil.which("git") is None:
        pytest.skip("git is needed to list the checkout's files")
    here = copy_of_the_checkout(tmp_path / "smol")
    outer_bin = str(Path(sys.executable).parent)
    environment = {key: value for key, value in os.environ.items() if key != "VIRTUAL_ENV"}
    environment |= {
        "PATH": os.pathsep.join(p for p in environment.get("PATH", "").split(os.pathsep) if p != outer_bin),
        "SMOL_HOME": str(tmp_path / "home"),
        "COLUMNS": "100",
    }
    for step in steps(TUTORIAL.read_text()):
        if isinstance(step, File):
            (here / step.path).parent.mkdir(parents=True, exist_ok=True)
            (here / step.path).write_text(step.text)
            continue
        exported = re.fullmatch(r"export (\w+)=(\S+)", step.line)
        if exported:
            environment[exported.group(1)] = exported.group(2)
            continue
        done = subprocess.run(
            ["bash", "-c", step.line], cwd=here, env=environment, capture_output=True, text=True,
            timeout=COMMAND_TIMEOUT_S,
        )
        assert done.returncode == 0, f"$ {step.line}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        seen = done.stdout + done.stderr  # a reader sees both (summaries and notes go to stderr)
        missing = unmatched(step.shown, seen)
        assert not missing, f"$ {step.line}\nnot in its output: {missing[0]!r}\noutput:\n{seen[-3000:]}"
