"""Hybrid memory search: the vault's full-text hits fused with its nearest notes by meaning.

The memory vault (``smolcpu.units.tools``) ranks notes by BM25 over their words; this adds
a second ranking by sentence embedding from a vector store holding one vector per note, and
fuses the two by reciprocal rank fusion. A note that says the words *and* means the thing
comes first; a note that only means it (a synonym, a paraphrase) is still found. The vector
store is kept in step with the vault by each note's mtime, so only changed notes are
embedded again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from smolcpu import config
from smolcpu.artifact import Artifact
from smolcpu.errors import UnitError, UsageError
from smolcpu.units.stores._vectors import fuse
from smolcpu.units.tools import Hit, Vault

if TYPE_CHECKING:
    import numpy as np

Embedder = Callable[[list[str]], "np.ndarray"]
"""Texts in, unit vectors out: ``Embed().embed_many`` in process, or :func:`embedder_of` a unit."""
SNIPPET_CHARS = 200
EMBED_BATCH = 16


class MemoryVectors:
    """A vault's notes, one vector each, in a vector store (local or global)."""

    def __init__(self, vault: Vault, vectors: Any, embed: Embedder) -> None:
        self.vault = vault
        self.vectors = vectors
        self.embed = embed

    def __repr__(self) -> str:
        return f"<MemoryVectors {self.vault!r} in {self.vectors!r}>"

    def sync(self) -> dict[str, int]:
        """Embed notes that are new or changed since the last sync and drop deleted ones."""
        stored = self.vectors.entries()
        notes = {note.name: note for note in self.vault.notes()}
        stale = [note for name, note in notes.items() if stored.get(name, {}).get("mtime_ns") != note.mtime_ns]
        for start in range(0, len(stale), EMBED_BATCH):
            batch = stale[start : start + EMBED_BATCH]
            texts = [self.vault.read(note.name).text for note in batch]
            vectors = self.embed([f"{note.name}\n{text}" for note, text in zip(batch, texts, strict=True)])
            self.vectors.add_many(
                [
                    {
                        "key": note.name,
                        "vector": vector,
                        "text": text[:SNIPPET_CHARS],
                        "meta": {"path": note.path, "mtime_ns": note.mtime_ns},
                    }
                    for note, text, vector in zip(batch, texts, vectors, strict=True)
                ]
            )
        gone = [name for name in stored if name not in notes]
        for name in gone:
            self.vectors.delete(name)
        return {"embedded": len(stale), "removed": len(gone), "notes": len(notes)}

    def search(self, query: str, *, limit: int = 10) -> list[Hit]:
        """Notes by words and by meaning, fused; ``scores`` keeps each retriever's own score.

        Raises:
            UsageError: an empty query or a limit below 1.
        """
        import numpy as np
        if not query.strip():
            raise UsageError("search needs some text to look for")
        if limit < 1:
            raise UsageError(f"limit must be at least 1, not {limit}")
        self.sync()
        try:
            by_words = self.vault.search(query, limit=limit)
        except UsageError:  # no word characters: meaning alone can still answer
            by_words = []
        by_meaning = self.vectors.search(np.asarray(self.embed([query])[0]), k=limit)
        fused = fuse([hit.name for hit in by_words], [hit["key"] for hit in by_meaning])
        words = {hit.name: hit for hit in by_words}
        meaning = {hit["key"]: hit for hit in by_meaning}
        hits = []
        for name in sorted(fused, key=lambda name: -fused[name])[:limit]:
            scores = {}
            if name in words:
                scores["text"] = words[name].score
            if name in meaning:
                scores["vector"] = meaning[name]["score"]
            text_hit = words.get(name)
            hits.append(
                Hit(
                    name=name,
                    path=text_hit.path if text_hit else meaning[name]["meta"]["path"],
                    score=fused[name],
                    snippet=text_hit.snippet if text_hit else meaning[name]["text"],
                    scores=scores,
                )
            )
        return hits


def embedder_of(ref: Any, loop: asyncio.AbstractEventLoop, *, timeout: float = config.REQUEST_TIMEOUT_S) -> Embedder:
    """An :data:`Embedder` that asks the embed unit behind ``ref``, usually in a worker process.

    Call it from a thread other than ``loop``'s (memory search runs in ``asyncio.to_thread``):
    each call is one request of a JSON list of texts, answered by one batch.

    Raises:
        UnitError: the embed unit answered with an error.
    """
    import numpy as np

    def embed(texts: list[str]) -> np.ndarray:
        request = ref.request(Artifact.json(texts), timeout=timeout)
        reply = asyncio.run_coroutine_threadsafe(request, loop).result(timeout + 1)
        if reply.is_error:
            raise UnitError(f"embed unit {ref.name!r} failed: {reply.error_message}")
        return np.asarray(reply.as_json()["vectors"], dtype=np.float32)

    return embed


__all__ = ["Embedder", "MemoryVectors", "embedder_of"]
