"""The vault's index: a SQLite file derived from the notes, never the other way round.

It records, per file, the stat it was read at (so that edits made in another editor are
found by comparing mtime and size), and per note its links (with offsets), tags and full
text (FTS5). Links are stored as written and resolved when asked, because where a link
points depends on which other notes exist. A schema change or a damaged file is handled
by starting the index over from the files.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from smolcpu.units.tools._memory_links import Link, ParsedNote, fold

SCHEMA_VERSION = 3

TAG_SEPARATOR = "\x1f"

_SCHEMA = """
CREATE TABLE files(
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    note INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    size INTEGER NOT NULL,
    frontmatter TEXT NOT NULL DEFAULT '{}',
    problem TEXT
);
CREATE TABLE links(
    src INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    line INTEGER NOT NULL,
    target TEXT NOT NULL,
    fragment TEXT NOT NULL,
    alias TEXT,
    embed INTEGER NOT NULL,
    tail TEXT NOT NULL,
    style TEXT NOT NULL,
    title TEXT NOT NULL
);
CREATE INDEX links_src ON links(src);
CREATE INDEX links_tail ON links(tail);
CREATE TABLE tags(
    src INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
    tag TEXT NOT NULL,
    folded TEXT NOT NULL
);
CREATE INDEX tags_src ON tags(src);
CREATE INDEX tags_folded ON tags(folded);
CREATE VIRTUAL TABLE fts USING fts5(name, body, tokenize = 'porter unicode61 remove_diacritics 2');
"""


class Index:
    """One SQLite connection to a vault's index; every method is one short transaction."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = self._open()
        except sqlite3.DatabaseError:
            self._db = self._open(fresh=True)

    def _open(self, *, fresh: bool = False) -> sqlite3.Connection:
        """Connect, starting over from an empty index if it is damaged or of another schema."""
        if fresh:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA foreign_keys = ON")
        db.execute("PRAGMA journal_mode = WAL")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return db
        if version != 0:
            db.close()
            return self._open(fresh=True)
        with _transaction(db):
            if db.execute("PRAGMA user_version").fetchone()[0] == 0:
                for statement in filter(str.strip, _SCHEMA.split(";")):
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        return db

    def close(self) -> None:
        self._db.close()

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """One write transaction (taken at once, so two processes never interleave)."""
        with _transaction(self._db):
            yield

    def stats(self) -> dict[str, tuple[int, int]]:
        """Every indexed file's (mtime_ns, size) as it was read."""
        return {row["path"]: (row["mtime_ns"], row["size"]) for row in self._db.execute("SELECT * FROM files")}

    def put(self, path: str, *, mtime_ns: int, size: int, parsed: ParsedNote | None, text: str = "") -> None:
        """Record ``path`` (a note when ``parsed`` is given, else an attachment)."""
        self.remove(path)
        frontmatter = json.dumps(parsed.frontmatter, default=str) if parsed else "{}"
        problem = parsed.problem if parsed else None
        cursor = self._db.execute(
            "INSERT INTO files(path, note, mtime_ns, size, frontmatter, problem) VALUES (?, ?, ?, ?, ?, ?)",
            (path, parsed is not None, mtime_ns, size, frontmatter, problem),
        )
        if parsed is None:
            return
        file_id = cursor.lastrowid
        self._db.executemany(
            "INSERT INTO links VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    file_id,
                    link.start,
                    link.end,
                    link.line,
                    link.target,
                    link.fragment,
                    link.alias,
                    link.embed,
                    link.key.rpartition("/")[2],
                    link.style,
                    link.title,
                )
                for link in parsed.links
            ],
        )
        self._db.executemany("INSERT INTO tags VALUES (?, ?, ?)", [(file_id, tag, fold(tag)) for tag in parsed.tags])
        name = path.removesuffix(".md")
        self._db.execute("INSERT INTO fts(rowid, name, body) VALUES (?, ?, ?)", (file_id, name, text))

    def remove(self, path: str) -> None:
        row = self._db.execute("SELECT id FROM files WHERE path = ?", (path,)).fetchone()
        if row:
            self._db.execute("DELETE FROM fts WHERE rowid = ?", (row["id"],))
            self._db.execute("DELETE FROM files WHERE id = ?", (row["id"],))

    def clear(self) -> None:
        self._db.execute("DELETE FROM fts")
        self._db.execute("DELETE FROM files")

    def paths(self, *, notes_only: bool = False) -> list[str]:
        query = "SELECT path FROM files" + (" WHERE note" if notes_only else "") + " ORDER BY path"
        return [row["path"] for row in self._db.execute(query)]

    def notes(self, *, tag: str | None = None) -> list[sqlite3.Row]:
        """Every note with its tags (joined by ``TAG_SEPARATOR``) and count of links out;
        only those tagged ``tag``, or a tag nested under it, if given."""
        where, args = "WHERE f.note", []
        if tag is not None:
            folded = fold(tag.lstrip("#"))
            where += " AND f.id IN (SELECT src FROM tags WHERE folded = ? OR folded LIKE ? ESCAPE '\\')"
            args = [folded, _like_prefix(folded + "/")]
        return self._db.execute(
            f"""SELECT f.path, f.mtime_ns, f.size, f.problem,
                   (SELECT group_concat(tag, char(31)) FROM tags WHERE src = f.id) AS tags,
                   (SELECT count(*) FROM links WHERE src = f.id) AS links
            FROM files f {where} ORDER BY f.path""",
            args,
        ).fetchall()

    def note(self, path: str) -> sqlite3.Row | None:
        return self._db.execute("SELECT * FROM files WHERE path = ? AND note", (path,)).fetchone()

    def tags_of(self, path: str) -> list[str]:
        return [
            row["tag"]
            for row in self._db.execute(
                "SELECT t.tag FROM tags t JOIN files f ON f.id = t.src WHERE f.path = ?", (path,)
            )
        ]

    def links(self, *, src: str | None = None, tails: tuple[str, ...] | None = None) -> list[tuple[str, Link]]:
        """(note path, link) pairs in file order: all, those of note ``src``, or those whose
        target's last segment is in ``tails`` (the links that may point at a note of that name)."""
        clauses, args = [], []
        if src is not None:
            clauses.append("f.path = ?")
            args.append(src)
        if tails is not None:
            clauses.append(f"l.tail IN ({', '.join('?' * len(tails))})")
            args.extend(tails)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._db.execute(
            f"""SELECT f.path, l.start, l.end, l.line, l.target, l.fragment, l.alias, l.embed,
                      l.style, l.title
                FROM links l JOIN files f ON f.id = l.src {where} ORDER BY f.path, l.start""",
            args,
        )
        return [
            (
                row["path"],
                Link(
                    target=row["target"],
                    fragment=row["fragment"],
                    alias=row["alias"],
                    embed=bool(row["embed"]),
                    start=row["start"],
                    end=row["end"],
                    line=row["line"],
                    style=row["style"],
                    title=row["title"],
                ),
            )
            for row in rows
        ]

    def search(self, match: str, *, limit: int) -> list[sqlite3.Row]:
        """FTS5 matches of ``match`` best first; a name match weighs five times a body match."""
        return self._db.execute(
            """SELECT f.path, -bm25(fts, 5.0, 1.0) AS score,
                      snippet(fts, 1, char(2), char(3), '…', 12) AS snippet
               FROM fts JOIN files f ON f.id = fts.rowid
               WHERE fts MATCH ? ORDER BY bm25(fts, 5.0, 1.0) LIMIT ?""",
            (match, limit),
        ).fetchall()


def _like_prefix(prefix: str) -> str:
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


@contextlib.contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


__all__ = ["SCHEMA_VERSION", "TAG_SEPARATOR", "Index"]
