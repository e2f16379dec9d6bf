"""The default program's paths, end to end on the real executor, sandbox, math, check and
memory units, with a scripted LLM (the real conversation path) and scripted routing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from smolcpu.lang import compile_file, format_program, parse
from smolcpu.programs import DEFAULT_PROGRAM, Answer, Session
from smolcpu.testing import FixedJson, ScriptedChooser, ScriptedLLM, certain

Messages = list[dict[str, Any]]

ROUTES = {
    "arithmetic": "a bare calculation",
    "word": "a math word problem",
    "code": "a request to write code",
    "recall": "a question about my notes",
    "remember": "something for you to remember",
    "chat": "default",
}


def role(messages: Messages) -> str:
    """Which step of the default program is asking (by its instruction)."""
    system = messages[0]["content"]
    for key, marker in {
        "write": "Write one Python program that solves",
        "reason": "step by step",
        "express": "arithmetic expression",
        "complete": "Complete the function the user gives",
        "program": "expert Python programmer",
        "see": "questions about a picture",
        "answer": "user's own notes",
        "noted": "saved a note",
        "call": "Call the function",
        "chat": "You are Smol",
    }.items():
        if marker in system:
            return key
    raise AssertionError(f"an unknown step asked: {system[:80]}")


def replies(**by_step: Sequence[str] | Callable[[Messages], str]) -> Callable[[Messages], str]:
    """An answer function: each step's replies in order (or a function of the messages)."""
    queues = {step: list(r) if not callable(r) else r for step, r in by_step.items()}

    def answer(messages: Messages) -> str:
        step = role(messages)
        found = queues[step]
        return found(messages) if callable(found) else found.pop(0)

    return answer


def ask(
    question: str,
    answer: Callable[[Messages], str],
    *,
    route: str | None,
    llm: list[ScriptedLLM] | None = None,
    confidence: Callable[[Messages], float] = certain,
    **options: Any,
) -> Answer:
    scripted = ScriptedLLM(answer, confidence=confidence)
    if llm is not None:
        llm.append(scripted)
    units = {"llm": scripted, **options.pop("units", {})}
    chooser = ScriptedChooser({"route": [ROUTES[route]]} if route else {})

    async def go() -> Answer:
        async with Session(record=False, units=units, chooser=chooser, classifier=False) as session:
            return await session.ask(question, **options)

    return asyncio.run(go())


JANET = "Janet's ducks lay 16 eggs per day. She eats three and bakes with four. She sells the rest at $2 each. How much does she make?"


def test_the_default_program_ships_checks_clean_and_is_canonical() -> None:
    compilation = compile_file(DEFAULT_PROGRAM)
    assert compilation.ok and not compilation.warnings, compilation.render()
    source = DEFAULT_PROGRAM.read_text()
    assert format_program(parse(source)) == source


def test_a_word_problem_runs_a_fenced_program_in_the_sandbox_and_checks_its_answer() -> None:
    fenced = "Here is the program:\n```python\neggs = 16 - 3 - 4\nprint(eggs * 2)\n```\nIt prints the answer."
    answer = ask(JANET, replies(write=[fenced]), route="word")
    assert answer.ok and answer.text == "18"
    assert [p.split(":")[0] for p in answer.path] == ["route.a math word problem", "ask.write", "ask.run", "ask.check"]


def test_a_failing_program_goes_back_to_write_with_its_traceback_and_the_task() -> None:
    seen: list[Messages] = []

    def write(messages: Messages) -> str:
        seen.append(messages)
        return "```python\nprint(16 / 0)\n```" if len(seen) == 1 else "```python\nprint((16 - 3 - 4) * 2)\n```"

    answer = ask(JANET, replies(write=write), route="word")
    assert answer.ok and answer.text == "18"
    assert "ask.run:back!" in answer.path
    retry = seen[1]
    assert [m["role"] for m in retry] == ["system", "user", "assistant", "user"]
    assert JANET in retry[1]["content"]  # the original task
    assert "print(16 / 0)" in retry[2]["content"]  # its own earlier answer
    assert "ZeroDivisionError" in retry[3]["content"] and "`ask.run`" in retry[3]["content"]


def test_an_answer_that_fails_its_check_gets_two_more_solutions_and_a_vote() -> None:
    answer = ask(
        JANET,
        replies(
            write=["```python\nprint(18 / 7)\n```", "```python\nprint(9 * 2)\n```"],
            reason=["16 - 3 - 4 = 9 eggs, 9 * 2 = 18.\nAnswer: 18"],
        ),
        route="word",
    )
    assert answer.ok and answer.text == "18"
    assert "ask.check:next!" in answer.path and "ask.vote:send" in answer.path


def test_a_second_program_that_fails_gives_the_vote_no_answer_and_the_run_goes_on() -> None:
    answer = ask(
        JANET,
        replies(
            write=["```python\nprint(18 / 7)\n```", "```python\nprint(16 / 0)\n```"],
            reason=["16 - 3 - 4 = 9 eggs, 9 * 2 = 18.\nAnswer: 18"],
        ),
        route="word",
    )
    assert answer.ok and answer.text == "18"
    assert "ask.vote:send" in answer.path


def doubtful_first_program(messages: Messages) -> float:
    """The confidence of a model unsure of its first program only."""
    return 0.5 if role(messages) == "write" and len(messages) == 2 and "Task:" not in messages[1]["content"] else 0.99


def doubting(tmp_path: Path) -> Path:
    """The default program with its word problems' check asking how sure the writer was."""
    path = tmp_path / "doubting.smol"
    source = DEFAULT_PROGRAM.read_text()
    path.write_text(source.replace("decimals = 0, positive = true\n", "decimals = 0, positive = true, sure = 0.87\n", 1))
    assert path.read_text() != source
    return path


def test_a_doubted_answer_gets_two_more_solutions_and_loses_the_vote_when_they_agree(tmp_path: Path) -> None:
    asked: list[Messages] = []

    def reason(messages: Messages) -> str:
        asked.append(messages)
        return "16 - 3 - 4 = 9 eggs, 9 * 2 = 18.\nAnswer: 18"

    answer = ask(
        JANET,
        replies(write=["```python\nprint(16 - 3 - 4 * 2)\n```", "```python\nprint((16 - 3 - 4) * 2)\n```"], reason=reason),
        route="word",
        confidence=doubtful_first_program,
        program=doubting(tmp_path),
    )
    assert answer.ok and answer.text == "18"
    assert "ask.check:next!" in answer.path and "ask.vote:send" in answer.path
    assert JANET in asked[0][1]["content"] and "confidence 0.50, below 0.87" in asked[0][1]["content"]


def test_a_sure_answer_is_sent_at_once_by_the_doubting_check(tmp_path: Path) -> None:
    answer = ask(JANET, replies(write=["```python\nprint((16 - 3 - 4) * 2)\n```"]), route="word", program=doubting(tmp_path))
    assert answer.ok and answer.text == "18" and answer.path[-1].startswith("ask.check:send")


def test_arithmetic_goes_to_the_math_tool_through_an_expression() -> None:
    answer = ask("What is 17 times 23, plus a tenth?", replies(express=["`17 * 23 + 0.1`"]), route="arithmetic")
    assert answer.ok and answer.text == "391.1"
    assert any(p.startswith("ask.calc:send") for p in answer.path)


def test_code_is_run_with_its_asserts_and_the_code_itself_is_the_answer() -> None:
    code = "```python\ndef add(a, b):\n    return a + b\n\nif __name__ == '__main__':\n    assert add(2, 3) == 5\n```"
    answer = ask("Write a function add(a, b).", replies(program=[code]), route="code")
    assert answer.ok and "def add(a, b):" in answer.text
    assert any(p.startswith("ask.run#2:continue") for p in answer.path)


def test_code_whose_asserts_fail_goes_back_to_be_fixed() -> None:
    wrong = "```python\ndef add(a, b):\n    return a - b\nassert add(2, 3) == 5\n```"
    right = "```python\ndef add(a, b):\n    return a + b\nassert add(2, 3) == 5\n```"
    answer = ask("Write a function add(a, b).", replies(program=[wrong, right]), route="code")
    assert answer.ok and "return a + b" in answer.text
    assert "ask.run#2:back!" in answer.path


STUB = 'Complete it:\n\ndef add(a: int, b: int) -> int:\n    """The sum of a and b.\n    >>> add(2, 3)\n    5\n    """\n'


def test_a_function_left_to_write_is_completed_and_run_against_its_docstring_examples() -> None:
    code = "```python\ndef add(a: int, b: int) -> int:\n    return a + b\n```"
    answer = ask(STUB, replies(complete=[code]), route=None)  # no chooser's word: the request's type decides
    assert answer.ok and answer.text == code
    assert answer.path[0].startswith("route.application/vnd.smol.code-request+json:")
    assert [p.split(":")[0] for p in answer.path if p.startswith("ask.")] == [
        "ask.examples", "ask.complete", "ask.run#3", "ask.code#2"
    ]


def test_a_completion_that_fails_its_docstring_examples_goes_back_with_the_call_that_failed() -> None:
    wrong = "```python\ndef add(a, b):\n    return a - b\n```"
    right = "```python\ndef add(a, b):\n    return a + b\n```"
    asked: list[Messages] = []

    def complete(messages: Messages) -> str:
        asked.append(messages)
        return [wrong, right][len(asked) - 1]

    answer = ask(STUB, replies(complete=complete), route=None)
    assert answer.ok and "return a + b" in answer.text
    assert "ask.run#3:back * 2!" in answer.path
    said = asked[1][-1]["content"]
    assert "add(2, 3) returned -1, but the request's example says 5" in said


def test_plain_chat_is_answered_by_the_llm() -> None:
    llm: list[ScriptedLLM] = []
    answer = ask("Hello, who are you?", replies(chat=["I am Smol."]), route="chat", llm=llm)
    assert answer.ok and answer.text == "I am Smol."


def test_what_you_tell_it_to_remember_is_kept_and_a_later_question_finds_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMOL_MEMORY", str(tmp_path / "vault"))
    told = ask("Remember that my bike lock code is 4711.", replies(noted=["Noted: your bike lock code."]), route="remember")
    assert told.ok
    notes = list((tmp_path / "vault").rglob("*.md"))
    assert len(notes) == 1 and "4711" in notes[0].read_text()

    def answer(messages: Messages) -> str:
        assert "4711" in messages[1]["content"]  # the search hits reach the LLM
        return "Your bike lock code is 4711."

    recalled = ask("What is my bike lock code?", replies(answer=answer), route="recall")
    assert recalled.ok and "4711" in recalled.text


def test_an_image_question_goes_to_the_detector_and_classifier_then_the_llm(tmp_path: Path) -> None:
    picture = tmp_path / "dogs.jpg"
    picture.write_bytes(b"\xff\xd8\xff fake jpeg")
    box = {"label": "dog", "score": 0.9, "box": [0, 0, 10, 10]}
    detect = FixedJson([box, box | {"box": [20, 20, 60, 60]}, {"label": "person", "score": 0.8, "box": [0, 0, 5, 5]}])
    classify = FixedJson([{"label": "golden retriever", "index": 207, "score": 0.7}])

    def see(messages: Messages) -> str:
        shown = messages[1]["content"]
        assert "How many dogs" in shown and "2 dog" in shown and "golden retriever" in shown
        return "There are 2 dogs."

    answer = ask(
        "How many dogs are in the picture?",
        replies(see=see),
        route=None,
        images=[picture],
        units={"detect": detect, "classify": classify},
    )
    assert answer.ok and answer.text == "There are 2 dogs."
    assert detect.seen[0].type == "application/vnd.smol.image-request+json"


def test_a_request_with_tools_goes_to_the_call_step_with_the_tools() -> None:
    llm: list[ScriptedLLM] = []
    tools = [{"type": "function", "function": {"name": "area", "parameters": {"type": "object", "properties": {}}}}]
    answer = ask("What is the area of a 3 by 4 rectangle?", replies(call=["area"]), route=None, tools=tools, llm=llm)
    assert answer.ok
    assert json.loads(answer.text)["content"] == "area"
    assert llm[0].requests[-1]["tools"] == tools


def test_an_empty_question_is_a_usage_error() -> None:
    from smolcpu.errors import UsageError

    with pytest.raises(UsageError, match="needs a question"):
        ask("  ", replies(), route=None)


def test_code_whose_own_asserts_keep_failing_is_still_answered_with_the_latest_code() -> None:
    first = "```python\ndef add(a, b):\n    return a + b\nassert add(2, 2) == 5\n```"
    second = "```python\ndef add(a, b):\n    return a + b\nassert add(2, 3) == 6\n```"
    answer = ask("Write a function add(a, b).", replies(program=[first, second]), route="code")
    assert answer.ok and "assert add(2, 3) == 6" in answer.text
    assert answer.path[-1].startswith("ask.code:send")
