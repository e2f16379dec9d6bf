"""What every suite of the solve benchmark shares: an item, a verdict, the seeded slice, the data.

An :class:`Item` carries the same problem in the two forms the systems take it: ``task``, the
request as a user would put it (what Smol and the smolagents agent get), and ``messages``,
the bare LLM's chain-of-thought prompt; ``request`` is the question alone where the agent
gets the rest as tools (BFCL's functions). Everything in it is JSON, so it travels to the
runner processes as one line, including to the agent's runner in its own environment.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SHARED_BENCH = Path(__file__).resolve().parents[3] / "shared" / "bench"
"""The benchmark data beside the checkout: ``../shared/bench``."""


class MissingData(Exception):
    """A suite's data is not where it is looked for; the message says where and what to do."""


@dataclass(frozen=True)
class Item:
    """One problem of a suite, in the forms the systems take it, and what the scorer checks."""

    suite: str
    id: str
    task: str
    """The request as a user would put it: what Smol and the smolagents agent are given."""
    messages: list[dict[str, str]]
    """The bare LLM's chat messages: the same problem with a chain-of-thought prompt."""
    reference: Any
    """What the suite's scorer compares the answer with."""
    request: str = ""
    """The request without instructions on the answer's form, for an agent that answers through
    its tools (BFCL's question alone); empty when it is ``task``."""
    images: list[str] = field(default_factory=list)
    functions: list[dict[str, Any]] = field(default_factory=list)
    """BFCL's function documents, for systems that take them as tools."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Verdict:
    """Whether an answer is right, and the one line that says why."""

    correct: bool
    detail: str


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """The records of a JSON-lines file, skipping blank lines.

    Raises:
        MissingData: the file does not exist.
    """
    if not path.is_file():
        raise MissingData(f"{path} is missing: the solve benchmark reads its data from ../shared/bench beside the checkout")
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield json.loads(line)


def seeded_slice(items: list[Item], *, limit: int, seed: int) -> list[Item]:
    """``limit`` items (all when 0) drawn with ``seed``: the same ones for every system and run."""
    chosen = list(items)
    random.Random(seed).shuffle(chosen)
    return chosen[:limit] if limit > 0 else chosen


def fenced_blocks(text: str) -> list[str]:
    """The contents of the markdown code fences in ``text``, in order (an unclosed last one too)."""
    blocks, inside, lines = [], False, []
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            if inside:
                blocks.append("\n".join(lines))
            inside, lines = not inside, []
        elif inside:
            lines.append(line)
    if inside and lines:
        blocks.append("\n".join(lines))
    return blocks


__all__ = ["SHARED_BENCH", "Item", "MissingData", "Verdict", "fenced_blocks", "read_jsonl", "seeded_slice"]
