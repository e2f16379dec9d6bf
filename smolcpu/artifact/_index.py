"""The run index: which artifacts belong to which run, and who was made from whom.

The store holds the artifacts; this SQLite file only points into it, so that listing a
run or walking lineage never scans the store. Everything here can be rebuilt from the
store (:meth:`RunIndex.rebuild`), except what a run said about itself (program, status).
WAL mode with ``synchronous=NORMAL`` keeps a record cheap (no fsync per artifact): a crash
may lose the last few index rows, never the artifacts, and ``rebuild`` brings them back.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smolcpu import config
from smolcpu.artifact._artifact import JSON, TEXT, Artifact
from smolcpu.errors import ArtifactError, UsageError

if TYPE_CHECKING:
    from smolcpu.artifact._store import ArtifactStore

log = logging.getLogger(__name__)

PREVIEW_CHARS = 80
"""How much of a text payload the index keeps, for traces that need not open the store."""

MAX_LINEAGE_DEPTH = 10_000
"""How far a lineage walk goes: far past any run's step budget, and an end to a cycle that
hand-made (or forged) parent ids could draw."""

_SHIFT = 2**63
"""Artifact timestamps are UInt64 and SQLite's integers signed: rows keep ``timestamp - _SHIFT``,
which fits and sorts the same."""

RUN_ATTRIBUTE = "run"
CALLER_ATTRIBUTE = "caller"
"""The attribute that names who asked for a run (a server's API key id, never the key): the
first artifact of a run that carries it claims the run for that caller (see :meth:`RunIndex.caller_of`)."""
UNKNOWN = "unknown"
"""Status of a run known only from its artifacts (recorded before ``start_run``, or rebuilt)."""
RUNNING = "running"
INTERRUPTED = "interrupted"
"""Status of a run whose process died before it could say how the run ended (see
:meth:`RunIndex.mark_interrupted`)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    started_ns INTEGER NOT NULL,
    finished_ns INTEGER,
    status TEXT NOT NULL,
    program TEXT NOT NULL DEFAULT '',
    input_summary TEXT NOT NULL DEFAULT '',
    owner TEXT NOT NULL DEFAULT '',
    usage TEXT NOT NULL DEFAULT '',
    caller TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS artifacts (
    id TEXT PRIMARY KEY,
    key TEXT NOT NULL,
    run TEXT,
    type TEXT NOT NULL,
    origin TEXT NOT NULL,
    role TEXT NOT NULL,
    scope TEXT NOT NULL,
    timestamp INTEGER NOT NULL,
    size INTEGER NOT NULL,
    preview TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS artifacts_by_run ON artifacts (run, timestamp);
CREATE TABLE IF NOT EXISTS edges (
    parent TEXT NOT NULL,
    child TEXT NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (parent, child)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS edges_by_child ON edges (child, position);
"""


@dataclasses.dataclass(frozen=True, slots=True)
class RunInfo:
    """One run as the index knows it."""

    id: str
    started_ns: int
    finished_ns: int | None
    status: str
    program: str
    input_summary: str
    artifact_count: int
    usage: str = ""
    """JSON: what the run spent against its policy, and why it ended (``{}``-like '' if nothing)."""
    caller: str = ""
    """Who asked for the run (a server's API key id), '' when nobody said."""

    @property
    def spending(self) -> dict[str, Any]:
        """:attr:`usage` read: ``policy``, ``spent``, and ``reason`` for a run that did not end ok."""
        try:
            found = json.loads(self.usage) if self.usage else {}
        except ValueError:
            return {}
        return found if isinstance(found, dict) else {}


@dataclasses.dataclass(frozen=True, slots=True)
class ArtifactRecord:
    """An artifact's header as indexed, with where it lives in the store and a payload preview."""

    id: str
    key: str
    run: str | None
    type: str
    origin: str
    role: str
    scope: str
    timestamp: int
    size: int
    preview: str
    parents: tuple[str, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class Rebuilt:
    """What :meth:`RunIndex.rebuild` found: how many artifacts it indexed, and the bad keys."""

    indexed: int
    corrupt: tuple[tuple[str, str], ...]


def preview(artifact: Artifact, *, limit: int = PREVIEW_CHARS) -> str:
    """A one-line glimpse of the payload: its text, an error's message, or its size."""
    if artifact.is_error:
        text = f"error: {artifact.error_message}"
    elif artifact.type in (TEXT, JSON) or artifact.type.startswith("text/"):
        text = artifact.payload[: limit * 4].decode("utf-8", errors="replace")
    else:
        return f"<{len(artifact.payload)} bytes>"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _owner() -> str:
    """Who runs a run: ``host:pid:start``, so a later process can tell that it died (a pid
    alone may have been given to another process since)."""
    return f"{socket.gethostname()}:{os.getpid()}:{_started(os.getpid())}"


def _started(pid: int) -> str:
    """When process ``pid`` started (clock ticks since boot), or '' when it does not exist."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return ""


def _owner_gone(owner: str, host: str) -> bool:
    """Whether the process ``owner`` names is known to be gone (only on this machine can we tell)."""
    parts = owner.rsplit(":", 2)
    if len(parts) != 3 or parts[0] != host or not parts[1].isdigit():
        return False
    return _started(int(parts[1])) != parts[2]


class RunIndex:
    """SQLite index of runs, their artifacts and the lineage edges between artifacts.

    Safe to share between threads (one connection behind a lock) and between processes
    (SQLite's WAL: a ``smol runs`` can read while a run is recording).
    """

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else config.index_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            self._db: sqlite3.Connection | None = sqlite3.connect(
                self.path, check_same_thread=False, isolation_level=None, timeout=30.0
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(runs)")}
            if "owner" not in columns:  # an index made before runs knew their owner
                self._db.execute("ALTER TABLE runs ADD COLUMN owner TEXT NOT NULL DEFAULT ''")
            if "usage" not in columns:  # an index made before runs kept their spending
                self._db.execute("ALTER TABLE runs ADD COLUMN usage TEXT NOT NULL DEFAULT ''")
            if "caller" not in columns:  # an index made before runs knew who asked for them
                self._db.execute("ALTER TABLE runs ADD COLUMN caller TEXT NOT NULL DEFAULT ''")
        except sqlite3.DatabaseError as exc:
            raise ArtifactError(
                f"run index {self.path} cannot be opened ({exc}); delete it and run"
                " `smol runs --rebuild` to make it again from the store"
            ) from exc

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; SQLite's failures (a full disk, a locked file) come out as
        :class:`ArtifactError`, and nothing of a failed transaction is kept."""
        with self._lock:
            if self._db is None:
                raise UsageError(f"run index {self.path} is closed")
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise ArtifactError(f"cannot write the run index {self.path}: {exc}") from exc

    def _query(self, sql: str, args: tuple[object, ...] = ()) -> list[tuple]:
        with self._lock:
            if self._db is None:
                raise UsageError(f"run index {self.path} is closed")
            return self._db.execute(sql, args).fetchall()

    # -- runs -------------------------------------------------------------------------

    def start_run(self, run_id: str, *, program: str = "", input_summary: str = "", caller: str = "") -> None:
        """Record that a run began (status ``running``), for ``caller`` if given (see :data:`CALLER_ATTRIBUTE`).

        Raises:
            UsageError: the run was already started.
        """
        with self._transaction() as db:
            row = db.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is not None and row[0] != UNKNOWN:
                raise UsageError(f"run {run_id} was already started (status {row[0]})")
            db.execute(
                "INSERT INTO runs (id, started_ns, status, program, input_summary, owner, caller)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET"
                " started_ns = excluded.started_ns, status = excluded.status,"
                " program = excluded.program, input_summary = excluded.input_summary, owner = excluded.owner,"
                " caller = CASE runs.caller WHEN '' THEN excluded.caller ELSE runs.caller END",
                (run_id, time.time_ns(), RUNNING, program, input_summary, _owner(), caller),
            )

    def mark_interrupted(self) -> list[str]:
        """Mark ``interrupted`` every run still ``running`` whose process on this machine is
        gone (killed, or the machine restarted): it will never say how it ended. Runs of
        live processes, and of other machines, are left alone. Returns the ids marked."""
        host = socket.gethostname()
        with self._transaction() as db:
            rows = db.execute("SELECT id, owner FROM runs WHERE status = ?", (RUNNING,)).fetchall()
            gone = [run_id for run_id, owner in rows if _owner_gone(owner, host)]
            db.executemany(
                "UPDATE runs SET status = ?, finished_ns = ? WHERE id = ?",
                [(INTERRUPTED, time.time_ns(), run_id) for run_id in gone],
            )
        return gone

    def finish_run(self, run_id: str, status: str, *, usage: Mapping[str, Any] | None = None) -> None:
        """Record how a run ended (``ok``, ``error``, ``cancelled``, ``limit``, ...) and, as
        ``usage``, what it spent against its policy (``smol trace`` shows it).

        Raises:
            UsageError: no such run, or it already finished.
        """
        with self._transaction() as db:
            row = db.execute("SELECT finished_ns, status FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is None:
                raise UsageError(f"no run {run_id} in the index; call start_run first")
            if row[0] is not None:
                raise UsageError(f"run {run_id} already finished (status {row[1]})")
            db.execute(
                "UPDATE runs SET finished_ns = ?, status = ?, usage = ? WHERE id = ?",
                (time.time_ns(), status, json.dumps(dict(usage)) if usage else "", run_id),
            )

    _RUN_COLUMNS = (
        "SELECT r.id, r.started_ns, r.finished_ns, r.status, r.program, r.input_summary,"
        " (SELECT count(*) FROM artifacts a WHERE a.run = r.id), r.usage, r.caller FROM runs r"
    )

    def runs(self, *, limit: int | None = None, caller: str | None = None) -> list[RunInfo]:
        """Runs, newest first; with ``caller``, only the runs that caller asked for."""
        where, args = (" WHERE r.caller = ?", (caller,)) if caller is not None else ("", ())
        rows = self._query(
            f"{self._RUN_COLUMNS}{where} ORDER BY r.started_ns DESC LIMIT ?",
            (*args, -1 if limit is None else limit),
        )
        return [RunInfo(*row) for row in rows]

    def caller_of(self, run_id: str) -> str:
        """Who asked for run ``run_id``: the :data:`CALLER_ATTRIBUTE` of its first artifact that
        carried one (a run cannot be claimed again); '' for an unknown or unclaimed run."""
        rows = self._query("SELECT caller FROM runs WHERE id = ?", (run_id,))
        return rows[0][0] if rows else ""

    def run(self, run_id: str) -> RunInfo | None:
        """The run with this id, or None."""
        rows = self._query(f"{self._RUN_COLUMNS} WHERE r.id = ?", (run_id,))
        return RunInfo(*rows[0]) if rows else None

    def find_runs(self, prefix: str) -> list[str]:
        """Ids of runs that start with ``prefix`` (so a user may type a short id)."""
        rows = self._query("SELECT id FROM runs WHERE substr(id, 1, ?) = ? ORDER BY id", (len(prefix), prefix))
        return [row[0] for row in rows]

    def resolve(self, run_id: str) -> RunInfo:
        """The run a user means by ``run_id``: a whole id or an unambiguous prefix (what
        ``smol trace`` and the web UI both take).

        Raises:
            UsageError: no run, or several, match.
        """
        found = self.run(run_id)
        if found is not None:
            return found
        matches = self.find_runs(run_id) if run_id else []
        if len(matches) == 1 and (found := self.run(matches[0])) is not None:
            return found
        if matches:
            raise UsageError(f"run id {run_id!r} is ambiguous: {', '.join(matches[:5])}; give more of it")
        raise UsageError(f"no run {run_id!r} in {self.path}; `smol runs` lists the runs there")

    # -- artifacts and lineage --------------------------------------------------------

    def record(self, artifact: Artifact, key: str) -> None:
        """Index an artifact stored under ``key``."""
        self.record_many(((artifact, key),))

    def record_many(self, stored: Iterable[tuple[Artifact, str]]) -> None:
        """Index several stored artifacts, ``(artifact, key)`` each, in one transaction
        (what :meth:`ArtifactStore.put_many` calls)."""
        with self._transaction() as db:
            for artifact, key in stored:
                self._insert(db, artifact, key)

    def _insert(self, db: sqlite3.Connection, artifact: Artifact, key: str) -> None:
        run = artifact.attr(RUN_ATTRIBUTE)
        db.execute(
            "INSERT OR REPLACE INTO artifacts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                artifact.id,
                key,
                run,
                artifact.type,
                artifact.origin,
                artifact.role,
                artifact.scope,
                artifact.timestamp - _SHIFT,
                len(artifact.payload),
                preview(artifact),
            ),
        )
        db.executemany(
            "INSERT OR IGNORE INTO edges (parent, child, position) VALUES (?, ?, ?)",
            [(parent, artifact.id, position) for position, parent in enumerate(artifact.parents)],
        )
        if run is not None:
            db.execute(
                "INSERT OR IGNORE INTO runs (id, started_ns, status) VALUES (?, ?, ?)",
                (run, min(artifact.timestamp, _SHIFT - 1), UNKNOWN),
            )
            caller = artifact.attr(CALLER_ATTRIBUTE)
            if caller:
                db.execute("UPDATE runs SET caller = ? WHERE id = ? AND caller = ''", (caller, run))

    def key_of(self, artifact_id: str) -> str | None:
        """The store key of an indexed artifact, or None."""
        rows = self._query("SELECT key FROM artifacts WHERE id = ?", (artifact_id,))
        return rows[0][0] if rows else None

    def keys(self) -> list[tuple[str, str]]:
        """Every indexed artifact: its id and its store key."""
        return [(row[0], row[1]) for row in self._query("SELECT id, key FROM artifacts")]

    def forget(self, artifact_id: str) -> None:
        """Drop an artifact's row (its key proved stale); its lineage edges stay."""
        with self._transaction() as db:
            db.execute("DELETE FROM artifacts WHERE id = ?", (artifact_id,))

    def artifacts(self, run_id: str) -> list[ArtifactRecord]:
        """The artifacts of a run, oldest first, each with its parents."""
        rows = self._query(
            "SELECT a.*, (SELECT group_concat(parent, char(10)) FROM"
            " (SELECT parent FROM edges e WHERE e.child = a.id ORDER BY position))"
            " FROM artifacts a WHERE a.run = ? ORDER BY a.timestamp, a.id",
            (run_id,),
        )
        return [
            ArtifactRecord(
                *row[:7],
                timestamp=row[7] + _SHIFT,
                size=row[8],
                preview=row[9],
                parents=tuple(row[10].split("\n")) if row[10] else (),
            )
            for row in rows
        ]

    def parents(self, artifact_id: str) -> list[str]:
        """Ids of the artifacts this one was made from, in the order it names them."""
        rows = self._query("SELECT parent FROM edges WHERE child = ? ORDER BY position", (artifact_id,))
        return [row[0] for row in rows]

    def children(self, artifact_id: str) -> list[str]:
        """Ids of the artifacts made from this one, oldest first (unindexed children last)."""
        rows = self._query(
            "SELECT e.child FROM edges e LEFT JOIN artifacts a ON a.id = e.child"
            " WHERE e.parent = ? ORDER BY a.timestamp IS NULL, a.timestamp, e.child",
            (artifact_id,),
        )
        return [row[0] for row in rows]

    def lineage(self, artifact_id: str, *, descendants: bool = False) -> list[str]:
        """Every ancestor of an artifact (or, with ``descendants``, everything made from it).

        Nearest first; each id once, even where lineage branches and joins again.
        """
        near, far = ("parent", "child") if descendants else ("child", "parent")
        rows = self._query(
            f"WITH RECURSIVE walk (id, depth) AS (SELECT ?, 0 UNION"
            f" SELECT e.{far}, walk.depth + 1 FROM edges e JOIN walk ON e.{near} = walk.id"
            " WHERE walk.depth < ?)"
            " SELECT id FROM walk WHERE depth > 0 GROUP BY id ORDER BY min(depth), id",
            (artifact_id, MAX_LINEAGE_DEPTH),
        )
        return [row[0] for row in rows]

    def rebuild(self, store: ArtifactStore) -> Rebuilt:
        """Index every artifact in ``store`` afresh, keeping what runs said about themselves.

        Artifacts that do not read back intact are left out and reported, not fatal.
        """
        corrupt: list[tuple[str, str]] = []
        indexed = 0
        with self._transaction() as db:
            db.execute("DELETE FROM artifacts")
            db.execute("DELETE FROM edges")
            for key in store.keys():
                try:
                    artifact = store.load(key)
                except ArtifactError as exc:
                    log.warning("rebuild: skipping %s: %s", key, exc)
                    corrupt.append((key, str(exc)))
                    continue
                self._insert(db, artifact, key)
                indexed += 1
        return Rebuilt(indexed=indexed, corrupt=tuple(corrupt))

    def close(self) -> None:
        """Close the database; further calls raise :class:`UsageError`."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def __enter__(self) -> RunIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._db is None else "open"
        return f"<RunIndex {self.path} {state}>"


__all__ = ["CALLER_ATTRIBUTE", "INTERRUPTED", "RUN_ATTRIBUTE", "ArtifactRecord", "Rebuilt", "RunIndex", "RunInfo", "preview"]
