"""The vector store: keyed vectors with their text, searched by meaning, words, or both.

Local means embedded: one SQLite file holding a sqlite-vec ``vec0`` table (cosine distance)
and an FTS5 full-text index over the same rows. sqlite-vec scans vectors from the file in
chunks instead of holding them in memory, so a store costs about 13 MB of RSS whatever its
size, where numpy in RAM holds 150 MB at 100k vectors (``./smol bench neural_vision``); an
exact scan of 100k takes ~0.1 s, plenty for a memory vault. LanceDB would also keep vectors
on disk but brings pyarrow into every process that opens the store.
Global is the same API served over HTTP (:func:`~smolcpu.units.stores._service.serve`).
A search given both a vector and a text is hybrid: the two rankings are fused by
reciprocal rank fusion, so an entry that matches in words and in meaning comes first.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from smolcpu import config
from smolcpu.errors import UsageError
from smolcpu.units._registry import register
from smolcpu.units.stores._service import RemoteStore, StoreTool
from smolcpu.units.stores._sqlite import connect, transaction

if TYPE_CHECKING:
    import numpy as np

RRF_K = 60
"""Reciprocal rank fusion's damping constant (Cormack et al., 2009)."""
MAX_K = 1000
_WORD = re.compile(r"\w+")


def fts_query(text: str) -> str:
    """An FTS5 query matching any word of ``text``, each quoted so no word is read as syntax."""
    return " OR ".join(f'"{word}"' for word in _WORD.findall(text))


def fuse(*rankings: Sequence[str], k: int = RRF_K) -> dict[str, float]:
    """Reciprocal rank fusion: each key scores the sum of 1/(k + rank) over the rankings."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, key in enumerate(ranking, start=1):
            scores[key] = scores.get(key, 0.0) + 1.0 / (k + rank)
    return scores


class LocalVectors:
    """An embedded vector store in one SQLite file (``":memory:"`` for a throwaway one)."""

    API: ClassVar[frozenset[str]] = frozenset(
        {"add", "add_many", "get", "delete", "search", "count", "dimensions", "entries"}
    )

    def __init__(self, path: str | Path = ":memory:", *, dim: int = 384) -> None:
        self.location = str(path)
        self.db = connect(path, vectors=True)
        self.db.execute("CREATE TABLE IF NOT EXISTS info (name TEXT PRIMARY KEY, value TEXT)")
        stored = self.db.execute("SELECT value FROM info WHERE name = 'dim'").fetchone()
        self.dim = int(stored[0]) if stored else dim
        if stored and self.dim != dim:
            raise UsageError(f"vector store {self.location} holds {self.dim}-d vectors, not {dim}-d")
        with transaction(self.db):
            self.db.execute("INSERT OR IGNORE INTO info VALUES ('dim', ?)", (str(self.dim),))
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, key TEXT UNIQUE NOT NULL, "
                "text TEXT NOT NULL, meta TEXT NOT NULL)"
            )
            self.db.execute(
                f"CREATE VIRTUAL TABLE IF NOT EXISTS item_vectors USING vec0(embedding float[{self.dim}] "
                "distance_metric=cosine)"
            )
            self.db.execute("CREATE VIRTUAL TABLE IF NOT EXISTS item_words USING fts5(text)")

    def __repr__(self) -> str:
        return f"<LocalVectors {self.location} {self.dim}-d, {self.count()} items>"

    def close(self) -> None:
        """Close the database file."""
        self.db.close()

    def _blob(self, vector: Sequence[float] | np.ndarray) -> bytes:
        import numpy as np
        array = np.asarray(vector, dtype=np.float32)
        if array.shape != (self.dim,) or not np.isfinite(array).all():
            raise UsageError(f"a vector here has {self.dim} finite numbers, not shape {array.shape}")
        return array.tobytes()

    def dimensions(self) -> int:
        """The length of every vector in this store."""
        return self.dim

    def add(
        self, key: str, vector: Sequence[float] | np.ndarray, *, text: str = "", meta: dict[str, Any] | None = None
    ) -> None:
        """Store ``vector`` (and its ``text`` and ``meta``) under ``key``, replacing what was there."""
        self.add_many([{"key": key, "vector": vector, "text": text, "meta": meta}])

    def add_many(self, items: Sequence[dict[str, Any]]) -> int:
        """Store several ``{"key", "vector", "text"?, "meta"?}`` items in one transaction; returns the count."""
        rows = [
            (str(item["key"]), self._blob(item["vector"]), item.get("text") or "", json.dumps(item.get("meta") or {}))
            for item in items
        ]
        with transaction(self.db):
            for key, blob, text, meta in rows:
                self._delete(key)
                row = self.db.execute(
                    "INSERT INTO items (key, text, meta) VALUES (?, ?, ?)", (key, text, meta)
                ).lastrowid
                self.db.execute("INSERT INTO item_vectors (rowid, embedding) VALUES (?, ?)", (row, blob))
                self.db.execute("INSERT INTO item_words (rowid, text) VALUES (?, ?)", (row, text))
        return len(rows)

    def _delete(self, key: str) -> bool:
        found = self.db.execute("SELECT id FROM items WHERE key = ?", (key,)).fetchone()
        if found is None:
            return False
        for table, column in (("items", "id"), ("item_vectors", "rowid"), ("item_words", "rowid")):
            self.db.execute(f"DELETE FROM {table} WHERE {column} = ?", found)
        return True

    def delete(self, key: str) -> bool:
        """Remove ``key``; says whether it was there."""
        with transaction(self.db):
            return self._delete(key)

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored entry under ``key`` (with its vector), or None."""
        import numpy as np
        row = self.db.execute(
            "SELECT items.key, items.text, items.meta, item_vectors.embedding FROM items "
            "JOIN item_vectors ON item_vectors.rowid = items.id WHERE items.key = ?",
            (key,),
        ).fetchone()
        if row is None:
            return None
        return {
            "key": row[0],
            "text": row[1],
            "meta": json.loads(row[2]),
            "vector": np.frombuffer(row[3], np.float32).tolist(),
        }

    def entries(self) -> dict[str, dict[str, Any]]:
        """Every key with its ``meta`` (no vectors): what a syncing caller compares against."""
        return {key: json.loads(meta) for key, meta in self.db.execute("SELECT key, meta FROM items")}

    def count(self) -> int:
        """How many entries the store holds."""
        return self.db.execute("SELECT count(*) FROM items").fetchone()[0]

    def search(
        self, vector: Sequence[float] | np.ndarray | None = None, *, text: str | None = None, k: int = 5
    ) -> list[dict[str, Any]]:
        """The ``k`` best entries for a vector, a text (full-text), or both (hybrid, fused).

        Each hit has ``key``, ``text``, ``meta`` and ``score`` (cosine similarity for a vector
        search, BM25 relevance for a text search, the fused score for a hybrid one).

        Raises:
            UsageError: neither a vector nor a text, or ``k`` out of range.
        """
        if not 1 <= k <= MAX_K:
            raise UsageError(f"k must be between 1 and {MAX_K}, not {k}")
        query = fts_query(text or "")
        if vector is None and not query:
            raise UsageError("search needs a vector, a text with words in it, or both")
        by_meaning: dict[int, float] = {}
        by_words: dict[int, float] = {}
        if vector is not None:
            by_meaning = dict(
                self.db.execute(
                    "SELECT rowid, 1.0 - distance FROM item_vectors "
                    "WHERE embedding MATCH ? AND k = ? ORDER BY distance",
                    (self._blob(vector), k),
                ).fetchall()
            )
        if query:
            by_words = dict(
                self.db.execute(
                    "SELECT rowid, -bm25(item_words) FROM item_words WHERE item_words MATCH ? ORDER BY rank LIMIT ?",
                    (query, k),
                ).fetchall()
            )
        scores = fuse(list(by_meaning), list(by_words)) if by_meaning and by_words else by_meaning or by_words
        best = sorted(scores, key=lambda row: -scores[row])[:k]
        return [self._hit(row, scores[row]) for row in best]

    def _hit(self, row: int, score: float) -> dict[str, Any]:
        key, text, meta = self.db.execute("SELECT key, text, meta FROM items WHERE id = ?", (row,)).fetchone()
        return {"key": key, "text": text, "meta": json.loads(meta), "score": round(float(score), 6)}


def remote_vectors(url: str) -> RemoteStore:
    """The global vector store served at ``url``: the same methods as :class:`LocalVectors`."""
    return RemoteStore(url, kind=LocalVectors)


@register
class Vectors(StoreTool):
    """The vector store as a unit: ``{"op": "search", "args": {"vector": [...], "k": 5}}``."""

    name = "vectors"
    description = "Store vectors with their text and find the nearest ones (by vector, by words, or both)."

    kind = LocalVectors
    default_path = config.vectors_path


__all__ = ["LocalVectors", "Vectors", "fts_query", "fuse", "remote_vectors"]
