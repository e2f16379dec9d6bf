"""The small classifier in front of the LLM chooser: it decides what it is sure of, defers the rest."""

from __future__ import annotations

import asyncio
import math

from smolcpu.artifact import Artifact
from smolcpu.errors import UnitError
from smolcpu.vm import Choice, NearestChooser, ScriptedChooser

WORDS = ["eggs", "apples", "cost", "python", "function", "remember", "note", "hello"]


async def bag_of_words(texts: list[str]) -> list[list[float]]:
    """A stand-in embedder: word counts over a tiny vocabulary, unit length."""
    vectors = []
    for text in texts:
        counts = [float(text.lower().count(word)) for word in WORDS]
        norm = math.sqrt(sum(c * c for c in counts)) or 1.0
        vectors.append([c / norm for c in counts])
    return vectors


EXAMPLES = {
    "route": {
        "word problem": ["She sells eggs and apples, what do they cost?"],
        "code": ["Write a python function."],
        "memory": ["Remember this note."],
    }
}
OPTIONS = ("word problem", "code", "memory", "default")


def choose(chooser: NearestChooser, text: str, block: str = "route") -> str:
    return asyncio.run(chooser.choose(Choice("match", block, OPTIONS, Artifact.text(text))))


def test_a_clear_case_is_decided_by_the_classifier_without_the_llm() -> None:
    fallback = ScriptedChooser([])
    chooser = NearestChooser(bag_of_words, EXAMPLES, fallback)
    assert choose(chooser, "How much do 12 eggs cost?") == "word problem"
    assert choose(chooser, "a python function please") == "code"
    assert chooser.decided == {"classifier": 2} and not fallback.choices


def test_an_unsure_case_goes_to_the_fallback() -> None:
    fallback = ScriptedChooser(["default"])
    chooser = NearestChooser(bag_of_words, EXAMPLES, fallback)
    assert choose(chooser, "What is the capital of France?") == "default"  # near nothing: below the floor
    assert chooser.decided == {"fallback": 1}


def test_a_block_without_examples_goes_to_the_fallback() -> None:
    fallback = ScriptedChooser(["code"])
    chooser = NearestChooser(bag_of_words, EXAMPLES, fallback)
    assert choose(chooser, "eggs", block="other") == "code"


def test_without_an_embedder_the_fallback_decides_every_choice() -> None:
    async def broken(texts: list[str]) -> list[list[float]]:
        raise UnitError("minilm is not installed")

    fallback = ScriptedChooser(["memory", "code"])
    chooser = NearestChooser(broken, EXAMPLES, fallback)
    assert choose(chooser, "Remember this note.") == "memory"
    assert choose(chooser, "eggs") == "code"
