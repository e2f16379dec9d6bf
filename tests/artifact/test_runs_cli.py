"""`smol runs` and `smol trace`: through the real command, on a store filled by real puts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from smolcpu.artifact import Artifact, open_store
from smolcpu.cli import app
from smolcpu.cli._runs import trace_tree
from smolcpu.errors import UsageError


def smol_in_process(*args: str) -> str:
    """Run a command in this process (fast); returns its output."""
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def smol(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the real ``smol`` command in a child process."""
    return subprocess.run(
        [sys.executable, "-m", "smolcpu", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )


@pytest.fixture
def recorded(smol_home: Path) -> list[Artifact]:
    """A finished run with a branch and a join, and an unfinished one, in SMOL_HOME's store."""
    with open_store() as store:
        store.index.start_run("run-7f3a", program="out <= join <= (plan, search) <= in", input_summary="why?")
        question = Artifact.text("Why is the sky blue?", origin="in", role="input", attributes={"run": "run-7f3a"})
        plan = question.derive(b'{"steps": 2}', type="application/json", origin="llm-1", role="planner")
        facts = question.derive(b"Rayleigh scattering", origin="search", role="tool")
        answer = Artifact.create(
            b"Short wavelengths scatter more.", type="text/plain", origin="join", parents=[plan, facts],
            attributes={"run": "run-7f3a"},
        )
        judged = Artifact.error("judge offline", parents=[answer], attributes={"run": "run-7f3a"})
        for artifact in (question, plan, facts, answer, judged):
            store.put(artifact)
        store.index.finish_run("run-7f3a", "ok")
        store.index.start_run("run-9bc0", program="out <= llm <= in")
    return [question, plan, facts, answer]


def test_runs_lists_runs(recorded: list[Artifact]) -> None:
    lines = smol_in_process("runs").splitlines()
    assert lines[0].split() == ["run", "started", "status", "artifacts", "program"]
    assert lines[1].split()[0] == "run-9bc0" and "running" in lines[1]
    assert lines[2].split()[0] == "run-7f3a" and " ok " in lines[2] and " 5 " in lines[2]
    assert "out <= join" in lines[2]


def test_trace_prints_the_lineage_tree(recorded: list[Artifact]) -> None:
    question, plan, facts, answer = recorded
    result = smol("trace", "run-7f")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "run run-7f3a" in out and "5 artifacts" in out
    assert f"{question.id[:8]} text/plain in/input  Why is the sky blue?" in out
    assert f"{plan.id[:8]} application/json llm-1/planner" in out
    assert "Rayleigh scattering" in out
    assert out.count(answer.id[:8]) == 2 and "(shown above)" in out
    assert "error: judge offline" in out
    depth = {line.split()[-1]: len(line) - len(line.lstrip("│ ├└─")) for line in out.splitlines()[1:]}
    assert depth["blue?"] < depth["2}"]


def test_trace_full_prints_every_artifact_whole(recorded: list[Artifact], smol_home: Path) -> None:
    with open_store() as store:
        long = Artifact.json({"image": "A" * 5000, "note": "kept"}, attributes={"run": "run-7f3a"})
        store.put(long)
    out = smol_in_process("trace", "run-7f3a", "--full")
    assert "Short wavelengths scatter more." in out and '"steps": 2' in out
    assert '"note": "kept"' in out and "(5000 characters)" in out and "A" * 1000 not in out


def test_trace_tree_is_reusable(recorded: list[Artifact]) -> None:
    console = Console(width=200, record=True)
    console.print(trace_tree("run-7f3a"))
    assert "Rayleigh scattering" in console.export_text()


def test_unknown_run_is_a_clear_error_with_a_hint(recorded: list[Artifact]) -> None:
    result = smol("trace", "nope")
    assert result.returncode == 2
    assert "no run 'nope'" in result.stderr and "smol runs" in result.stderr
    assert "Traceback" not in result.stderr


def test_ambiguous_prefix_is_a_clear_error(recorded: list[Artifact]) -> None:
    with pytest.raises(UsageError, match="ambiguous"):
        smol_in_process("trace", "run-")


def test_runs_rebuild_recovers_a_lost_index(recorded: list[Artifact], smol_home: Path) -> None:
    (smol_home / "index.sqlite").unlink()
    for suffix in ("-wal", "-shm"):
        (smol_home / f"index.sqlite{suffix}").unlink(missing_ok=True)
    out = smol_in_process("runs", "--rebuild")
    assert "indexed 5 artifacts" in out
    assert "run-7f3a" in out and "unknown" in out
    assert "Rayleigh scattering" in smol_in_process("trace", "run-7f3a")


def test_no_runs_yet_says_what_to_do() -> None:
    assert "no runs yet" in smol_in_process("runs")
