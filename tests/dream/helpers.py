"""Runs of the default program on scripted units, recorded as a user's runs are."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from smolcpu.programs import Answer, Session
from smolcpu.testing import ScriptedLLM, WordEmbedder, certain
from smolcpu.vm import Chooser

Messages = list[dict[str, Any]]

WORD = "a math word problem"
CALC = "a bare calculation"
CODE = "a request to write code"


def role(messages: Messages) -> str:
    """Which step of the default program asks (by its instruction)."""
    system = messages[0]["content"]
    markers = {"write": "Write one Python program", "express": "arithmetic expression", "reason": "step by step"}
    return next((key for key, marker in markers.items() if marker in system), "chat")


def solver(messages: Messages) -> str:
    """A scripted LLM that solves every word problem of the form "N and M: how many in all?"."""
    asked = role(messages)
    if asked == "write":
        numbers = [int(word) for word in messages[-1]["content"].replace("?", " ").split() if word.isdigit()]
        return f"```python\nanswer = {' + '.join(map(str, numbers)) or '0'}\nprint(answer)\n```"
    if asked == "express":
        return "2 + 2"
    if asked == "reason":
        return "Answer: 4"
    return "Hello."


def route_by_words(prompt: str, options: Sequence[str]) -> str:
    """The teacher: routes as an LLM would, by what the request says."""
    text = prompt.lower()
    if "apples" in text or "marbles" in text:
        return WORD if WORD in options else options[0]
    if "function" in text or "python" in text:
        return CODE if CODE in options else options[0]
    return CALC if CALC in options else options[0]


def ask_all(
    questions: Sequence[str],
    *,
    chooser: Chooser | None = None,
    answer: Callable[[Messages], str] = solver,
    choose: Callable[[str, Sequence[str]], str] = route_by_words,
    record: bool = True,
    distilled: bool = True,
    confidence: Callable[[Messages], float] = certain,
) -> list[Answer]:
    """Ask each question in one recording session on the scripted LLM (which also routes)."""
    llm = ScriptedLLM(answer, choose=choose, confidence=confidence)

    async def go() -> list[Answer]:
        units = {"llm": llm, "embed": WordEmbedder()}
        async with Session(
            record=record, units=units, chooser=chooser, classifier=False, distilled=distilled
        ) as session:
            return [await session.ask(question) for question in questions]

    return asyncio.run(go())
