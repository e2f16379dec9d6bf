"""``smol run``, end to end: the real command in a subprocess, on real tools (no model)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

CALC = str(Path(__file__).resolve().parents[2] / "examples" / "calc.smol")
"""The README's example: math, then a match that passes a result or an error on."""

CHOOSE = """\
use calc = math
use again = math

out <= select <= (
    calc  => send
    again => send
) <= in
"""


def smol(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "smolcpu", *args], capture_output=True, text=True, timeout=120, input=stdin
    )


def program(tmp_path: Path, text: str, name: str = "flow.smol") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_run_prints_output_status_run_id_and_path_and_records_the_trace(tmp_path: Path) -> None:
    result = smol("run", CALC, "--input", "6*7")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "42"
    assert "status ok" in result.stdout
    assert "path switch1.calc:next → match1.default:send" in result.stdout
    run_id = re.search(r"run (run-[0-9a-f]+)", result.stdout).group(1)  # type: ignore[union-attr]
    trace = smol("trace", run_id)
    assert trace.returncode == 0, trace.stderr
    assert "switch1.calc" in trace.stdout and "42" in trace.stdout


def test_a_failing_step_takes_its_alternative_and_the_status_says_error(tmp_path: Path) -> None:
    result = smol("run", CALC, "--input", "1/0", "--no-record")
    assert result.returncode == 1
    assert "status error" in result.stdout
    assert "switch1.calc:send! → match1.error:send" in result.stdout
    assert "smol trace" not in result.stdout


def test_input_from_a_file_and_from_stdin(tmp_path: Path) -> None:
    (tmp_path / "question.txt").write_text("2**10")
    assert smol("run", CALC, "--input", f"@{tmp_path / 'question.txt'}").stdout.startswith("1024\n")
    assert smol("run", CALC, stdin="3+4").stdout.startswith("7\n")
    missing = smol("run", CALC, "--input", "@/no/such/file")
    assert missing.returncode == 2 and "cannot read input file" in missing.stderr


def test_the_scripted_chooser_decides_a_select(tmp_path: Path) -> None:
    result = smol("run", program(tmp_path, CHOOSE), "--input", "5-1", "--chooser", "scripted:again")
    assert result.returncode == 0, result.stderr
    assert "path select1.again:send" in result.stdout
    bad = smol("run", program(tmp_path, CHOOSE), "--input", "1", "--chooser", "oracle")
    assert bad.returncode == 2 and "unknown chooser 'oracle'" in bad.stderr


def test_a_program_with_errors_prints_its_diagnostics_and_exits_1(tmp_path: Path) -> None:
    broken = program(tmp_path, "out <= switch <= (\n a => [nowhere.jump]\n) <= in\n")
    result = smol("run", broken, "--input", "x")
    assert result.returncode == 1
    assert "error[unknown-jump]" in result.stderr and "^" in result.stderr
    assert result.stdout == ""


def test_the_default_neural_worker_without_a_model_says_how_to_install_one(tmp_path: Path) -> None:
    env_home = tmp_path / "cache"
    result = subprocess.run(
        [sys.executable, "-m", "smolcpu", "run", program(tmp_path, "out <= reason <= in\n"), "--input", "why?"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "SMOL_CACHE": str(env_home)},
    )
    assert result.returncode == 1
    assert "smol models install" in result.stdout
    assert "Traceback" not in result.stderr


def test_run_policy_flag_is_a_ceiling_and_trace_shows_the_spending(smol_home: Path) -> None:
    refused = smol("run", CALC, "--input", "6*7", "--policy", "units=llm")
    assert refused.returncode == 1
    assert "status limit" in refused.stdout
    assert "limit units: step" in refused.stdout and "its policy allows [llm]" in refused.stdout
    allowed = smol("run", CALC, "--input", "6*7", "--policy", "units=math", "--policy", "wall_s=60")
    assert allowed.returncode == 0, allowed.stderr
    assert "spent: wall_s" in allowed.stdout and "of 60" in allowed.stdout
    run_id = re.search(r"run (run-[0-9a-f]+)", allowed.stdout).group(1)  # type: ignore[union-attr]
    trace = smol("trace", run_id)
    assert "spent: wall_s" in trace.stdout and "policy: units = [math]" in trace.stdout


def test_a_bad_policy_flag_is_a_usage_error() -> None:
    result = smol("run", CALC, "--input", "1", "--policy", "tokens=many")
    assert result.returncode == 2
    assert "--policy" in result.stderr and "takes a number above 0" in result.stderr
    assert "Traceback" not in result.stderr
