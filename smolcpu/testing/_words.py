"""A stand-in embedder: hashed bag of words, so texts that share words lie near each other.

It answers the ``embed`` unit's requests (``{"text": [...]}`` → ``{"vectors": [...]}``) with
unit vectors of ``DIMENSIONS`` numbers, deterministic across processes, and ``vectors_of``
is the same as a plain function. Choosers, experience memory and consolidation are tested on
it without MiniLM.
"""

from __future__ import annotations

import hashlib
import math
import re
from typing import Any

from smolcpu.artifact import Artifact
from smolcpu.runtime import Unit

DIMENSIONS = 384
_WORD = re.compile(r"[a-z]+")


def vectors_of(texts: list[str]) -> list[list[float]]:
    """One unit vector per text: each lower-case word adds 1 at a slot its hash picks."""
    vectors = []
    for text in texts:
        vector = [0.0] * DIMENSIONS
        for word in _WORD.findall(text.lower()):
            vector[int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "big") % DIMENSIONS] += 1.0
        norm = math.sqrt(sum(v * v for v in vector)) or 1.0
        vectors.append([v / norm for v in vector])
    return vectors


class WordEmbedder(Unit):
    """The ``embed`` unit's request format, answered by :func:`vectors_of`; ``texts`` counts what it embedded."""

    def __init__(self) -> None:
        self.texts = 0

    def __repr__(self) -> str:
        return f"<WordEmbedder texts={self.texts}>"

    async def handle(self, ctx: Any, sender: Any, artifact: Artifact) -> Artifact:
        text = artifact.as_json()["text"]
        texts = text if isinstance(text, list) else [text]
        self.texts += len(texts)
        vectors = vectors_of([str(t) for t in texts])
        answer = {"vectors": vectors} if isinstance(text, list) else {"vector": vectors[0]}
        return Artifact.json(answer, origin="embed", parents=(artifact.id,))


__all__ = ["DIMENSIONS", "WordEmbedder", "vectors_of"]
