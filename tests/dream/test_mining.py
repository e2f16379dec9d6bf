"""Decisions are recorded as choice artifacts, and mining reads them back with each run's fate."""

from __future__ import annotations

from smolcpu.artifact import RunIndex, open_store
from smolcpu.dream import mine
from smolcpu.testing import ScriptedChooser
from tests.dream.helpers import CALC, WORD, ask_all


def mined():
    with RunIndex() as index, open_store(index=index) as store:
        return mine(index, store)


def test_every_decision_is_recorded_with_its_input_options_and_who_took_it() -> None:
    answers = ask_all(["Tom has 3 apples and 4 apples. How many apples?", "What is 2 + 2?"])
    assert [a.text for a in answers] == ["7", "4"]
    found = mined()
    routes = [d for d in found.decisions if d.block == "route"]
    assert [(d.option, d.by) for d in sorted(routes, key=lambda d: d.input)] == [(WORD, "llm"), (CALC, "llm")]
    word = next(d for d in routes if d.option == WORD)
    assert word.kind == "match" and "apples" in word.input and "default" in word.options
    assert word.succeeded and word.program.endswith("default.smol")


def test_a_rule_decision_is_recorded_as_the_rules() -> None:
    from smolcpu.programs import Session
    from smolcpu.testing import ScriptedLLM
    import asyncio

    async def go() -> None:
        llm = ScriptedLLM(lambda messages: "done")
        async with Session(units={"llm": llm}, classifier=False, distilled=False) as session:
            await session.ask("Call it.", tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}])

    asyncio.run(go())
    routes = [d for d in mined().decisions if d.block == "route"]
    assert [(d.by, d.option) for d in routes] == [("rule", "application/vnd.smol.tools-request+json")]


def test_a_verified_solution_is_mined_with_its_code_and_answer() -> None:
    ask_all(["Tom has 3 apples and 4 apples. How many apples?"])
    (solved,) = mined().solved
    assert solved.question == "Tom has 3 apples and 4 apples. How many apples?"
    assert "answer = 3 + 4" in solved.code and solved.answer == "7"


def test_a_solution_its_writer_doubted_is_not_filed() -> None:
    from smolcpu.dream._mining import SURE

    ask_all(["Tom has 3 apples and 4 apples. How many apples?"], confidence=lambda messages: SURE - 0.01)
    assert mined().solved == []  # right here, but a doubted program is wrong more often than not
    ask_all(["Sam has 2 marbles and 5 marbles. How many marbles?"], confidence=lambda messages: SURE)
    assert [s.answer for s in mined().solved] == ["7"]


def test_a_failed_check_files_no_solution_and_a_vote_says_whether_the_answers_agreed() -> None:
    def negative(messages):
        return "```python\nprint(-1)\n```" if "Write one" in messages[0]["content"] else "Answer: -1"

    def nothing(messages):
        return "```python\nprint('many')\n```" if "Write one" in messages[0]["content"] else "Answer: many"

    ask_all(["Tom has 3 apples and 4 apples. How many apples?"], answer=negative)
    found = mined()
    assert found.solved == [] and found.succeeded == 1  # the check failed; the three answers agreed
    ask_all(["Sam has 2 pears and 5 pears. How many pears?"], answer=nothing)
    found = mined()
    assert found.solved == [] and found.succeeded == 1  # no answer agreed: the second run failed
    assert [d.succeeded for d in found.decisions if "pears" in d.input] == [False]


def test_asking_nearly_the_same_again_marks_the_first_run_as_not_succeeded() -> None:
    ask_all(["Tom has 3 apples and 4 apples. How many?", "Tom has 3 apples and 4 apples. How many??"])
    found = mined()
    assert found.succeeded == 1 and len(found.solved) == 1


def test_a_scripted_chooser_is_named_as_such() -> None:
    ask_all(["What is 2 + 2?"], chooser=ScriptedChooser({"route": [CALC]}))
    assert [d.by for d in mined().decisions if d.block == "route"] == ["scripted"]
