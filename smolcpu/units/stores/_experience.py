"""Experience memory: verified solutions, found again when a similar problem comes.

``smol dream`` adds each problem a run solved *and verified* (its answer passed a check)
with the code that solved it; unverified or wrong ones never go in. A program asks for the
``k`` most similar (``use solved = experience with k = 2``): the unit answers with a short
block of those worked examples followed by the problem, which the next LLM step reads as
its user message — examples in the conversation, not in the system prompt (there a 1.5B
model took them for the task and answered in prose). With no experience yet, or none close
enough, it passes the problem on as it came.

Similar means hybrid search (MiniLM vectors fused with full-text BM25) when an embedder can
run — a running ``embed`` unit, else MiniLM in this process when installed — and full
text alone otherwise.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from smolcpu import config
from smolcpu.artifact import TEXT, Artifact
from smolcpu.errors import UsageError
from smolcpu.units._glue import code_from, question_of
from smolcpu.units._registry import register
from smolcpu.units._tool import Tool
from smolcpu.units.stores._memory_search import Embedder, embedder_of
from smolcpu.units.stores._vectors import LocalVectors
from smolcpu.units.tools._memory_hybrid import EMBED_MODEL, MODES, model_installed

MAX_K = 8
EMBED_UNIT = "embed"


def key_of(question: str) -> str:
    """One entry per problem: the key is a hash of its words."""
    return hashlib.sha256(" ".join(question.lower().split()).encode()).hexdigest()[:32]


class Experience:
    """The store of verified solutions (a :class:`LocalVectors` file) and how it is searched."""

    def __init__(self, path: str | Path | None = None, *, embed: Embedder | None = None) -> None:
        self.path = Path(path) if path is not None else config.experience_path()
        self.embed = embed
        self._vectors: LocalVectors | None = None

    def __repr__(self) -> str:
        return f"<Experience {self.path}>"

    @property
    def vectors(self) -> LocalVectors:
        if self._vectors is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._vectors = LocalVectors(self.path)
        return self._vectors

    def close(self) -> None:
        if self._vectors is not None:
            self._vectors.close()
            self._vectors = None

    def add(self, solutions: Sequence[dict[str, str]]) -> int:
        """Add verified solutions (``question``, ``code``, ``answer``, ``run``); new ones counted.

        Raises:
            UsageError: no embedder to file them with.
        """
        if self.embed is None:
            raise UsageError("experience memory needs an embedder to add solutions (smol models install minilm)")
        known = self.vectors.entries()
        new = [s for s in solutions if key_of(s["question"]) not in known]
        if not new:
            return 0
        vectors = self.embed([s["question"] for s in new])
        return self.vectors.add_many(
            [
                {"key": key_of(s["question"]), "vector": vector, "text": s["question"], "meta": dict(s)}
                for s, vector in zip(new, vectors, strict=True)
            ]
        )

    def similar(self, question: str, k: int) -> list[dict[str, Any]]:
        """The ``k`` most similar solved problems (their ``meta``), the problem itself left out."""
        if not self.path.is_file() or self.vectors.count() == 0:
            return []
        vector = self.embed([question])[0] if self.embed is not None else None
        hits = self.vectors.search(vector, text=question, k=k + 1)
        own = key_of(question)
        return [hit["meta"] for hit in hits if hit["key"] != own][:k]


def worked_examples(solved: Sequence[dict[str, Any]], question: str) -> str:
    """The problem, preceded by the solved ones as worked examples (just the problem if none)."""
    if not solved:
        return question
    shown = "\n\n".join(
        f"Problem: {s['question']}\n```python\n{code_from(s['code']).strip()}\n```"
        f"\nIt printed {s['answer']}, which was checked."
        for s in solved
    )
    return f"Similar problems solved before:\n\n{shown}\n\nNow the problem to solve:\n{question}"


@register
class ExperienceTool(Tool):
    """The experience memory as a unit: a problem in, worked examples of similar solved ones and the problem out."""

    name: ClassVar[str] = "experience"
    description: ClassVar[str] = (
        "Put the k most similar problems solved and verified before (with the code that solved them) in front"
        " of the problem, as worked examples; the problem alone when there are none."
    )
    inputs: ClassVar[dict[str, dict[str, Any]]] = {
        "question": {"type": "string", "description": "the problem to find solved ones like"},
    }
    output: ClassVar[str] = TEXT

    def __init__(
        self, *, k: int = 2, path: str | Path | None = None, mode: str = "auto", model: str | Path = EMBED_MODEL
    ) -> None:
        if not 1 <= k <= MAX_K:
            raise UsageError(f"experience's k must be between 1 and {MAX_K}, not {k}")
        if mode not in MODES:
            raise UsageError(f"experience's mode must be one of {', '.join(MODES)}, not {mode!r}")
        self.k = k
        self.mode = mode
        self.model = model
        self.experience = Experience(path)

    def __repr__(self) -> str:
        return f"<ExperienceTool k={self.k} {self.experience.path}>"

    async def init(self, ctx: Any) -> None:
        if self.mode == "text":
            return
        units = ctx.units() if ctx is not None else []
        embed = next((ref for ref in units if ref.name.rpartition(".")[2] == EMBED_UNIT), None)
        if embed is not None:
            self.experience.embed = embedder_of(embed, asyncio.get_running_loop())
        elif model_installed(self.model):
            from smolcpu.units.neural import Embed

            self.experience.embed = Embed(model_path=None if self.model == EMBED_MODEL else self.model).embed_many
        elif self.mode == "hybrid":
            raise UsageError("experience with mode = \"hybrid\" needs MiniLM: smol models install minilm")

    def reads(self, artifact: Artifact) -> str:
        return question_of(artifact)

    async def forward(self, question: str) -> str:
        solved = await asyncio.to_thread(self.experience.similar, question, self.k)
        return worked_examples(solved, question)


__all__ = ["Experience", "ExperienceTool", "key_of", "worked_examples"]
