"""``smol serve`` SIGKILLed mid-run: on restart the run is ``interrupted``, every stored
artifact verifies, and ``smol run --resume`` goes on from its last recorded step."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from smolcpu.artifact import INTERRUPTED, RunIndex
from smolcpu.testing import ServerProcess

NAP = """\
; Two steps, each running the code in the sandbox (it sleeps, so the run is long).
smol >= 0.1
use first = sandbox
use nap = sandbox
out <= switch <= (
  first => continue
  nap => send
) <= in
"""
CODE = "import time\ntime.sleep(2)\nprint('rested')"


def smol(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "smolcpu", *args], capture_output=True, text=True, timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip


def run_reaching(index: RunIndex, node: str, *, seconds: float = 60) -> str:
    """The id of the run that has recorded an output of ``node`` (waits for it)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for run in index.runs():
            if any(record.id and node == record.origin for record in index.artifacts(run.id)):
                return run.id
        time.sleep(0.05)
    raise AssertionError(f"no run reached {node}")


@pytest.mark.slow
def test_a_server_killed_mid_run_marks_it_interrupted_and_the_run_resumes(tmp_path: Path, smol_home: Path) -> None:
    programs = tmp_path / "programs"
    programs.mkdir()
    (programs / "nap.smol").write_text(NAP)
    server = ServerProcess(programs).start()
    try:
        answer = httpx.post(f"{server.url}/v1/hooks/nap", content=CODE, headers={"content-type": "text/plain"}, timeout=30)
        assert answer.status_code == 202, answer.text
        with RunIndex() as index:
            run_id = run_reaching(index, "switch1.first")
            time.sleep(0.5)  # the second step's sandbox is asleep now
            server.kill()
            assert index.run(run_id).status == "running", "nobody said how it ended"
    finally:
        server.kill()

    with ServerProcess(programs):  # the restart notices the run's server is gone
        with RunIndex() as index:
            assert index.run(run_id).status == INTERRUPTED
    verified = smol("store", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert " 0 corrupt, 0 missing" in verified.stdout

    resumed = smol("run", str(programs / "nap.smol"), "--resume", run_id[:10])
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "rested" in resumed.stdout and "status ok" in resumed.stdout
    assert f"resumed {run_id} · 1 recorded step(s) not run again" in resumed.stdout
    listed = smol("runs")
    assert INTERRUPTED in listed.stdout
