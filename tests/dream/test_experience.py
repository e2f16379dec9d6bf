"""Experience memory: verified solutions filed by dreaming, found again as worked examples."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from smolcpu.dream import dream
from smolcpu.errors import UsageError
from smolcpu.lang import compile_source
from smolcpu.programs import Session
from smolcpu.testing import ScriptedLLM, vectors_of
from smolcpu.units.stores import Experience, ExperienceTool, worked_examples
from tests.dream.helpers import ask_all

SOLVED = [
    {"question": "Tom has 3 apples and 4 apples. How many apples?", "code": "print(3 + 4)", "answer": "7", "run": "r1"},
    {"question": "A car drives 60 miles then 30 miles. How far?", "code": "print(60 + 30)", "answer": "90", "run": "r2"},
]


def embed(texts: list[str]) -> np.ndarray:
    return np.asarray(vectors_of(texts), dtype=np.float32)


def test_the_most_similar_solved_problem_comes_first_and_the_problem_itself_never() -> None:
    experience = Experience(embed=embed)
    assert experience.add(SOLVED) == 2 and experience.add(SOLVED) == 0  # one entry per problem
    found = experience.similar("Sam has 5 apples and 2 apples. How many apples?", 1)
    assert [s["answer"] for s in found] == ["7"]
    assert all(s["run"] != "r1" for s in experience.similar(SOLVED[0]["question"], 2))
    words_only = Experience(embed=None)  # full text alone, as without MiniLM
    assert [s["answer"] for s in words_only.similar("How far does a car drive?", 1)] == ["90"]


def test_without_an_embedder_nothing_is_filed() -> None:
    with pytest.raises(UsageError, match="minilm"):
        Experience(embed=None).add(SOLVED)


def test_worked_examples_come_before_the_problem_and_none_leave_it_alone() -> None:
    text = worked_examples(SOLVED[:1], "Sam has 5 apples and 2 apples. How many?")
    assert text.index("Tom has 3 apples") < text.index("print(3 + 4)") < text.index("Now the problem to solve:\nSam")
    assert worked_examples([], "Sam?") == "Sam?"


def test_the_unit_checks_its_parameters() -> None:
    with pytest.raises(UsageError):
        ExperienceTool(k=0)
    with pytest.raises(UsageError):
        ExperienceTool(mode="psychic")


PROGRAM = """smol >= 0.1
use solved = experience with k = 1, mode = "text"
use write = llm "Write one Python program that solves the problem."
out <= write <= solved
"""


def test_dreaming_files_verified_runs_and_a_program_shows_them_to_the_writer() -> None:
    ask_all(["Tom has 3 apples and 4 apples. How many apples?"])
    assert dream(embed=embed).experience_added == 1
    seen: list[str] = []

    def writer(messages: list[dict[str, str]]) -> str:
        seen.append(messages[-1]["content"])
        return "```python\nprint(7)\n```"

    compilation = compile_source(PROGRAM)
    assert compilation.ok, compilation.render()

    async def go() -> None:
        async with Session(units={"llm": ScriptedLLM(writer)}, classifier=False, record=False) as session:
            await session.run(compilation.runnable(), "Sam has 5 apples and 2 apples. How many apples?")

    asyncio.run(go())
    (shown,) = seen
    assert "Tom has 3 apples and 4 apples" in shown and "answer = 3 + 4" in shown
    assert shown.endswith("Now the problem to solve:\nSam has 5 apples and 2 apples. How many apples?")


def test_an_unverified_answer_is_never_filed() -> None:
    def wrong(messages):
        return "```python\nprint('many')\n```" if "Write one" in messages[0]["content"] else "Answer: many"

    ask_all(["Tom has 3 apples and 4 apples. How many apples?"], answer=wrong)
    assert dream(embed=embed).experience_added == 0
