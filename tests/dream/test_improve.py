"""Programs that improve themselves: variants scored on known cases, adopted only when better
held out; versions kept, diffed, reverted; a user's edit never overwritten."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from smolcpu.artifact import RunIndex, open_store
from smolcpu.dream._improve import (
    Case,
    agrees,
    diff,
    improve,
    load_cases,
    revert_program,
    session_runner,
    user_edited,
    variants,
)
from smolcpu.errors import UsageError
from smolcpu.lang import parse
from smolcpu.programs import Session
from smolcpu.testing import ScriptedLLM

PROGRAM = """smol >= 0.1

; adds the numbers of the question
use solve = llm "Answer with a number."
use check = check with want = "number"
out <= check <= solve
"""

CASES = [Case(f"What is {i} plus {i + 2}?", str(2 * i + 2)) for i in range(1, 11)]


def llm(messages: list[dict[str, str]]) -> str:
    """Right only when told to add carefully (what the better instruction says)."""
    numbers = [int(n) for n in re.findall(r"\d+", messages[-1]["content"])]
    return str(sum(numbers) if "carefully" in messages[0]["content"] else sum(numbers) + 1)


async def propose(instruction: str) -> list[str]:
    return ["Add the numbers carefully; answer with a number.", "Answer quickly."]


def improve_file(path: Path, cases=CASES, proposer=propose):
    async def go():
        async with Session(units={"llm": ScriptedLLM(llm)}, record=False, classifier=False) as session:
            with RunIndex() as index, open_store(index=index) as store:
                return await improve(path, cases, store, run=session_runner(session), propose=proposer)

    return asyncio.run(go())


def test_known_answers_agree_by_number_or_by_text() -> None:
    assert agrees("The answer is 1,200.0", "1200") and not agrees("12", "13")
    assert agrees(" Paris ", "paris") and not agrees("no number", "3")


def test_variants_change_one_binding_and_check_clean() -> None:
    found = asyncio.run(variants(PROGRAM, propose=propose, models=["smollm2"]))
    changes = [v.change for v in found]
    assert changes == [
        "instruction of solve rewritten",
        "instruction of solve rewritten",
        "solve on smollm2",
        "check stricter: above zero",
    ]
    assert 'model = "smollm2"' in found[2].source and "; adds the numbers" in found[2].source
    assert 'positive = true' in found[3].source


def test_a_check_that_doubts_is_tried_doubting_less_and_more() -> None:
    doubting = PROGRAM.replace('with want = "number"', 'with want = "number", sure = 0.87')
    assert doubting != PROGRAM
    found = [v for v in asyncio.run(variants(doubting)) if "sure" in v.change]
    assert [v.change for v in found] == ["check doubts less: sure = 0.84", "check doubts more: sure = 0.9"]
    assert "sure = 0.84" in found[0].source and "sure = 0.9" in found[1].source


def test_a_better_variant_is_adopted_stored_diffable_and_revertible(tmp_path: Path) -> None:
    path = tmp_path / "adder.smol"
    path.write_text(PROGRAM)
    found = improve_file(path)
    assert found.adopted == "instruction of solve rewritten"
    assert [score.accuracy for score in found.baseline.values()] == [0.0, 0.0]
    assert "carefully" in path.read_text() and not user_edited(path)
    with RunIndex() as index, open_store(index=index) as store:
        shown = diff(store, path)
        assert '-use solve = llm "Answer with a number."' in shown and "+use solve = llm" in shown
        assert "held out 100%, 8 steps, 4 tokens vs 0%, 8 steps, 4 tokens" in revert_program(store, path)
    assert path.read_text() == PROGRAM


def test_no_variant_is_adopted_when_none_is_better(tmp_path: Path) -> None:
    path = tmp_path / "adder.smol"
    path.write_text(PROGRAM)

    async def nothing_better(instruction: str) -> list[str]:
        return ["Answer quickly."]

    found = improve_file(path, proposer=nothing_better)
    assert found.adopted is None and "no variant did better" in found.why
    assert path.read_text() == PROGRAM


def test_a_users_edit_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "adder.smol"
    path.write_text(PROGRAM)
    improve_file(path)
    path.write_text(PROGRAM + "\n; my own note\n")  # the user put their instruction back
    assert user_edited(path)
    with RunIndex() as index, open_store(index=index) as store:
        with pytest.raises(UsageError, match="never overwrites your edits"):
            revert_program(store, path)
        assert "your edit since" in diff(store, path)
    found = improve_file(path)
    assert found.adopted is None and "not written: the file was edited" in found.why
    assert path.read_text() == PROGRAM + "\n; my own note\n"


def test_cases_load_from_json_lines_with_a_clear_error(tmp_path: Path) -> None:
    good = tmp_path / "cases.jsonl"
    good.write_text('{"input": "1+1", "answer": 2}\n\n{"input": "2+2", "answer": "4"}\n')
    assert load_cases(good) == [Case("1+1", "2"), Case("2+2", "4")]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "1+1"}\n')
    with pytest.raises(UsageError, match="bad.jsonl:1"):
        load_cases(bad)
    with pytest.raises(UsageError, match="at least 4 cases"):
        improve_file(good, cases=load_cases(good))
    assert parse(PROGRAM)
