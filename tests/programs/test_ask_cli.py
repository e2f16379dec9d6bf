"""``smol ask`` and the Python face, end to end: the real command in a subprocess.

The fast tests run a tools-only program (no model); the slow ones run the default program
with the SmolLM2 test model (``./smol models install smollm2``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import smolcpu

CALC = str(Path(__file__).resolve().parents[2] / "examples" / "calc.smol")


def smol(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "smolcpu", *args], capture_output=True, text=True, timeout=timeout, env=env)


def test_ask_prints_the_answer_and_the_run_id() -> None:
    result = smol("ask", "--program", CALC, "6 * 7")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "42"
    assert "run run-" in result.stderr and "ok" in result.stderr
    run_id = result.stderr.split("run ", 1)[1].split()[0]
    trace = smol("trace", run_id)
    assert trace.returncode == 0 and "calc" in trace.stdout, trace.stderr  # the session recorded every step


def test_ask_json_prints_one_object() -> None:
    result = smol("ask", "--program", CALC, "--json", "2 ** 10")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["answer"] == "1024" and answer["status"] == "ok" and answer["run_id"].startswith("run-")
    assert {"seconds", "steps", "tokens", "trace"} <= set(answer)
    assert answer["trace"][0]["unit"] == "math"


def test_ask_trace_shows_each_unit_and_its_outcome() -> None:
    result = smol("ask", "--program", CALC, "--trace", "3 +")
    assert result.returncode == 1
    assert "switch1.calc (math" in result.stderr and "send!" in result.stderr


def test_a_missing_program_or_image_is_a_clear_error_not_a_traceback(tmp_path: Path) -> None:
    result = smol("ask", "--program", str(tmp_path / "nope.smol"), "hi")
    assert result.returncode == 2 and "no program file" in result.stderr and "Traceback" not in result.stderr
    result = smol("ask", "--program", CALC, "--image", str(tmp_path / "nope.jpg"), "hi")
    assert result.returncode == 2 and "cannot read image" in result.stderr


def test_ask_help_explains() -> None:
    result = smol("ask", "--help")
    assert result.returncode == 0 and "--image" in result.stdout and "--trace" in result.stdout


def test_the_package_face_names_ask_and_run() -> None:
    assert {"ask", "ask_async", "run", "run_async", "Answer", "Session"} <= set(smolcpu.__all__)
    result = smolcpu.run(CALC, "19.99 * 1.2", record=False)
    assert result.ok and result.output.as_text() == "23.988"
    answer = smolcpu.ask("2 + 2", program=CALC, record=False)
    assert answer.ok and answer.text == "4"
    assert answer.steps == 2, "the budget counts the calc step and the match case (LANGUAGE.md §3)"


@pytest.mark.slow
def test_ask_with_the_default_program_on_the_test_model() -> None:
    result = smol("ask", "--model", "smollm2", "--json", "What is 12 + 30?", timeout=600)
    answer = json.loads(result.stdout)
    assert answer["run_id"].startswith("run-") and answer["status"] in ("ok", "error")
    assert answer["steps"] >= 1 and answer["tokens"] > 0
    assert any(step.get("node") == "route" for step in answer["trace"])  # the LLM chose a route
    written = [step for step in answer["trace"] if step.get("unit") == "llm"]
    assert written and all(0 < step["confidence"] <= 1 for step in written)  # how sure each LLM step was


def test_chat_answers_each_line_and_keeps_the_thread_in_the_memory_vault(tmp_path: Path) -> None:
    import os

    env = {**os.environ, "SMOL_MEMORY": str(tmp_path / "vault")}
    result = subprocess.run(
        [sys.executable, "-m", "smolcpu", "chat", "--program", CALC],
        input="6 * 7\n2 + 2\n\n", capture_output=True, text=True, timeout=120, env=env,
    )
    assert result.returncode == 0, result.stderr
    assert "smol> 42" in result.stdout and "smol> 4" in result.stdout
    notes = list((tmp_path / "vault" / "Chats").glob("*.md"))
    assert len(notes) == 1 and "6 * 7" in notes[0].read_text() and "**Smol:** 42" in notes[0].read_text()
