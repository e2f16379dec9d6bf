"""The storage tool: files under one root folder that no path can leave.

Paths are relative, ``/``-separated, and never contain ``..``; an absolute path is refused.
A symlink may point elsewhere inside the root, but one that leads out is refused: the path
is resolved, checked against the root, and then opened one folder at a time with
``O_NOFOLLOW`` from a descriptor of the root, so a symlink swapped in meanwhile makes the
call fail instead of escaping. Writes are atomic: the bytes go to a temporary file in the
same folder, are flushed to disk, and the file is renamed over its target, so a reader sees
the old content or the new, never a mix.

The root is ``config.storage_root()`` (``SMOL_STORAGE``, default ``$SMOL_HOME/storage``)
unless a program gives the unit ``root=``. A run's policy may narrow it further to some
``folders`` (absolute, symlinks resolved): then a path whose resolved place is not in one of
them is refused, whatever the root, so a ``root=`` in the user's home or the project gains
nothing the policy did not allow.
"""

from __future__ import annotations

import binascii
import contextlib
import dataclasses
import errno
import os
import re
import stat
import uuid
from base64 import b64decode
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from smolcpu import config
from smolcpu.artifact import JSON, Artifact
from smolcpu.errors import UsageError
from smolcpu.units._registry import register
from smolcpu.units._tool import Tool

MAX_READ_BYTES = 256 * 1024**2
"""Largest file the storage tool reads into one artifact."""

_TEMP_PREFIX = ".smol-tmp-"
_DRIVE = re.compile(r"[A-Za-z]:(?:[\\/]|$)")
"""A Windows drive (``C:/``, ``C:\\``, ``C:``); ``a:b`` is an ordinary name on Linux."""
_UNSYNCABLE = {errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP}
"""What a filesystem that cannot fsync a folder answers (9p, some FUSE and gVisor mounts)."""
_FOLDER_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
WriteMode = Literal["create", "update", "write"]


@dataclasses.dataclass(frozen=True, slots=True)
class Entry:
    """What :meth:`Storage.stat` and :meth:`Storage.list` tell about one file or folder."""

    path: str
    kind: Literal["file", "folder", "link", "other"]
    size: int
    modified_ns: int

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class Storage:
    """Create, read, update, delete, list and stat files confined to ``root``."""

    def __init__(self, root: str | Path | None = None, *, folders: Sequence[str | Path] | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else config.storage_root()
        self.folders = None if folders is None else tuple(Path(os.path.realpath(f)) for f in folders)

    def read(self, path: str) -> bytes:
        """The bytes of file ``path``."""
        parts = self._resolve(path, file=True)
        with self._errors(path), self._folder(parts[:-1]) as folder:
            flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK  # a FIFO must not block the open
            descriptor = os.open(parts[-1], flags, dir_fd=folder)
            with os.fdopen(descriptor, "rb") as file:
                found = os.fstat(file.fileno())
                if not stat.S_ISREG(found.st_mode):
                    raise UsageError(f"{path!r} is not a regular file; the storage tool reads only files")
                os.set_blocking(file.fileno(), True)
                size = found.st_size
                if size > MAX_READ_BYTES:
                    raise UsageError(
                        f"{path!r} is {size} bytes; the storage tool reads at most {MAX_READ_BYTES}"
                    )
                return file.read()

    def write(self, path: str, data: bytes | str, *, mode: WriteMode = "write") -> Entry:
        """Write file ``path`` atomically, making its folders; returns its new :class:`Entry`.

        Args:
            mode: ``create`` refuses an existing file, ``update`` a missing one, ``write``
                does either.
        """
        if not isinstance(data, str | bytes | bytearray):
            raise UsageError(f"write text or bytes to {path!r}, not {type(data).__name__}")
        parts = self._resolve(path, file=True)
        payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        with self._errors(path), self._folder(parts[:-1], create=True) as folder:
            name = parts[-1]
            exists = _lstat(name, folder) is not None
            if mode == "create" and exists:
                raise UsageError(f"{path!r} already exists in storage; use update or write to replace it")
            if mode == "update" and not exists:
                raise UsageError(f"no file {path!r} in storage to update; use create or write")
            temp = f"{_TEMP_PREFIX}{uuid.uuid4().hex}"
            descriptor = os.open(
                temp,
                os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                0o644,
                dir_fd=folder,
            )
            try:
                with os.fdopen(descriptor, "wb") as file:
                    file.write(payload)
                    file.flush()
                    os.fsync(file.fileno())
                if mode == "create":
                    os.link(temp, name, src_dir_fd=folder, dst_dir_fd=folder, follow_symlinks=False)
                else:
                    os.rename(temp, name, src_dir_fd=folder, dst_dir_fd=folder)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temp, dir_fd=folder)
            _sync_folder(folder)
            return _entry(_normal(path), os.stat(name, dir_fd=folder, follow_symlinks=False))

    def delete(self, path: str) -> None:
        """Remove file ``path`` (a symlink itself, not its target), or folder ``path`` if empty."""
        parts = self._resolve(path, file=True, follow=False)
        with self._errors(path), self._folder(parts[:-1]) as folder:
            found = _lstat(parts[-1], folder)
            if found is None:
                raise FileNotFoundError(errno.ENOENT, "no such file", path)
            if stat.S_ISDIR(found.st_mode):
                os.rmdir(parts[-1], dir_fd=folder)
            else:
                os.unlink(parts[-1], dir_fd=folder)
            _sync_folder(folder)

    def list(self, path: str = "") -> list[Entry]:
        """The files and folders directly in folder ``path`` (the root by default), by name."""
        parts = self._resolve(path, file=False)
        prefix = PurePosixPath(_normal(path))
        with self._errors(path), self._folder(parts) as folder:
            return sorted(
                (
                    _entry(str(prefix / entry.name), entry.stat(follow_symlinks=False))
                    for entry in os.scandir(folder)
                    if not entry.name.startswith(_TEMP_PREFIX)
                ),
                key=lambda entry: entry.path,
            )

    def stat(self, path: str) -> Entry:
        """Kind, size and modification time of ``path`` (of a symlink itself, not its target)."""
        parts = self._resolve(path, file=False, follow=False)
        if not parts:
            return _entry("", os.stat(self._root()))
        with self._errors(path), self._folder(parts[:-1]) as folder:
            found = _lstat(parts[-1], folder)
            if found is None:
                raise FileNotFoundError(errno.ENOENT, "no such file", path)
            return _entry(_normal(path), found)

    def _root(self) -> str:
        self.root.mkdir(parents=True, exist_ok=True)
        return os.path.realpath(self.root)

    def _resolve(self, path: str, *, file: bool, follow: bool = True) -> tuple[str, ...]:
        """The path's parts below the real root, symlinks resolved; refuses what leads out.

        With ``follow=False`` the last part is kept as it is (a symlink is not followed), so
        stat and delete act on a link itself.
        """
        if not isinstance(path, str) or "\0" in path:
            raise UsageError(f"bad storage path {path!r}: give a relative path as text")
        given = PurePosixPath(_normal(path))
        if given.is_absolute() or path.startswith("~") or _DRIVE.match(path):
            raise UsageError(f"storage path {path!r} is absolute; give it relative to the storage root")
        if ".." in given.parts:
            raise UsageError(f"storage path {path!r} contains '..'; paths stay inside the storage root")
        root = self._root()
        last = given.parts[-1:] if given.parts and not follow else ()
        real = os.path.realpath(os.path.join(root, *given.parts[: len(given.parts) - len(last)]))
        if real != root and not real.startswith(root.rstrip(os.sep) + os.sep):
            raise UsageError(f"storage path {path!r} leads outside the storage root (through a symlink)")
        parts = (*Path(real).relative_to(root).parts, *last)
        if self.folders is not None and not _within(Path(real, *last), self.folders):
            allowed = ", ".join(str(folder) for folder in self.folders) or "none"
            raise UsageError(f"storage path {path!r} is outside the folders the run's policy allows ({allowed})")
        if file and not parts:
            raise UsageError(f"storage path {path!r} is the storage root, a folder; give a file path")
        return parts

    @contextlib.contextmanager
    def _folder(self, parts: tuple[str, ...], *, create: bool = False) -> Iterator[int]:
        """A descriptor of folder ``parts``, opened one level at a time without following symlinks."""
        descriptor = os.open(self._root(), _FOLDER_FLAGS & ~os.O_NOFOLLOW)
        try:
            for part in parts:
                if create:
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(part, 0o755, dir_fd=descriptor)
                child = os.open(part, _FOLDER_FLAGS, dir_fd=descriptor)
                os.close(descriptor)
                descriptor = child
            yield descriptor
        finally:
            os.close(descriptor)

    @contextlib.contextmanager
    def _errors(self, path: str) -> Iterator[None]:
        """Say what went wrong with ``path`` in the storage's terms, not the OS's."""
        try:
            yield
        except FileNotFoundError:
            raise UsageError(f"no file or folder {path!r} in storage; list shows what is there") from None
        except IsADirectoryError:
            raise UsageError(f"{path!r} is a folder; list it, or give a file path") from None
        except FileExistsError:
            raise UsageError(
                f"{path!r} already exists in storage; use update or write to replace it"
            ) from None
        except NotADirectoryError:
            raise UsageError(f"{path!r}: a part of this path is a file, not a folder") from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise UsageError(
                    f"storage path {path!r} goes through a symlink that changed; refused"
                ) from None
            if exc.errno == errno.ENOTEMPTY:
                raise UsageError(f"folder {path!r} is not empty; delete its files first") from None
            code = errno.errorcode.get(exc.errno or 0, "an OS error")
            raise UsageError(f"storage cannot do that with {path!r}: {exc.strerror} ({code})") from exc

    def __repr__(self) -> str:
        return f"<Storage root={str(self.root)!r}>"


def _within(path: Path, folders: Sequence[Path]) -> bool:
    return any(path == folder or folder in path.parents for folder in folders)


def _normal(path: str) -> str:
    """A path as the storage shows it: ``/``-separated, without ``.`` parts ('' is the root)."""
    normal = str(PurePosixPath(path.replace("\\", "/")))
    return "" if normal == "." else normal


def _sync_folder(folder: int) -> None:
    """Flush a folder's entries to disk, where the filesystem can: one that cannot answers
    EINVAL, and the rename before it is atomic all the same."""
    try:
        os.fsync(folder)
    except OSError as exc:
        if exc.errno not in _UNSYNCABLE:
            raise


def _lstat(name: str, folder: int) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=folder, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _entry(path: str, found: os.stat_result) -> Entry:
    kinds: dict[int, Literal["file", "folder", "link"]] = {
        stat.S_IFREG: "file",
        stat.S_IFDIR: "folder",
        stat.S_IFLNK: "link",
    }
    kind = kinds.get(stat.S_IFMT(found.st_mode), "other")
    return Entry(path=path, kind=kind, size=found.st_size, modified_ns=found.st_mtime_ns)


@register
class StorageTool(Tool):
    """The storage as a unit; an artifact with a ``path`` attribute is written as that file."""

    name = "storage"
    description = (
        "Persistent files under the storage root: read, write, create, update, delete, list, stat."
        " Paths are relative; read gives text, or bytes when the file is not UTF-8."
    )
    inputs = {
        "op": {"type": "string", "description": "read, write, create, update, delete, list or stat"},
        "path": {"type": "string", "description": "relative path of the file or folder", "nullable": True},
        "content": {"type": "string", "description": "what to write (text)", "nullable": True},
        "base64": {"type": "boolean", "description": "content is base64 of binary data", "nullable": True},
    }
    output = JSON

    def __init__(self, *, root: str | Path | None = None, folders: Sequence[str] | None = None) -> None:
        self.storage = Storage(root, folders=folders)

    def arguments(self, artifact: Artifact) -> dict[str, Any]:
        path = artifact.attr("path")
        if path is not None and artifact.type != JSON:
            return {"op": artifact.attr("op") or "write", "path": path, "content": artifact.payload}
        return super().arguments(artifact)

    def forward(
        self, op: str, path: str = "", content: str | bytes | None = None, base64: bool | None = False
    ) -> Any:
        """Do ``op``; read returns the content, the others a JSON description."""
        if op == "read":
            data = self.storage.read(path)
            try:
                return data.decode("utf-8")
            except UnicodeDecodeError:
                return data
        if op in ("write", "create", "update"):
            if content is None:
                raise UsageError(f"storage {op} needs 'content'")
            return self.storage.write(path, _decoded(content, base64=bool(base64)), mode=op).to_dict()
        if op == "delete":
            self.storage.delete(path)
            return {"deleted": path}
        if op == "list":
            return [entry.to_dict() for entry in self.storage.list(path)]
        if op == "stat":
            return self.storage.stat(path).to_dict()
        raise UsageError(f"unknown storage op {op!r}: use read, write, create, update, delete, list or stat")


def _decoded(content: str | bytes, *, base64: bool) -> bytes | str:
    if not base64 or isinstance(content, bytes):
        return content
    try:
        return b64decode(content, validate=True)
    except binascii.Error as exc:
        raise UsageError(f"content is not valid base64: {exc}") from exc


__all__ = ["MAX_READ_BYTES", "Entry", "Storage", "StorageTool"]
