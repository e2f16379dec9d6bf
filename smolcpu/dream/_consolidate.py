"""Memory consolidation: duplicate notes merged, related notes linked, long notes summarised.

Nothing a note says is ever lost: a merged duplicate's text is appended to the note it
duplicates (unless already there) and the duplicate becomes a one-line pointer to it, so
links to it still lead somewhere; a link adds a line under a "Related" heading; a summary
goes above the note's text, which stays whole. Every change is a ``consolidation``
artifact holding the note before and after, and each batch is journalled, so
:func:`undo_consolidation` puts the notes back — except a note edited since, which is
left as its user made it.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from smolcpu import config
from smolcpu.artifact import Artifact, ArtifactStore
from smolcpu.dream._distil import Embedder
from smolcpu.dream._files import read_json, write_json
from smolcpu.lang import compile_source
from smolcpu.programs import Session, answer_text
from smolcpu.units.tools import Vault

DUPLICATE_SIMILARITY = 0.97
"""Notes this alike (cosine of their embeddings), or with the same words, are duplicates."""
LINK_SIMILARITY = 0.8
"""Notes this alike, not yet linked, get linked both ways."""
LONG_CHARS = 1500
"""A note longer than this gets a summary at its top."""
RELATED_HEADING = "## Related"
SUMMARY_MARK = "> **Summary** (smol dream):"
MERGED_MARK = "Merged into [["
CHANGE_ROLE = "consolidation"

Summarise = Callable[[str], Awaitable[str]]
"""``await summarise(text)``: a few sentences that say what a long note holds."""


def journal_path() -> Path:
    """The journal of consolidation batches (their change artifacts), newest last."""
    return config.dream_dir() / "consolidations.json"


def _words(text: str) -> str:
    return " ".join(text.lower().split())


def _split_front(text: str) -> tuple[str, str]:
    """(front matter with its fences, the rest) — front matter stays first in a note."""
    if text.startswith("---\n"):
        end = text.find("\n---\n", 4)
        if end >= 0:
            return text[: end + 5], text[end + 5 :]
    return "", text


def _with_related(text: str, name: str) -> str:
    link = f"- [[{name}]]"
    if RELATED_HEADING in text:
        return text.rstrip("\n") + f"\n{link}\n"
    return text.rstrip("\n") + f"\n\n{RELATED_HEADING}\n{link}\n"


class Consolidation:
    """One consolidation pass over a vault, recording each change in ``store``."""

    def __init__(self, vault: Vault, store: ArtifactStore) -> None:
        self.vault = vault
        self.store = store
        self.changes: list[dict[str, Any]] = []

    def change(self, name: str, kind: str, after: str, why: str) -> None:
        before = self.vault.read(name).text
        if before == after:
            return
        self.vault.write(name, after)
        after = self.vault.read(name).text  # as the vault keeps it
        artifact = Artifact.json(
            {"note": name, "change": kind, "why": why, "before": before, "after": after},
            origin="dream",
            role=CHANGE_ROLE,
        )
        self.store.put(artifact)
        self.changes.append({"note": name, "change": kind, "why": why, "artifact": artifact.id})

    async def run(self, embed: Embedder, summarise: Summarise | None) -> list[dict[str, Any]]:
        import numpy as np

        names = sorted(
            note.name for note in self.vault.notes() if not self.vault.read(note.name).text.startswith(MERGED_MARK)
        )
        texts = {name: self.vault.read(name).text for name in names}
        vectors = np.asarray(embed([f"{name}\n{texts[name]}" for name in names]), dtype=np.float32) if names else None
        merged: set[str] = set()
        for i, first in enumerate(names):
            for j in range(i + 1, len(names)):
                second = names[j]
                if first in merged or second in merged:
                    continue
                assert vectors is not None
                similarity = float(vectors[i] @ vectors[j])
                if _words(texts[first]) == _words(texts[second]) or similarity >= DUPLICATE_SIMILARITY:
                    self.merge(first, second, similarity)
                    merged.add(second)
                elif similarity >= LINK_SIMILARITY:
                    self.link(first, second, similarity)
        if summarise is not None:
            for name in names:
                text = self.vault.read(name).text if name not in merged else ""
                if len(text) > LONG_CHARS and SUMMARY_MARK not in text:
                    front, body = _split_front(text)
                    summary = " ".join((await summarise(body)).split())
                    if summary:
                        self.change(name, "summarised", f"{front}{SUMMARY_MARK} {summary}\n\n{body}", "a long note")
        self.journal()
        return self.changes

    def merge(self, keeper: str, duplicate: str, similarity: float) -> None:
        kept, gone = self.vault.read(keeper).text, self.vault.read(duplicate).text
        why = f"duplicates (similarity {similarity:.2f})"
        if _words(gone) not in _words(kept):
            self.change(keeper, "merged", kept.rstrip("\n") + f"\n\n(from [[{duplicate}]])\n{_split_front(gone)[1]}", why)
        self.change(duplicate, "merged away", f"{MERGED_MARK}{keeper}]] by smol dream (its text is there).\n", why)

    def link(self, first: str, second: str, similarity: float) -> None:
        linked = {ref.target for ref in self.vault.links(first)} | {ref.target for ref in self.vault.links(second)}
        if second in linked or first in linked:
            return
        why = f"related (similarity {similarity:.2f})"
        self.change(first, "linked", _with_related(self.vault.read(first).text, second), why)
        self.change(second, "linked", _with_related(self.vault.read(second).text, first), why)

    def journal(self) -> None:
        if not self.changes:
            return
        path = journal_path()
        batches = read_json(path, [])
        batches.append({"at": time.time(), "changes": [c["artifact"] for c in self.changes]})
        write_json(path, batches)


async def consolidate(
    vault: Vault, store: ArtifactStore, *, embed: Embedder, summarise: Summarise | None = None
) -> list[dict[str, Any]]:
    """Merge duplicates, link related notes, summarise long ones; the changes made."""
    return await Consolidation(vault, store).run(embed, summarise)


def llm_summariser(session: Session) -> Summarise:
    """A :data:`Summarise` on the session's LLM."""
    program = compile_source(
        'use summarise = llm "Summarise the note below in two or three plain sentences: what it is about and'
        ' what it says. Reply with the summary only."\nout <= summarise\n'
    ).runnable()

    async def summarise(text: str) -> str:
        result = await session.run(program, text)
        return "" if result.output.is_error else answer_text(result.output)

    return summarise


def undo_consolidation(vault: Vault, store: ArtifactStore) -> list[str]:
    """Undo the last consolidation batch; what was undone and what was left (edited since)."""
    path = journal_path()
    batches = read_json(path, [])
    if not batches:
        return []
    said = []
    for artifact_id in reversed(batches.pop()["changes"]):
        change = store.get(artifact_id).as_json()
        if vault.read(change["note"]).text != change["after"]:
            said.append(f"left {change['note']}: edited since it was {change['change']}")
            continue
        vault.write(change["note"], change["before"])
        said.append(f"undid {change['change']} of {change['note']}")
    write_json(path, batches)
    return said


__all__ = [
    "DUPLICATE_SIMILARITY",
    "LINK_SIMILARITY",
    "LONG_CHARS",
    "Consolidation",
    "consolidate",
    "llm_summariser",
    "undo_consolidation",
]
