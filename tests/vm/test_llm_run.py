"""A program on the real local LLM (the small test model): it chats, picks outcomes and chooses."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from smolcpu.artifact import RunIndex
from smolcpu.models import model_spec

CORPUS = Path(__file__).resolve().parents[1] / "lang" / "corpus"


@pytest.mark.slow
def test_a_select_runs_on_the_llm_with_the_llm_chooser(smol_home: Path) -> None:
    if not model_spec("smollm2").installed:
        pytest.skip("the test model is not installed: smol models install smollm2")
    result = subprocess.run(
        [sys.executable, "-m", "smolcpu", "run", str(CORPUS / "03_select_loop.smol"), "--input", "What is 2+2?",
         "--budget", "6", "--step-timeout", "120"],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "SMOL_LLM_MODEL": "smollm2"},
    )
    assert "Traceback" not in result.stderr, result.stderr
    status = re.search(r"^status (\w+)", result.stdout, re.M)
    assert status is not None and status.group(1) in ("ok", "cancelled", "budget"), result.stdout
    path = re.search(r"^path (.*)$", result.stdout, re.M).group(1)  # type: ignore[union-attr]
    assert path.startswith("select1."), "the LLM chooser picked a step of the select"
    run_id = re.search(r"run (run-[0-9a-f]+)", result.stdout).group(1)  # type: ignore[union-attr]
    with RunIndex() as index:
        records = index.artifacts(run_id)
    answers = [r for r in records if r.role == "assistant"]
    assert answers and all(r.origin.startswith("select1.") for r in answers)
