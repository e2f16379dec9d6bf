"""Which memory search runs: full text alone, or hybrid (full text fused with MiniLM vectors).

Hybrid finds a note that means the query without saying its words, but it needs the
sentence embedder's model. ``auto`` uses it when it is installed and otherwise falls back
to full text with a note saying how to get hybrid, so a fresh install still searches.
The notes' vectors live beside the vault's index (``.smol/vectors.sqlite``): like the
index they are derived from the notes, and each search embeds only what changed.

The vector store imports this package, so it is imported here when first needed.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smolcpu.errors import UnitError, UsageError
from smolcpu.models import KNOWN
from smolcpu.units.tools._memory_vault import INDEX_DIR, Hit, Vault

if TYPE_CHECKING:
    from smolcpu.units.stores import Embedder, MemoryVectors

MODES = ("text", "hybrid", "auto")
EMBED_MODEL = "minilm"
"""The registry model hybrid search embeds with unless another name or path is given."""
VECTORS_FILE = "vectors.sqlite"


@dataclasses.dataclass(frozen=True, slots=True)
class SearchResult:
    """The hits, the mode that produced them (``text`` or ``hybrid``), and why if it fell back."""

    mode: str
    hits: list[Hit]
    note: str | None = None


def model_installed(model: str | Path) -> bool:
    """Whether ``model`` (a registry name or a path to an ONNX file) can be loaded without installing."""
    if str(model) in KNOWN:
        return KNOWN[str(model)].installed
    return Path(model).expanduser().is_file()


class MemorySearch:
    """A vault's search in one of :data:`MODES`.

    Args:
        vault: the vault to search.
        model: the embedder's registry name or ONNX path, loaded in this process on the
            first hybrid search, unless ``embedder`` is given.
        embedder: texts in, unit vectors out (for example :func:`~smolcpu.units.stores.embedder_of`
            an embed unit in a worker process).
    """

    def __init__(self, vault: Vault, *, model: str | Path = EMBED_MODEL, embedder: Embedder | None = None) -> None:
        self.vault = vault
        self.model = model
        self.embedder = embedder
        self._vectors: MemoryVectors | None = None

    def __repr__(self) -> str:
        source = "an embed unit" if self.embedder is not None else str(self.model)
        return f"<MemorySearch {self.vault!r} embedding with {source}>"

    @property
    def hybrid_available(self) -> bool:
        return self.embedder is not None or model_installed(self.model)

    def mode_for(self, mode: str) -> tuple[str, str | None]:
        """The mode that runs for the ``mode`` asked, and a note when ``auto`` falls back to text.

        Raises:
            UsageError: an unknown mode.
        """
        if mode not in MODES:
            raise UsageError(f"search mode must be one of {', '.join(MODES)}, not {mode!r}")
        if mode != "auto":
            return mode, None
        if self.hybrid_available:
            return "hybrid", None
        return "text", f"full-text search only (for hybrid: smol models install {self.model})"

    def search(self, query: str, *, mode: str = "auto", limit: int = 10) -> SearchResult:
        """Search in ``mode``; hybrid hits carry ``scores`` ``text`` (if the words matched),
        ``vector`` (if among the nearest) and ``fused`` (what they are ordered by).

        Raises:
            UsageError: an unknown mode, a bad query or limit, or ``hybrid`` asked without
                the model (the message names the install command).
            UnitError: ``hybrid`` asked and the embed unit failed (``auto`` falls back to text).
        """
        used, note = self.mode_for(mode)
        if used == "text":
            return SearchResult(mode=used, hits=self.vault.search(query, limit=limit), note=note)
        try:
            hits = self._memory_vectors().search(query, limit=limit)
        except UnitError as exc:  # the embed unit stopped or timed out: auto still answers by words
            if mode != "auto":
                raise
            hits = self.vault.search(query, limit=limit)
            return SearchResult(mode="text", hits=hits, note=f"full-text search only: {exc}")
        fused = [dataclasses.replace(hit, scores={**hit.scores, "fused": hit.score}) for hit in hits]
        return SearchResult(mode=used, hits=fused)

    def _memory_vectors(self) -> MemoryVectors:
        if self._vectors is None:
            from smolcpu.units.stores import LocalVectors, MemoryVectors

            embed = self.embedder or _in_process_embedder(self.model)
            self._vectors = MemoryVectors(self.vault, LocalVectors(self.vault.root / INDEX_DIR / VECTORS_FILE), embed)
        return self._vectors

    def close(self) -> None:
        if self._vectors is not None:
            self._vectors.vectors.close()


def _in_process_embedder(model: str | Path) -> Any:
    from smolcpu.units.neural import Embed

    embed = Embed(model_path=model)
    embed.load()
    return embed.embed_many


__all__ = ["EMBED_MODEL", "MODES", "VECTORS_FILE", "MemorySearch", "SearchResult", "model_installed"]
