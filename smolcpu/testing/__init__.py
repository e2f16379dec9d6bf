"""Fakes for tests (STYLE.md: fakes live here): scripted workers, the scripted chooser, ballast model units;
a web app served on loopback with the headless Chromium that drives it; ``smol serve`` as a
child process to kill and restart.

A flow program runs end to end on them without a model; see :mod:`smolcpu.testing._scripted`.
"""

from smolcpu.testing._ballast import Ballast, BigBallast
from smolcpu.testing._scripted import FixedJson, Reply, ScriptedFailure, ScriptedWorker, scripted
from smolcpu.testing._scripted_llm import ScriptedLLM, certain
from smolcpu.testing._serve_process import ServerProcess, free_port
from smolcpu.testing._server import chromium, chromium_path, loopback_server
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
    "ServerProcess",
    "WordEmbedder",
    "certain",
    "chromium",
    "chromium_path",
    "free_port",
    "loopback_server",
    "scripted",
    "vectors_of",
]
