"""``smol check``, ``smol compile`` and ``smol fmt``, run as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

CORPUS = Path(__file__).parent / "corpus"


def smol(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "smolcpu", *args], capture_output=True, text=True, timeout=120)


def test_check_ok_and_errors() -> None:
    ok = smol("check", str(CORPUS / "02_declared_tools.smol"))
    assert ok.returncode == 0, ok.stderr
    assert "0 errors, 0 warnings" in ok.stderr
    bad = smol("check", str(CORPUS / "23_unknown_jump_label.smol"))
    assert bad.returncode == 1
    assert "23_unknown_jump_label.smol:7:17: error[unknown-jump]: `[rety.jump]` leads nowhere" in bad.stderr
    assert "hint: did you mean `retry`?" in bad.stderr
    assert "                ^" in bad.stderr


def test_check_syntax_error_is_clean() -> None:
    result = smol("check", str(CORPUS / "19_syntax_arrow.smol"))
    assert result.returncode == 1
    assert "19_syntax_arrow.smol:5:7: syntax error" in result.stderr
    assert "Traceback" not in result.stderr


def test_compile_formats() -> None:
    path = str(CORPUS / "13_continue_parallel.smol")
    text = smol("compile", path)
    assert text.returncode == 0 and "(optimised)" in text.stdout and "parallel:switch1.parallel1" in text.stdout
    plain = smol("compile", path, "--no-optimise")
    assert "(optimised)" not in plain.stdout
    data = json.loads(smol("compile", path, "--format", "json").stdout)
    assert data["optimised"] and data["root"] == "main"
    assert smol("compile", path, "-f", "dot").stdout.startswith("digraph flow {")
    assert smol("compile", path, "-f", "mermaid").stdout.startswith("flowchart TD")


def test_compile_with_errors_still_draws_and_exits_1() -> None:
    result = smol("compile", str(CORPUS / "25_unknown_ref.smol"))
    assert result.returncode == 1
    assert "error[unknown-ref]" in result.stderr
    assert "switch1.a" in result.stdout


def test_fmt_check_and_write(tmp_path: Path) -> None:
    path = tmp_path / "p.smol"
    path.write_text("out<=switch<=(a=>next||cancel ; why\nbb=>send)<=in\n")
    assert smol("fmt", str(path), "--check").returncode == 1
    printed = smol("fmt", str(path))
    assert printed.stdout == "out <= switch <= (\n    a  => next | cancel  ; why\n    bb => send\n) <= in\n"
    assert smol("fmt", str(path), "--write").returncode == 0
    assert path.read_text() == printed.stdout
    assert smol("fmt", str(path), "--check").returncode == 0


def test_missing_file_is_one_line() -> None:
    result = smol("check", "no/such.smol")
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: cannot read 'no/such.smol'")
