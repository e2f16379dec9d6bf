"""Verification steps added or removed where the recorded runs show a reason, tried on cases
like any variant, every variant a program that prints and parses back the same."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from smolcpu.artifact import RunIndex, open_store
from smolcpu.dream import mine
from smolcpu.dream._improve import Case, Score, diff, improve, session_runner, variants
from smolcpu.dream._mining import StepRecord
from smolcpu.dream._verification import MIN_RUNS, verification_edits
from smolcpu.lang import compile_source, format_program, parse
from smolcpu.programs import Session
from smolcpu.testing import ScriptedLLM

UNCHECKED = """smol >= 0.1

use solve = llm "Answer with a number."
use calc = math
out <= calc <= solve <= in
"""

CHECKED = """smol >= 0.1

use solve = llm "Answer with a number."
use sure = check with want = "number"
out <= switch <= (
    solve   => next
    sure<3> => next | back
) <= in
"""

CASES = [Case(f"What is {i} plus {i + 2}?", str(2 * i + 2)) for i in range(1, 11)]


def in_words(messages: list[dict[str, str]]) -> str:
    """Answers in words, which the math step cannot read, until a check says a number is wanted."""
    numbers = [int(n) for n in re.findall(r"\d+", messages[1]["content"])]
    told = any("should be one number" in m["content"] for m in messages)
    return str(sum(numbers)) if told else "many"


def right(messages: list[dict[str, str]]) -> str:
    return str(sum(int(n) for n in re.findall(r"\d+", messages[-1]["content"])))


def record_runs(path: Path, answer, cases=CASES[:6]) -> dict[str, StepRecord]:
    """Run the program on each case, recorded as a user's runs are; the steps' records mined."""

    async def go() -> None:
        async with Session(units={"llm": ScriptedLLM(answer)}, classifier=False) as session:
            for case in cases:
                await session.run(path, case.input)

    asyncio.run(go())
    with RunIndex() as index, open_store(index=index) as store:
        return mine(index, store).steps_of(str(path))


def improve_file(path: Path, answer, steps: dict[str, StepRecord]):
    async def go():
        async with Session(units={"llm": ScriptedLLM(answer)}, record=False, classifier=False) as session:
            with RunIndex() as index, open_store(index=index) as store:
                return await improve(path, CASES, store, run=session_runner(session), steps=steps)

    return asyncio.run(go())


def assert_round_trips(source: str) -> None:
    assert format_program(parse(source)) == source and compile_source(source).ok


def test_runs_failing_after_a_step_propose_a_check_after_it_and_the_cases_adopt_it(tmp_path: Path) -> None:
    path = tmp_path / "adder.smol"
    path.write_text(UNCHECKED)
    steps = record_runs(path, in_words)
    assert (steps["solve"].runs, steps["solve"].failed_after) == (6, 6)
    assert (steps["calc"].runs, steps["calc"].failed) == (6, 6)
    found = asyncio.run(variants(UNCHECKED, steps=steps))
    assert [v.change for v in found] == [
        "check after solve (6 of 6 recorded runs failed after it)",
        "solve solved three times, then a vote (6 of 6 recorded runs failed after it)",
    ]
    for variant in found:
        assert_round_trips(variant.source)
    assert "solve_check<3> => next | back" in found[0].source
    result = improve_file(path, in_words, steps)
    assert result.adopted == found[0].change
    assert [score.accuracy for score in result.baseline.values()] == [0.0, 0.0]
    with RunIndex() as index, open_store(index=index) as store:
        shown = diff(store, path)
    assert '+use solve_check = check with want = "number"' in shown and "-out <= calc <= solve <= in" in shown


def test_a_check_that_never_failed_is_removed_when_as_right_for_less_work(tmp_path: Path) -> None:
    path = tmp_path / "adder.smol"
    path.write_text(CHECKED)
    steps = record_runs(path, right, cases=CASES[:MIN_RUNS])
    assert (steps["sure"].runs, steps["sure"].failed) == (MIN_RUNS, 0)
    stricter, without = asyncio.run(variants(CHECKED, steps=steps))
    assert stricter.change == "sure stricter: above zero"  # not a step: the binding's variant
    assert without.change == f"without sure (it never failed in {MIN_RUNS} recorded runs)"
    assert "sure" not in without.source and "solve => next" in without.source
    assert_round_trips(without.source)
    result = improve_file(path, right, steps)
    assert result.adopted == without.change  # as right, in half the steps; the stricter check is no cheaper
    assert result.why.endswith("held out 100%, 4 steps, 4 tokens vs 100%, 8 steps, 4 tokens")
    assert path.read_text() == without.source


def test_as_right_for_as_much_work_or_as_wrong_for_less_is_not_adopted() -> None:
    some = Score(0.5, steps=10, tokens=100)
    assert Score(0.5, steps=10, tokens=90).beats(some) and Score(0.5, steps=9, tokens=100).beats(some)
    assert not Score(0.5, steps=10, tokens=95).beats(some)  # within the noise of a generation
    assert not Score(0.5, steps=9, tokens=101).beats(some)
    assert not Score(0.0, steps=1, tokens=1).beats(Score(0.0, steps=10, tokens=100))  # nothing right is no saving
    assert Score(0.6, steps=99, tokens=999).beats(some) and not some.beats(Score(0.6))


def test_a_back_that_never_helped_and_too_few_runs_propose_what_they_should() -> None:
    program = parse(CHECKED)
    hopeless = {"sure": StepRecord("p", "sure", "check", runs=9, failed=MIN_RUNS, recovered=0)}
    ((change, edited),) = verification_edits(program, hopeless, want="number")
    assert change.startswith("sure without back") and "sure<3> => next\n" in format_program(edited)
    helped = {"sure": StepRecord("p", "sure", "check", runs=9, failed=MIN_RUNS, recovered=1)}
    assert verification_edits(program, helped, want="number") == []
    few = {"solve": StepRecord("p", "solve", "llm", runs=MIN_RUNS - 1, failed_after=MIN_RUNS - 1)}
    assert verification_edits(program, few, want="number") == []


def test_a_vote_inside_a_switch_and_a_text_check_print_and_parse_back() -> None:
    program = parse(UNCHECKED.replace("out <= calc <= solve <= in", "out <= switch <= (\n    solve => next\n    calc => send\n)"))
    failing = {"solve": StepRecord("p", "solve", "llm", runs=MIN_RUNS, failed_after=MIN_RUNS)}
    edits = verification_edits(program, failing, want="number")
    assert [change.split(" (")[0] for change, _ in edits] == ["check after solve", "solve solved three times, then a vote"]
    for _, edited in edits:
        assert_round_trips(format_program(edited))
    assert "out <= solve_vote <= join <= (" in format_program(edits[1][1])
    assert [change for change, _ in verification_edits(program, failing, want="text")] == [edits[0][0]]
