"""LLM steps as conversations: the task in view, the outcome named in the same reply (first
unless the model says otherwise), and a step re-entered by `back` repairing its own work.

The program is the one issue 9 tried as a new user would; each failure it hit has a test."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from smolcpu.lang import compile_source
from smolcpu.testing import ScriptedLLM
from smolcpu.units import text_for_model
from smolcpu.vm import Executor, RunResult, Status

PROGRAM = """
use write = llm "Write one Python program that solves the problem and prints only the final number. Reply with the code only."
use run = sandbox
out <= switch <= (
    write => next | cancel
    run   => send | back
) <= in
"""

TASK = "Janet's ducks lay 16 eggs per day. She eats 3 and bakes with 4, and sells the rest at $2. How much does she make?"


def run_program(source: str, llm: ScriptedLLM, given: str = TASK) -> RunResult:
    async def go() -> RunResult:
        async with Executor(compile_source(source).runnable(), units={"llm": llm}, record=False) as executor:
            return await executor.run(given)

    return asyncio.run(go())


def test_a_correct_fenced_program_is_run_and_not_cancelled() -> None:
    llm = ScriptedLLM(lambda messages: "```python\nprint((16 - 3 - 4) * 2)\n```")
    result = run_program(PROGRAM, llm)
    assert result.status is Status.OK and text_for_model(result.output) == "18"
    assert [str(v) for v in result.path] == ["switch1.write:next", "switch1.run:send"]
    assert len(llm.requests) == 1  # the outcome came with the answer: no second question


def test_the_system_message_says_how_to_name_another_outcome() -> None:
    llm = ScriptedLLM(lambda messages: "```python\nprint(18)\n```")
    run_program(PROGRAM, llm)
    system = llm.requests[0]["messages"][0]["content"]
    assert system.startswith("Write one Python program") and "[cancel]" in system


def test_a_reply_that_names_cancel_cancels_with_its_reason() -> None:
    llm = ScriptedLLM(lambda messages: "[cancel] the problem does not say how many eggs there are")
    result = run_program(PROGRAM, llm)
    assert result.status is Status.CANCELLED and "does not say how many eggs" in result.reason


def test_a_bracket_that_names_no_listed_outcome_is_just_text() -> None:
    llm = ScriptedLLM(lambda messages: "[note] print(18)")
    result = run_program(PROGRAM.replace("run   => send | back", "run   => send | continue"), llm)
    assert result.path[0].outcome == "next"


def test_a_failing_snippet_goes_back_and_the_llm_repairs_it_seeing_the_error() -> None:
    asked: list[list[dict[str, Any]]] = []

    def answer(messages: list[dict[str, Any]]) -> str:
        asked.append(messages)
        return "```python\nprint(eggs * 2)\n```" if len(asked) == 1 else "```python\neggs = 16 - 3 - 4\nprint(eggs * 2)\n```"

    result = run_program(PROGRAM, ScriptedLLM(answer))
    assert result.status is Status.OK and text_for_model(result.output) == "18"
    assert [str(v) for v in result.path] == [
        "switch1.write:next", "switch1.run:back!", "switch1.write:next", "switch1.run:send"
    ]
    user, previous, feedback = asked[1][1:]
    assert TASK in user["content"] and "print(eggs * 2)" in previous["content"]
    assert "NameError" in feedback["content"]


def test_a_repair_that_repeats_the_broken_answer_is_asked_again_with_sampling() -> None:
    broken, fixed = "```python\nprint(eggs * 2)\n```", "```python\neggs = 16 - 3 - 4\nprint(eggs * 2)\n```"
    replies = iter([broken, broken, fixed])
    llm = ScriptedLLM(lambda messages: next(replies))
    result = run_program(PROGRAM, llm)
    assert result.status is Status.OK and text_for_model(result.output) == "18"
    assert [request["temperature"] for request in llm.requests] == [0.0, 0.0, 0.7]
    retry = llm.requests[2]["messages"]
    assert [m["role"] for m in retry] == ["system", "user"], "asked afresh: the copied answer is not shown"
    assert "A first answer to this did not work" in retry[1]["content"] and "NameError" in retry[1]["content"]
    assert [str(v) for v in result.path] == [
        "switch1.write:next", "switch1.run:back!", "switch1.write:next", "switch1.run:send"
    ]
    words = [len(re.findall(r"\s*\S+|\s+", text)) for text in (broken, broken, fixed)]
    assert result.usage["spent"]["tokens_written"] == sum(words), "the step asked twice spent both answers"


def test_a_later_llm_step_sees_the_task_beside_its_input() -> None:
    seen: list[str] = []

    def answer(messages: list[dict[str, Any]]) -> str:
        seen.append(messages[1]["content"])
        return "a plan" if len(seen) == 1 else "done"

    source = 'use plan = llm "Plan."\nuse act = llm "Act."\nout <= plan <= act <= in'
    run_program(source, ScriptedLLM(answer))
    assert seen[0] == TASK
    assert seen[1].startswith("Task: " + TASK) and seen[1].endswith("a plan")
