"""A unit kind that Smol finds in another installed package: ``textstats.count``.

Smol loads it through the ``smolcpu.units`` entry point in this package's pyproject.toml;
nothing in Smol names it. It is a :class:`smolcpu.units.Tool`: its interface is declared on
the class, and Smol checks it when the class is created.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from smolcpu.artifact import JSON
from smolcpu.units import Tool


class WordCount(Tool):
    """Count the words, lines and characters of a text, and its most frequent words."""

    name = "textstats.count"
    description = "Count the words, lines and characters of a text, and name its most frequent words."
    inputs = {"text": {"type": "string", "description": "the text to count"}}
    output = JSON
    deterministic = True
    """The same text always gives the same counts, so a program may reuse an earlier answer."""

    def __init__(self, *, top: int = 3) -> None:
        self.top = top

    def forward(self, text: str) -> dict[str, Any]:
        words = [word.strip(".,;:!?\"'()").lower() for word in text.split()]
        frequent = Counter(word for word in words if word).most_common(self.top)
        return {
            "words": len(words),
            "lines": len(text.splitlines()),
            "characters": len(text),
            "top": [word for word, _ in frequent],
        }


__all__ = ["WordCount"]
