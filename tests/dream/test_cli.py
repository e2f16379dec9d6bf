"""``smol dream`` as a user meets it: clear one-line errors, a report, triggers, revert."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.dream.helpers import ask_all


def smol(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SMOL_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "smolcpu", "dream", *args], capture_output=True, text=True,
                          timeout=120, env=env)


def test_before_any_dream_the_commands_say_what_to_do(smol_home: Path) -> None:
    report = smol("--report", home=smol_home)
    assert report.returncode == 2 and "no dream yet: run `smol dream` first" in report.stderr
    assert "Traceback" not in report.stderr
    assert "nothing to revert" in smol("--revert", home=smol_home).stderr
    assert "not due: never dreamt; 0 runs recorded" in smol("--if-due", home=smol_home).stdout
    missing = smol("diff", str(smol_home / "none.smol"), home=smol_home)
    assert missing.returncode == 2 and "dream has not changed" in missing.stderr


def test_a_dream_reads_the_runs_and_reports_them(smol_home: Path) -> None:
    ask_all(["What is 2 + 2?", "Tom has 3 apples and 4 apples. How many apples?"])
    assert "never dreamt; 2 runs recorded" in smol("--if-due", "--after-runs", "100", home=smol_home).stderr
    shown = smol("--report", home=smol_home)
    assert shown.returncode == 0, shown.stderr
    assert "2 runs read, 2 succeeded" in shown.stdout and "llm" in shown.stdout
    assert "not due" in smol("--if-due", "--after-runs", "100", home=smol_home).stdout
    assert '"runs": 2' in smol("--report", "--json", home=smol_home).stdout


def test_a_shipped_program_is_not_improved_in_place(smol_home: Path) -> None:
    from smolcpu.programs import DEFAULT_PROGRAM

    result = smol("improve", str(DEFAULT_PROGRAM), "--cases", "x.jsonl", home=smol_home)
    assert result.returncode == 2 and "ships with Smol: copy it" in result.stderr


def test_background_dreaming_returns_at_once_and_logs(smol_home: Path) -> None:
    import time

    started = smol("--if-due", "--background", home=smol_home)
    assert started.returncode == 0 and "dreaming in the background" in started.stdout
    log = smol_home / "dream" / "dream.log"
    deadline = time.monotonic() + 60
    while "not due" not in (log.read_text() if log.exists() else "") and time.monotonic() < deadline:
        time.sleep(0.5)
    assert "not due: never dreamt; 0 runs recorded" in log.read_text()


def test_improve_mines_the_programs_own_runs_before_it_asks_for_cases(smol_home: Path, tmp_path: Path) -> None:
    from tests.dream.test_verification import UNCHECKED, in_words, record_runs

    path = tmp_path / "adder.smol"
    path.write_text(UNCHECKED)
    assert record_runs(path, in_words)["solve"].failed_after == 6
    result = smol("improve", str(path), home=smol_home)
    assert result.returncode == 2 and "no cases" in result.stderr and "Traceback" not in result.stderr
