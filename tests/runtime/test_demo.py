"""``smol demo`` end to end: a real process, a worker process, the store and the trace."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from smolcpu.artifact import RunIndex


def test_demo_runs_the_pipeline_and_prints_the_trace(smol_home: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "smolcpu", "demo", "--text", "one two\nthree four\nfive six"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "ONE TWO\nfour three\nFIVE SIX" in out
    assert "reverse in worker pid" in out
    run_id = re.search(r"smol trace (demo-[0-9a-f]+)", out).group(1)
    with RunIndex() as index:
        run = index.run(run_id)
        records = index.artifacts(run_id)
    assert run is not None and run.status == "ok"
    # input, 3 pieces, 3 results, the join order, the answer
    assert len(records) == 9
    assert {record.origin for record in records} == {"demo", "splitter", "shout", "reverse", "joiner"}
    assert f"run {run_id} ok" in out and "reverse/worker" in out
