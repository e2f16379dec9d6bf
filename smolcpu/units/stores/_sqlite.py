"""SQLite connections for the stores, with the sqlite-vec extension where vectors need it.

Python's own ``sqlite3`` is often built without extension loading (pyenv's and macOS's are),
so when it cannot load sqlite-vec the stores use ``pysqlite3`` (PyPI ``pysqlite3-binary``),
the same DB-API module over a bundled, current SQLite with FTS5.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

from smolcpu.errors import UsageError


def _driver() -> ModuleType:
    if hasattr(sqlite3.Connection, "enable_load_extension"):
        return sqlite3
    try:
        from pysqlite3 import dbapi2
    except ImportError as exc:
        raise UsageError(
            "this Python's sqlite3 cannot load extensions and pysqlite3 is missing: pip install pysqlite3-binary"
        ) from exc
    return dbapi2


def database_errors() -> tuple[type[Exception], ...]:
    """The error bases of the SQLite drivers in use, so callers can translate their failures."""
    try:
        from pysqlite3 import dbapi2
    except ImportError:
        return (sqlite3.Error,)
    return (sqlite3.Error, dbapi2.Error)


def connect(path: str | Path, *, vectors: bool = False) -> Any:
    """Open (creating folders) the SQLite database at ``path``; ``vectors`` loads sqlite-vec.

    The connection may be used from several threads (the store service serialises calls).
    """
    if str(path) != ":memory:":
        Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
    driver = _driver() if vectors else sqlite3
    connection = driver.connect(str(path), check_same_thread=False, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA busy_timeout=5000")
    if vectors:
        import sqlite_vec

        connection.enable_load_extension(True)
        sqlite_vec.load(connection)
        connection.enable_load_extension(False)
    return connection


@contextmanager
def transaction(connection: Any) -> Iterator[Any]:
    """Run a block of statements atomically on an autocommit connection."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield connection
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


__all__ = ["connect", "database_errors", "transaction"]
