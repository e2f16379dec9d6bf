"""Image questions on ../shared/bench/coco_sample: counts, presence, the largest object, the category.

The questions live beside this module in ``images.jsonl``, one per line: ``image`` (a file
of the COCO sample), ``kind`` (count, presence, largest, category), ``question``, ``answer``,
``accept`` (other words that count as that answer) and ``verified`` (what was seen when the
answer was checked by looking at the picture). An answer is read the way a person would
read a short reply: the first number (digits or a word) for a count, the first yes or no
for presence, and for a name whether it contains the answer or an accepted word (plurals
too).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from bench.solve._suite import SHARED_BENCH, Item, MissingData, Verdict, read_jsonl

NAME = "images"
QUESTIONS = Path(__file__).resolve().parent / "images.jsonl"
PICTURES = SHARED_BENCH / "coco_sample"
KINDS = ("count", "presence", "largest", "category")

TASK = "Answer with one word or one number."
BLIND = (
    "You are asked about the picture {image}, which you cannot see (a text-only model has no eyes):"
    " answer as well as you can, with one word or one number."
)

NUMBER_WORDS = {
    word: index
    for index, word in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen".split()
    )
}
_WORD = re.compile(r"[a-z]+|\d+")


def load(questions: Path = QUESTIONS, pictures: Path = PICTURES) -> list[Item]:
    """The image questions, each with its picture's path.

    Raises:
        MissingData: the questions file, or a picture it names, is missing.
    """
    items = []
    for record in read_jsonl(questions):
        picture = pictures / record["image"]
        if not picture.is_file():
            raise MissingData(f"{picture} is missing: the image questions need ../shared/bench/coco_sample")
        question = record["question"]
        items.append(
            Item(
                suite=NAME,
                id=record["id"],
                task=f"{question} {TASK}",
                messages=[{"role": "user", "content": f"{BLIND.format(image=record['image'])}\n\n{question}"}],
                reference={"kind": record["kind"], "answer": record["answer"], "accept": record.get("accept", [])},
                images=[str(picture)],
            )
        )
    return items


def count_in(text: str) -> int | None:
    """The first count a reply gives, in digits or as a word."""
    for word in _WORD.findall(text.lower()):
        if word.isdigit():
            return int(word)
        if word in NUMBER_WORDS:
            return NUMBER_WORDS[word]
    return None


def yes_or_no(text: str) -> str | None:
    """The first yes or no of a reply (``true``/``false`` too)."""
    for word in _WORD.findall(text.lower()):
        if word in ("yes", "true"):
            return "yes"
        if word in ("no", "false", "none"):
            return "no"
    return None


def names(text: str, name: str) -> bool:
    """Whether ``text`` names ``name`` as whole words, a plural ``s``/``es`` allowed."""
    words = [re.escape(part) for part in name.lower().split()]
    pattern = r"\b" + r"[\s-]+".join(words) + r"(?:e?s)?\b"
    return re.search(pattern, text.lower()) is not None


def score(item: Item, reply: dict[str, Any]) -> Verdict:
    """Right when the reply's count, yes/no or name is the verified answer."""
    kind, answer = item.reference["kind"], item.reference["answer"]
    output = reply.get("output") or ""
    if kind == "count":
        got = count_in(output)
        return Verdict(got == int(answer), f"counted {got}, expected {answer}")
    if kind == "presence":
        got = yes_or_no(output)
        return Verdict(got == answer, f"said {got}, expected {answer}")
    accepted = [answer, *item.reference["accept"]]
    return Verdict(any(names(output, name) for name in accepted), f"answered {output[:60]!r}, expected {answer}")


__all__ = ["KINDS", "NAME", "count_in", "load", "names", "score", "yes_or_no"]
