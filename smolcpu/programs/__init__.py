"""The programs layer: the ``.smol`` programs Smol ships, and asking them.

``default.smol`` is what ``smol ask`` runs for a plain request: readable, and meant to be
copied and changed (``smol ask --program FILE``). :func:`ask` and :func:`run` are the
Python face of it, for apps that embed Smol; :class:`Session` keeps the model workers
between requests.
"""

from smolcpu.programs._ask import (
    DEFAULT_PROGRAM,
    PROGRAMS,
    Answer,
    Session,
    answer_text,
    ask,
    ask_async,
    examples_of,
    image_attachment,
    load_program,
    run,
    run_async,
)
from smolcpu.programs._models import EMBED_MODEL, VISION_MODELS, models_needed

__all__ = [
    "DEFAULT_PROGRAM",
    "EMBED_MODEL",
    "PROGRAMS",
    "VISION_MODELS",
    "Answer",
    "Session",
    "answer_text",
    "ask",
    "ask_async",
    "examples_of",
    "image_attachment",
    "load_program",
    "models_needed",
    "run",
    "run_async",
]
