"""A vault of markdown notes: the files are the truth, the index is a cache of them.

A note's *name* is its path in the vault without ``.md`` (``projects/Smol``). Every
operation first compares the files with the index (mtime and size) and re-reads what
changed, so edits made in Obsidian or any editor are seen; :meth:`Vault.rebuild` starts
the index over. Writes go to a temporary file that replaces the note in one step.

Where a note is asked for by name (read, delete, rename, links, backlinks) the name is
looked up like a link, case-insensitively; a bare name that two folders share is refused
with both paths listed, since picking one silently could delete the wrong note.

Anyone who can write to the folder (a sync service, a shared drive, another program) can
put files in it, so no file can stop the vault: a note over :data:`MAX_NOTE_BYTES`, one
that cannot be read, or one whose front matter breaks the rules of
:mod:`~smolcpu.units.tools._memory_links` is listed with its ``problem`` and its text (when
it has one) stays readable; a file that is not a regular file, or a symlink that leads out
of the vault (to ``~/.ssh``, say), is not part of the vault at all.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import os
import re
import stat as stat_mode
import tempfile
import threading
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from smolcpu import config
from smolcpu.errors import UsageError
from smolcpu.units.tools._memory_index import TAG_SEPARATOR, Index
from smolcpu.units.tools._memory_links import (
    NOTE_SUFFIX,
    Link,
    ParsedNote,
    Resolver,
    file_key,
    link_key,
    parse_note,
)

INDEX_DIR = ".smol"
"""The vault's hidden folder (Obsidian ignores dot-folders) that holds the index."""

NEW_FILE_MODE = 0o644
"""Permissions of a new note (a replaced note keeps its own)."""

MAX_NOTE_BYTES = 4 * 1024**2
"""Largest note read, indexed or written (a book's worth of text; parsing it takes seconds)."""

_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
"""How a note is opened: its real path, so no symlink; never waiting on a FIFO."""

SNIPPET_MARK = "**"
"""Search snippets mark matched words as markdown bold."""

_BAD_NAME = re.compile(r'[\\:*?"<>|#^\[\]\x00-\x1f]')

P = ParamSpec("P")
R = TypeVar("R")


@dataclasses.dataclass(frozen=True, slots=True)
class LinkRef:
    """A link between two places in the vault; ``target`` is None when it resolves nowhere."""

    source: str
    target: str | None
    written: str
    fragment: str
    alias: str | None
    embed: bool
    line: int
    style: str = "wiki"
    """``wiki``, ``markdown`` or ``angle``: how the link is written (see :class:`Link`)."""

    @property
    def text(self) -> str:
        """The link as it reads in its note, in its own form (a markdown link's title left out)."""
        link = Link(target=self.written, fragment=self.fragment, alias=self.alias, embed=self.embed, style=self.style)
        return link.render(self.written)


@dataclasses.dataclass(frozen=True, slots=True)
class NoteInfo:
    name: str
    path: str
    tags: tuple[str, ...]
    links: int
    size: int
    mtime_ns: int
    problem: str | None = None
    """Why the note's front matter, or the note itself, was left out of the index."""


@dataclasses.dataclass(frozen=True, slots=True)
class Note:
    """One note as read from its file, with what it links to."""

    name: str
    path: str
    text: str
    frontmatter: dict[str, Any]
    tags: tuple[str, ...]
    headings: tuple[str, ...]
    blocks: tuple[str, ...]
    links: tuple[LinkRef, ...]
    problem: str | None = None
    """Why the front matter was left out (see :attr:`ParsedNote.problem`), or None."""


@dataclasses.dataclass(frozen=True, slots=True)
class Hit:
    """A search result. ``scores`` holds each retriever's score (``text`` is BM25 from FTS5);
    ``score`` is what the hits are ordered by, higher is better. A hybrid search adds a
    ``vector`` score and fuses the two into ``score`` without changing this shape."""

    name: str
    path: str
    score: float
    snippet: str
    scores: dict[str, float]

    def parts(self) -> list[tuple[str, bool]]:
        """The snippet cut into (text, whether it is a matched word) pieces, for display."""
        pieces = self.snippet.split(SNIPPET_MARK)
        return [(piece, index % 2 == 1) for index, piece in enumerate(pieces) if piece]


@dataclasses.dataclass(frozen=True, slots=True)
class Graph:
    """The note-to-note link graph: every note, and (source, target, count) per linked pair."""

    nodes: tuple[str, ...]
    edges: tuple[tuple[str, str, int], ...]


@dataclasses.dataclass(frozen=True, slots=True)
class SyncReport:
    """What a sync found changed on disk since the index last looked."""

    added: int = 0
    changed: int = 0
    removed: int = 0


def note_name(path: str) -> str:
    """A note's name: its vault path without ``.md`` (attachments keep their extension)."""
    return path[: -len(NOTE_SUFFIX)] if path.endswith(NOTE_SUFFIX) else path


def _synced(method: Callable[P, R]) -> Callable[P, R]:
    """Run a vault operation under the vault's lock, after catching up with the files."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        vault = args[0]
        assert isinstance(vault, Vault)
        with vault._lock:
            vault._sync()
            return method(*args, **kwargs)

    return wrapper


class Vault:
    """A folder of markdown notes with links, tags and full-text search.

    Args:
        root: the vault folder (made if missing); ``config.memory_dir()`` by default.
    """

    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root if root is not None else config.memory_dir()).expanduser().resolve()
        if self.root.exists() and not self.root.is_dir():
            raise UsageError(f"memory vault {self.root} is a file, not a folder")
        self.root.mkdir(parents=True, exist_ok=True)
        self._index = Index(self.root / INDEX_DIR / "index.sqlite")
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"Vault({str(self.root)!r})"

    def close(self) -> None:
        self._index.close()

    # -- keeping the index in step with the files -----------------------------------

    def sync(self) -> SyncReport:
        """Re-read the files that changed since the index last looked; drop the deleted."""
        with self._lock:
            return self._sync()

    def rebuild(self) -> SyncReport:
        """Forget the index and read every file again, in one transaction."""
        with self._lock:
            return self._sync(fresh=True)

    def _files(self) -> Iterator[tuple[str, os.stat_result]]:
        """Every regular file of the vault (hidden ones and folders aside) and its stat; a
        symlink counts only when it leads to a file inside the vault."""
        for folder, dirnames, filenames in os.walk(self.root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            base = Path(folder).relative_to(self.root).as_posix()
            for filename in filenames:
                if filename.startswith("."):
                    continue
                full = os.path.join(folder, filename)
                try:
                    stat = os.stat(full)
                except OSError:
                    continue
                if not stat_mode.S_ISREG(stat.st_mode) or (os.path.islink(full) and not self._inside(full)):
                    continue
                relative = filename if base == "." else f"{base}/{filename}"
                yield relative, stat

    def _inside(self, path: str | Path) -> bool:
        return os.path.realpath(path).startswith(str(self.root) + os.sep)

    def _sync(self, *, fresh: bool = False) -> SyncReport:
        added = changed = 0
        with self._index.writing():
            if fresh:
                self._index.clear()
            known = self._index.stats()
            for path, stat in self._files():
                seen = known.pop(path, None)
                if seen == (stat.st_mtime_ns, stat.st_size):
                    continue
                self._index_file(path, stat)
                added, changed = (added + 1, changed) if seen is None else (added, changed + 1)
            for path in known:
                self._index.remove(path)
        return SyncReport(added=added, changed=changed, removed=len(known))

    def _index_file(self, path: str, stat: os.stat_result | None = None) -> None:
        """Read ``path`` into the index (inside a write transaction); a note that cannot be
        read is indexed with its problem and no text, so the vault goes on."""
        full = self.root / path
        stat = stat or full.stat()
        if not path.endswith(NOTE_SUFFIX):
            self._index.put(path, mtime_ns=stat.st_mtime_ns, size=stat.st_size, parsed=None)
            return
        try:
            text = self._read_text(full)
        except UsageError as exc:
            unread = ParsedNote({}, (), (), (), (), problem=f"not indexed: {exc}")
            self._index.put(path, mtime_ns=stat.st_mtime_ns, size=stat.st_size, parsed=unread)
            return
        self._index.put(path, mtime_ns=stat.st_mtime_ns, size=stat.st_size, parsed=parse_note(text), text=text)

    def _read_text(self, path: Path) -> str:
        """The text of the note file at ``path`` (undecodable bytes replaced).

        Raises:
            UsageError: it leads out of the vault, is not a regular file, cannot be read, or
                is larger than :data:`MAX_NOTE_BYTES`.
        """
        name = note_name(path.relative_to(self.root).as_posix())
        real = os.path.realpath(path)
        if not self._inside(real):
            raise UsageError(f"note {name!r} is a link that leads out of the vault; it is not read")
        try:
            with open(os.open(real, _READ_FLAGS), "rb") as handle:
                if not stat_mode.S_ISREG(os.fstat(handle.fileno()).st_mode):
                    raise UsageError(f"note {name!r} is not a regular file; it is not read")
                data = handle.read(MAX_NOTE_BYTES + 1)
        except OSError as exc:
            raise UsageError(f"note {name!r} cannot be read: {exc.strerror}") from None
        if len(data) > MAX_NOTE_BYTES:
            raise UsageError(
                f"note {name!r} is larger than the {MAX_NOTE_BYTES} bytes a note may have; split it into several"
            )
        return data.decode("utf-8", errors="replace")

    def _write_text(self, path: str, text: str) -> None:
        """Replace the note at ``path`` with ``text`` in one step (a crash leaves old or new).

        Raises:
            UsageError: the text is too large or not valid Unicode, or a folder has the note's name.
        """
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise UsageError(f"the text of note {note_name(path)!r} is not valid Unicode: {exc.reason}") from None
        if len(data) > MAX_NOTE_BYTES:
            raise UsageError(
                f"note {note_name(path)!r} would be {len(data)} bytes, more than the {MAX_NOTE_BYTES}"
                " bytes a note may have; split it into several"
            )
        full = self.root / path
        self._check_free(path)
        full.parent.mkdir(parents=True, exist_ok=True)
        mode = full.stat().st_mode & 0o777 if full.exists() else NEW_FILE_MODE
        descriptor, temporary = tempfile.mkstemp(dir=full.parent, prefix=".", suffix=".tmp")
        try:
            with open(descriptor, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(temporary, mode)
            os.replace(temporary, full)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def _check_free(self, path: str) -> None:
        """Refuse a note path that a folder, or something on the way to it, already holds."""
        full = self.root / path
        if full.is_dir():
            raise UsageError(
                f"{path!r} is a folder in the vault, not a note: pick another name, or rename the folder"
            )
        for parent in full.relative_to(self.root).parents:
            folder = self.root / parent
            if folder.exists() and not folder.is_dir():
                raise UsageError(f"cannot put a note at {path!r}: {parent.as_posix()!r} is a file, not a folder")

    # -- names ------------------------------------------------------------------------

    def _resolver(self) -> Resolver:
        return Resolver(self._index.paths())

    def _new_path(self, name: str) -> str:
        """The vault path a new note called ``name`` gets; refuses names Obsidian cannot link."""
        cleaned = unicodedata.normalize("NFC", name.strip()).strip("/")
        cleaned = cleaned[: -len(NOTE_SUFFIX)] if cleaned.lower().endswith(NOTE_SUFFIX) else cleaned
        parts = cleaned.split("/")
        if not cleaned or any(not part.strip() or part.startswith(".") for part in parts):
            raise UsageError(f"{name!r} is not a note name: use words and folders, like 'projects/Smol'")
        bad = sorted(set(_BAD_NAME.findall(cleaned)))
        if bad:
            raise UsageError(
                f"note name {name!r} has {' '.join(repr(c) for c in bad)}, which links cannot hold; "
                "leave those characters out"
            )
        return cleaned + NOTE_SUFFIX

    def _locate(self, name: str) -> str:
        """The path of the existing note ``name`` names (see the module docstring)."""
        key = link_key(name)
        notes = self._index.paths(notes_only=True)
        exact = [path for path in notes if file_key(path) == key]
        matches = exact or [path for path in notes if file_key(path).endswith("/" + key)]
        if len(matches) == 1:
            return matches[0]
        if matches:
            listed = ", ".join(note_name(path) for path in sorted(matches))
            raise UsageError(f"{name!r} names {len(matches)} notes ({listed}); give the folder too")
        close = difflib.get_close_matches(name, [note_name(path) for path in notes], n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else " (smol memory list shows the notes)"
        raise UsageError(f"no note {name!r} in the vault at {self.root}{hint}")

    def _existing(self, path: str) -> str | None:
        """The indexed note whose path equals ``path`` but for case, if any."""
        key = file_key(path)
        return next((p for p in self._index.paths(notes_only=True) if file_key(p) == key), None)

    # -- notes ------------------------------------------------------------------------

    @_synced
    def write(self, name: str, text: str) -> dict[str, Any]:
        """Create the note ``name`` or replace its text; returns its name and whether it is new.

        An existing note whose name differs only in case is the one written.
        """
        path = self._new_path(name)
        existing = self._existing(path)
        path = existing or path
        self._write_text(path, text)
        with self._index.writing():
            self._index_file(path)
        return {"name": note_name(path), "path": path, "created": existing is None}

    @_synced
    def read(self, name: str) -> Note:
        """The note ``name`` from its file, with its links resolved."""
        path = self._locate(name)
        text = self._read_text(self.root / path)
        parsed = parse_note(text)
        resolver = self._resolver()
        return Note(
            problem=parsed.problem,
            name=note_name(path),
            path=path,
            text=text,
            frontmatter=parsed.frontmatter,
            tags=parsed.tags,
            headings=tuple(heading.text for heading in parsed.headings),
            blocks=parsed.blocks,
            links=tuple(self._ref(path, link, resolver) for link in parsed.links),
        )

    @_synced
    def delete(self, name: str) -> str:
        """Delete the note ``name``; links to it stay in other notes and become unresolved."""
        path = self._locate(name)
        (self.root / path).unlink()
        with self._index.writing():
            self._index.remove(path)
        return note_name(path)

    @_synced
    def notes(self, *, tag: str | None = None) -> list[NoteInfo]:
        """Every note by path; with ``tag``, those tagged with it or with a tag nested under it."""
        return [
            NoteInfo(
                name=note_name(row["path"]),
                path=row["path"],
                tags=tuple(row["tags"].split(TAG_SEPARATOR)) if row["tags"] else (),
                links=row["links"],
                size=row["size"],
                mtime_ns=row["mtime_ns"],
                problem=row["problem"],
            )
            for row in self._index.notes(tag=tag)
        ]

    @_synced
    def rename(self, old: str, new: str) -> dict[str, Any]:
        """Move note ``old`` to ``new`` and rewrite links so that each still points where it did.

        Links to the note keep their embed mark, heading or block fragment and alias, and
        are written in the shortest form that resolves (Obsidian's default). A link to
        another note that the new name would capture is pinned to its note's path.

        Returns:
            ``{"old": name, "new": name, "rewritten": {note name: links rewritten}}``.

        Raises:
            UsageError: ``old`` is missing or ambiguous, or a note ``new`` exists.
        """
        source = self._locate(old)
        target = self._new_path(new)
        taken = self._existing(target)
        if taken is not None and taken != source:
            raise UsageError(f"cannot rename {note_name(source)!r}: note {note_name(taken)!r} already exists")
        if target == source:
            return {"old": note_name(source), "new": note_name(target), "rewritten": {}}
        before = self._resolver()
        after = Resolver([target if path == source else path for path in self._index.paths()])
        tails = tuple({file_key(source).rpartition("/")[2], file_key(target).rpartition("/")[2]})
        visit = {path for path, _ in self._index.links(tails=tails)} | {source}
        self._check_free(target)
        (self.root / target).parent.mkdir(parents=True, exist_ok=True)
        os.replace(self.root / source, self.root / target)
        rewritten = {}
        with self._index.writing():
            self._index.remove(source)
            for was in sorted(visit):
                now = target if was == source else was
                count = self._repoint(now, was=was, before=before, after=after, moved=(source, target))
                if count:
                    rewritten[note_name(now)] = count
                self._index_file(now)
        return {"old": note_name(source), "new": note_name(target), "rewritten": rewritten}

    def _repoint(self, path: str, *, was: str, before: Resolver, after: Resolver, moved: tuple[str, str]) -> int:
        """Rewrite the links of note ``path`` (at ``was`` before the move) that now point elsewhere."""
        try:
            text = self._read_text(self.root / path)
        except UsageError:
            return 0  # a note that cannot be read keeps its links as they are
        edits = []
        for link in parse_note(text).links:
            if not link.target:
                continue
            intended = before.resolve(link.target, source=was)
            if intended is None:
                continue
            intended = moved[1] if intended == moved[0] else intended
            if after.resolve(link.target, source=path) == intended:
                continue
            written = after.shortest_link(intended, source=path)
            if link.target.lower().endswith(NOTE_SUFFIX) and intended.endswith(NOTE_SUFFIX):
                written += NOTE_SUFFIX
            edits.append((link, written))
        for link, written in reversed(edits):
            text = text[: link.start] + link.render(written) + text[link.end :]
        if edits:
            self._write_text(path, text)
        return len(edits)

    # -- links ------------------------------------------------------------------------

    @staticmethod
    def _ref(source: str, link: Link, resolver: Resolver) -> LinkRef:
        target = resolver.resolve(link.target, source=source)
        return LinkRef(
            source=note_name(source),
            target=None if target is None else note_name(target),
            written=link.target,
            fragment=link.fragment,
            alias=link.alias,
            embed=link.embed,
            line=link.line,
            style=link.style,
        )

    @_synced
    def links(self, name: str) -> list[LinkRef]:
        """The links going out of note ``name``, in order, each with where it resolves."""
        path = self._locate(name)
        resolver = self._resolver()
        return [self._ref(path, link, resolver) for _, link in self._index.links(src=path)]

    @_synced
    def backlinks(self, name: str) -> list[LinkRef]:
        """The links in other notes that resolve to note ``name``."""
        path = self._locate(name)
        resolver = self._resolver()
        links = self._index.links(tails=(file_key(path).rpartition("/")[2],))
        refs = [self._ref(source, link, resolver) for source, link in links if source != path]
        return [ref for ref in refs if ref.target == note_name(path)]

    @_synced
    def unresolved(self) -> list[LinkRef]:
        """Every link that names no file in the vault (a note not written yet, a typo)."""
        resolver = self._resolver()
        refs = (self._ref(source, link, resolver) for source, link in self._index.links())
        return [ref for ref in refs if ref.target is None]

    @_synced
    def graph(self) -> Graph:
        """The note-to-note graph; links to attachments and to a note's own headings are left out."""
        resolver = self._resolver()
        notes = {note_name(path) for path in self._index.paths(notes_only=True)}
        counts: Counter[tuple[str, str]] = Counter()
        for source, link in self._index.links():
            if not link.target:
                continue
            ref = self._ref(source, link, resolver)
            if ref.target in notes:
                counts[(ref.source, ref.target)] += 1
        edges = tuple((source, target, count) for (source, target), count in sorted(counts.items()))
        return Graph(nodes=tuple(sorted(notes)), edges=edges)

    # -- search -----------------------------------------------------------------------

    @_synced
    def search(self, query: str, *, limit: int = 10) -> list[Hit]:
        """Notes that contain every word of ``query`` (stemmed, accents ignored), best first.

        Args:
            query: plain words; FTS5 operators are not interpreted, so any text is safe.
            limit: at most this many hits.
        """
        words = re.findall(r"\w+", query)
        if not words:
            raise UsageError("search needs at least one word to look for")
        if limit < 1:
            raise UsageError(f"limit must be at least 1, not {limit}")
        match = " ".join('"' + word.replace('"', '""') + '"' for word in words)
        return [
            Hit(
                name=note_name(row["path"]),
                path=row["path"],
                score=row["score"],
                snippet=row["snippet"].replace("\x02", SNIPPET_MARK).replace("\x03", SNIPPET_MARK),
                scores={"text": row["score"]},
            )
            for row in self._index.search(match, limit=limit)
        ]


__all__ = ["INDEX_DIR", "MAX_NOTE_BYTES", "Graph", "Hit", "LinkRef", "Note", "NoteInfo", "SyncReport", "Vault", "note_name"]
