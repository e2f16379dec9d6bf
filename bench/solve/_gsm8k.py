"""GSM8K: grade-school word problems; the reference is the number after ``####``, compared numerically."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from bench.solve._suite import SHARED_BENCH, Item, Verdict, read_jsonl

NAME = "gsm8k"
DATA = SHARED_BENCH / "gsm8k" / "dev.jsonl"

COT = (
    "Solve the problem step by step, showing the arithmetic. Then write the final answer,"
    " a number only, on the last line in the form '#### <number>'."
)
TASK = "Give the final answer as a number."

_NUMBER = re.compile(r"-?\$?\d[\d,]*(?:\.\d+)?|-?\$?\.\d+")
_MARKED = re.compile(r"####\s*(.*)|answer\s*(?:is|:)\s*(.*)", re.IGNORECASE)


def load(path: Path = DATA) -> list[Item]:
    """GSM8K's problems, each with its reference answer."""
    items = []
    for index, record in enumerate(read_jsonl(path)):
        question = record["question"]
        items.append(
            Item(
                suite=NAME,
                id=f"gsm8k-{index:04d}",
                task=f"{question}\n{TASK}",
                messages=[{"role": "user", "content": f"{question}\n\n{COT}"}],
                reference=record["answer"].rsplit("####", 1)[1].strip(),
            )
        )
    return items


def number_in(text: str) -> float | None:
    """The answer a reply gives: the number after the last ``####`` or "answer is", else its last number.

    Thousands separators, currency signs and a trailing full stop are ignored.
    """
    marked = [next(group for group in match.groups() if group is not None) for match in _MARKED.finditer(text)]
    numbers = _NUMBER.findall(marked[-1]) if marked else []
    if numbers:
        return _value(numbers[0])
    numbers = _NUMBER.findall(text)
    return _value(numbers[-1]) if numbers else None


def _value(number: str) -> float:
    return float(number.replace(",", "").replace("$", ""))


def score(item: Item, reply: dict[str, Any]) -> Verdict:
    """Right when the reply's number equals the reference (to 1e-6, relative)."""
    expected = float(str(item.reference).replace(",", ""))
    got = number_in(reply.get("output") or "")
    if got is None:
        return Verdict(False, "no number in the answer")
    right = math.isclose(got, expected, rel_tol=1e-6, abs_tol=1e-6)
    return Verdict(right, f"answered {got:g}, expected {expected:g}")


__all__ = ["NAME", "load", "number_in", "score"]
