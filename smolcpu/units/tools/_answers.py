"""Answer tools: ``check`` says whether an answer has the form asked for, ``vote`` picks the
answer most solutions agree on.

A small model's program can print a traceback, a sentence or ``12.333333333`` where a
word problem wants a count; a check that fails makes the step fail, so the flow takes its
alternative (a second solution) instead of passing the answer on. Checks are about form,
never about the expected value: they hold for any question of the kind. ``sure`` adds one
more, about the writer: an answer computed from an LLM's reply keeps the reply's
``confidence``, and one written with less than ``sure`` fails, so a doubtful answer gets the
second opinion too.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

from smolcpu.artifact import JSON, TEXT, Artifact
from smolcpu.errors import UsageError
from smolcpu.units._glue import text_for_model
from smolcpu.units._registry import register
from smolcpu.units._tool import Tool, ToolFailed

WANTS = ("number", "text")
"""What ``check`` can ask of an answer."""

_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def number_in(text: str) -> Decimal | None:
    """The one number ``text`` states (``18``, ``$1,200.50``, ``Answer: 7``, ``18.0``), or None
    when it states none or several different ones."""
    cleaned = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text.strip())
    found = {Decimal(n) for n in _NUMBER.findall(cleaned)} if cleaned else set()
    if len(found) != 1:
        tail = _NUMBER.findall(cleaned.splitlines()[-1]) if cleaned else []
        return Decimal(tail[-1]) if len(tail) == 1 else None
    return found.pop()


def shown(number: Decimal) -> str:
    """A number as an answer: no exponent, no trailing zeros (``18.0`` → ``18``)."""
    if number == number.to_integral_value():
        return str(int(number))
    return format(number.normalize(), "f")


@register
class CheckTool(Tool):
    """Passes an answer on, normalised, when it has the form asked for; fails saying why otherwise."""

    name: ClassVar[str] = "check"
    description: ClassVar[str] = (
        "Check that an answer has the expected form and pass it on: want='number' (one finite number,"
        " at most `decimals` decimal places when given, above zero when `positive`) or want='text'"
        " (not empty); with `sure`, the model that wrote it must have been at least that confident"
        " (0-1, the geometric mean of its tokens' probabilities). Fails with what is wrong."
    )
    inputs: ClassVar[dict[str, dict[str, Any]]] = {
        "answer": {"type": "string", "description": "the answer to check"},
    }
    output: ClassVar[str] = TEXT
    deterministic = True

    def __init__(
        self, *, want: str = "number", decimals: int | None = None, positive: bool = False, sure: float | None = None
    ) -> None:
        if want not in WANTS:
            raise UsageError(f"check wants one of {', '.join(WANTS)}, not {want!r}")
        if decimals is not None and decimals < 0:
            raise UsageError("check's decimals must be 0 or more")
        if sure is not None and not 0 <= sure <= 1:
            raise UsageError("check's sure is a confidence between 0 and 1")
        self.want = want
        self.decimals = decimals
        self.positive = positive
        self.sure = sure

    def reads(self, artifact: Artifact) -> str:
        return text_for_model(artifact)

    def invoke(self, artifact: Artifact, arguments: dict[str, Any]) -> str:
        checked = self.forward(**arguments)
        confidence = artifact.attr("confidence")
        if self.sure is not None and confidence is not None and float(confidence) < self.sure:
            raise ToolFailed(
                f"the answer {checked} was written with confidence {float(confidence):.2f}, below {self.sure:g}:"
                " it needs a second opinion"
            )
        return checked

    def forward(self, answer: str) -> str:
        if answer.startswith("Error: "):
            raise ToolFailed(f"there is no answer to check: {answer[7:]}")
        if self.want == "text":
            if not answer.strip():
                raise ToolFailed("the answer is empty")
            return answer.strip()
        number = number_in(answer)
        if number is None:
            raise ToolFailed(f"the answer should be one number, but it is {answer.strip()[:200]!r}")
        if not math.isfinite(number):
            raise ToolFailed(f"the answer {answer.strip()!r} is not a finite number")
        if self.decimals is not None:
            rounded = round(number, 6)
            if rounded != round(rounded, self.decimals):
                if self.decimals == 0:
                    raise ToolFailed(f"the answer {shown(rounded)} is not a whole number, as a count usually is")
                raise ToolFailed(
                    f"the answer {shown(rounded)} has more than {self.decimals} decimal places;"
                    " a whole count or an amount of money is expected"
                )
            number = rounded
        if self.positive and number <= 0:
            raise ToolFailed(f"the answer {shown(number)} is not above zero, and a count or an amount is expected")
        return shown(number)


@register
class VoteTool(Tool):
    """The answer most solutions agree on, from a join's list of answers."""

    name: ClassVar[str] = "vote"
    description: ClassVar[str] = (
        "Given several answers (a JSON list, as a join makes; a join of joins is one list), return the"
        " number most of them state;"
        " a tie goes to the earliest. Fails when none states a number, or when fewer than `least`"
        " of them state the winning one (least = 2: two solutions must agree)."
    )
    inputs: ClassVar[dict[str, dict[str, Any]]] = {
        "answers": {"type": "array", "description": "the answers, as a join gives them"},
    }
    output: ClassVar[str] = TEXT
    deterministic = True

    def __init__(self, *, least: int = 1) -> None:
        if least < 1:
            raise UsageError("vote's least must be 1 or more")
        self.least = least

    def reads(self, artifact: Artifact) -> Any:
        """A join's list as it is; any other artifact is one answer."""
        value = artifact.as_json() if artifact.type == JSON else None
        return value if isinstance(value, list) else [text_for_model(artifact)]

    def forward(self, answers: list[Any]) -> str:
        numbers = [n for n in (_answer_number(a) for a in _flat(answers)) if n is not None]
        if not numbers:
            raise ToolFailed(f"none of the {len(answers)} answers states a number")
        counts = Counter(numbers)
        best = max(counts.values())
        winner = next(n for n in numbers if counts[n] == best)
        if best < self.least:
            stated = ", ".join(shown(n) for n in numbers)
            raise ToolFailed(f"the answers do not agree ({stated}): {self.least} of them must state the same number")
        return shown(winner)


def _flat(answers: list[Any]) -> list[Any]:
    """The answers of a join whose branches were joins themselves, in one list, in order."""
    return [leaf for answer in answers for leaf in (_flat(answer) if isinstance(answer, list) else [answer])]


def _answer_number(answer: Any) -> Decimal | None:
    if isinstance(answer, dict):
        if "error" in answer:
            return None
        answer = answer.get("stdout", "")
    try:
        number = number_in(str(answer))
    except InvalidOperation:
        return None
    return None if number is None or not number.is_finite() else round(number, 6).normalize()


__all__ = ["WANTS", "CheckTool", "VoteTool", "number_in", "shown"]
