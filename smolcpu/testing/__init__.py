"""Fakes for tests (STYLE.md: fakes live here): scripted workers, the scripted chooser, ballast model units.

A flow program runs end to end on them without a model; see :mod:`smolcpu.testing._scripted`.
"""

from smolcpu.testing._ballast import Ballast, BigBallast
from smolcpu.testing._scripted import FixedJson, Reply, ScriptedFailure, ScriptedWorker, scripted
from smolcpu.testing._scripted_llm import ScriptedLLM
from smolcpu.testing._words import WordEmbedder, vectors_of
from smolcpu.vm import FirstChooser, ScriptedChooser

__all__ = [
    "Ballast",
    "BigBallast",
    "FirstChooser",
    "FixedJson",
    "Reply",
    "ScriptedChooser",
    "ScriptedFailure",
    "ScriptedLLM",
    "ScriptedWorker",
    "WordEmbedder",
    "scripted",
    "vectors_of",
]
