"""Storage: CRUD on text and bytes, confinement to the root, atomic writes, the unit and CLI."""

from __future__ import annotations

import asyncio
import base64
import errno
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from smolcpu.artifact import BYTES, TEXT, Artifact
from smolcpu.cli import app
from smolcpu.errors import UsageError
from smolcpu.units.tools import Storage, StorageTool


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    return Storage(tmp_path / "root")


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder beside the root holding a secret that no storage call may reach."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.txt").write_text("secret")
    return folder


def test_root_defaults_to_smol_home_and_follows_smol_storage(
    smol_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert Storage().root == smol_home / "storage"
    monkeypatch.setenv("SMOL_STORAGE", str(tmp_path / "elsewhere"))
    assert Storage().root == tmp_path / "elsewhere"


def test_create_read_update_delete_text_and_bytes(storage: Storage) -> None:
    created = storage.write("notes/today.md", "# Today\n", mode="create")
    assert (created.path, created.kind, created.size) == ("notes/today.md", "file", 8)
    assert storage.read("notes/today.md") == b"# Today\n"
    binary = bytes(range(256))
    storage.write("data/blob.bin", binary)
    assert storage.read("data/blob.bin") == binary
    storage.write("notes/today.md", "# Today\nmore\n", mode="update")
    assert storage.read("./notes//today.md") == b"# Today\nmore\n"
    assert [(e.path, e.kind) for e in storage.list()] == [("data", "folder"), ("notes", "folder")]
    assert [e.path for e in storage.list("notes")] == ["notes/today.md"]
    assert storage.stat("data/blob.bin").size == 256
    storage.delete("notes/today.md")
    storage.delete("notes")
    assert [e.path for e in storage.list()] == ["data"]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: s.write("a.txt", "again", mode="create"), "'a.txt' already exists"),
        (lambda s: s.write("new.txt", "x", mode="update"), "no file 'new.txt' in storage to update"),
        (lambda s: s.read("missing.txt"), "no file or folder 'missing.txt'"),
        (lambda s: s.read("folder"), "'folder' is a folder"),
        (lambda s: s.read("a.txt/inner"), "a part of this path is a file"),
        (lambda s: s.delete("folder"), "folder 'folder' is not empty"),
        (lambda s: s.read(""), "is the storage root, a folder"),
        (lambda s: s.write(".", "x"), "is the storage root, a folder"),
    ],
)
def test_mistakes_are_usage_errors_that_say_what_to_do(storage: Storage, call: Any, message: str) -> None:
    storage.write("a.txt", "a")
    storage.write("folder/b.txt", "b")
    with pytest.raises(UsageError, match=message):
        call(storage)


@pytest.mark.parametrize(
    "path",
    ["../outside/secret.txt", "a/../../outside/secret.txt", "..", "a/..", "..\\outside\\secret.txt"],
)
def test_dot_dot_is_refused(storage: Storage, outside: Path, path: str) -> None:
    for call in (storage.read, storage.delete, storage.stat, lambda p: storage.write(p, "x"), storage.list):
        with pytest.raises(UsageError, match=r"contains '\.\.'"):
            call(path)
    assert (outside / "secret.txt").read_text() == "secret"


@pytest.mark.parametrize("kind", ["absolute", "home", "drive"])
def test_absolute_paths_are_refused(storage: Storage, outside: Path, kind: str) -> None:
    path = {"absolute": str(outside / "secret.txt"), "home": "~/secret.txt", "drive": "C:/secret.txt"}[kind]
    for call in (storage.read, storage.delete, lambda p: storage.write(p, "x")):
        with pytest.raises(UsageError, match="is absolute"):
            call(path)
    assert (outside / "secret.txt").read_text() == "secret"


def test_a_symlink_out_of_the_root_is_refused_for_every_operation(storage: Storage, outside: Path) -> None:
    storage.write("keep.txt", "k")
    root = storage.root
    (root / "file-link").symlink_to(outside / "secret.txt")
    (root / "folder-link").symlink_to(outside)
    (root / "inner").mkdir()
    (root / "inner" / "up").symlink_to("../../outside")
    attempts = [
        lambda: storage.read("file-link"),
        lambda: storage.write("file-link", "overwritten"),
        lambda: storage.read("folder-link/secret.txt"),
        lambda: storage.write("folder-link/new.txt", "planted"),
        lambda: storage.write("folder-link/deeper/new.txt", "planted"),
        lambda: storage.delete("folder-link/secret.txt"),
        lambda: storage.list("folder-link"),
        lambda: storage.stat("folder-link/secret.txt"),
        lambda: storage.read("inner/up/secret.txt"),
        lambda: storage.write("inner/up/secret.txt", "overwritten"),
    ]
    for attempt in attempts:
        with pytest.raises(UsageError, match="leads outside the storage root"):
            attempt()
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert (outside / "secret.txt").read_text() == "secret"


def test_a_link_itself_can_be_seen_and_removed_without_touching_its_target(
    storage: Storage, outside: Path
) -> None:
    storage.write("keep.txt", "k")
    (storage.root / "folder-link").symlink_to(outside)
    assert storage.stat("folder-link").kind == "link"
    assert ("folder-link", "link") in [(e.path, e.kind) for e in storage.list()]
    storage.delete("folder-link")
    assert not (storage.root / "folder-link").exists()
    assert (outside / "secret.txt").read_text() == "secret"


def test_symlinks_inside_the_root_work(storage: Storage) -> None:
    storage.write("real/a.txt", "a")
    (storage.root / "alias").symlink_to("real")
    (storage.root / "a-link.txt").symlink_to("real/a.txt")
    assert storage.read("alias/a.txt") == b"a"
    assert storage.read("a-link.txt") == b"a"
    storage.write("alias/b.txt", "b")
    assert (storage.root / "real" / "b.txt").read_text() == "b"
    assert [e.path for e in storage.list("alias")] == ["alias/a.txt", "alias/b.txt"]


def test_a_root_behind_a_symlink_works(tmp_path: Path) -> None:
    (tmp_path / "real-root").mkdir()
    (tmp_path / "root-link").symlink_to(tmp_path / "real-root")
    storage = Storage(tmp_path / "root-link")
    storage.write("x.txt", "x")
    assert (tmp_path / "real-root" / "x.txt").read_text() == "x"


def test_a_folder_swapped_for_a_symlink_while_walking_is_not_followed(
    storage: Storage, outside: Path
) -> None:
    """Resolve-then-open is not enough on its own: the walk refuses symlinks (O_NOFOLLOW)."""
    storage.write("sub/a.txt", "a")
    parts = storage._resolve("sub/a.txt", file=True)
    (storage.root / "sub" / "a.txt").unlink()
    (storage.root / "sub").rmdir()
    (storage.root / "sub").symlink_to(outside)
    with pytest.raises(OSError), storage._folder(parts[:-1]):
        pass


def test_writes_are_atomic_and_leave_no_temporary_files(storage: Storage) -> None:
    old, new = b"o" * 300_000, b"n" * 300_000
    storage.write("big.bin", old)
    seen: set[bytes] = set()
    done = threading.Event()

    def reader() -> None:
        while not done.is_set():
            seen.add(storage.read("big.bin"))

    thread = threading.Thread(target=reader)
    thread.start()
    for index in range(10):
        storage.write("big.bin", new if index % 2 == 0 else old)
    done.set()
    thread.join()
    assert seen <= {old, new}
    assert sorted(os.listdir(storage.root)) == ["big.bin"]


def test_a_failed_write_keeps_the_old_content(storage: Storage, monkeypatch: pytest.MonkeyPatch) -> None:
    storage.write("keep.txt", "old")

    def broken_rename(*args: Any, **kwargs: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "rename", broken_rename)
    with pytest.raises(UsageError, match="No space left on device"):
        storage.write("keep.txt", "new")
    monkeypatch.undo()
    assert storage.read("keep.txt") == b"old"
    assert sorted(os.listdir(storage.root)) == ["keep.txt"]


def handle(tool: StorageTool, artifact: Artifact) -> Artifact:
    return asyncio.run(tool.handle(None, None, artifact))


def test_the_unit_does_crud_and_replies_in_the_run(storage: Storage) -> None:
    tool = StorageTool(root=storage.root)
    run = {"run": "r1"}
    written = handle(tool, Artifact.json({"op": "write", "path": "n.md", "content": "héllo"}, attributes=run))
    assert (written.as_json()["size"], written.attr("run")) == (6, "r1")
    text = handle(tool, Artifact.json({"op": "read", "path": "n.md"}))
    assert (text.type, text.as_text()) == (TEXT, "héllo")
    blob = base64.b64encode(b"\xff\x00\xfe").decode()
    handle(tool, Artifact.json({"op": "create", "path": "b.bin", "content": blob, "base64": True}))
    binary = handle(tool, Artifact.json({"op": "read", "path": "b.bin"}))
    assert (binary.type, binary.payload) == (BYTES, b"\xff\x00\xfe")
    assert [e["path"] for e in handle(tool, Artifact.text("list")).as_json()] == ["b.bin", "n.md"]
    assert handle(tool, Artifact.json({"op": "stat", "path": "n.md"})).as_json()["kind"] == "file"
    assert handle(tool, Artifact.json({"op": "delete", "path": "n.md"})).as_json() == {"deleted": "n.md"}


def test_an_artifact_with_a_path_attribute_is_written_as_that_file(storage: Storage) -> None:
    tool = StorageTool(root=storage.root)
    image = Artifact.create(b"\x89PNG fake", type="image/png", attributes={"path": "images/a.png"})
    assert handle(tool, image).as_json()["path"] == "images/a.png"
    assert storage.read("images/a.png") == b"\x89PNG fake"


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"op": "read", "path": "../etc/passwd"}, "contains '..'"),
        ({"op": "read", "path": "/etc/passwd"}, "is absolute"),
        ({"op": "write", "path": "x"}, "storage write needs 'content'"),
        ({"op": "write", "path": "x", "content": "%%%", "base64": True}, "not valid base64"),
        ({"op": "move", "path": "x"}, "unknown storage op 'move'"),
        ({"op": "write", "path": "x", "content": 5}, "write text or bytes to 'x', not int"),
    ],
)
def test_the_unit_answers_mistakes_with_error_artifacts(
    storage: Storage, payload: dict[str, Any], message: str
) -> None:
    reply = handle(StorageTool(root=storage.root), Artifact.json(payload))
    assert reply.is_error
    assert message in reply.error_message


def test_smol_tool_storage(tmp_path: Path) -> None:
    runner = CliRunner()

    def smol(*args: str, stdin: str | None = None) -> Result:
        result = runner.invoke(app, ["tool", "storage", *args, "--root", str(tmp_path / "root")], input=stdin)
        assert result.exit_code == 0, result.output
        return result

    smol("write", "a/b.txt", "hello")
    smol("write", "a/c.txt", stdin="from stdin")
    assert smol("read", "a/b.txt").stdout == "hello"
    assert smol("read", "a/c.txt").stdout == "from stdin"
    listing = smol("list", "a").stdout
    assert "a/b.txt" in listing and "a/c.txt" in listing
    smol("delete", "a/b.txt")
    assert '"size": 10' in smol("stat", "a/c.txt").stdout
    assert not (tmp_path / "root" / "a" / "b.txt").exists()
    usage = runner.invoke(app, ["tool", "storage", "--help"]).stdout
    assert all(command in usage for command in ("list", "read", "write", "delete", "stat"))


def test_smol_tool_storage_refuses_with_one_clear_line(tmp_path: Path, outside: Path) -> None:
    refused = subprocess.run(
        [
            sys.executable,
            "-m",
            "smolcpu",
            "tool",
            "storage",
            "read",
            "../outside/secret.txt",
            "--root",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2
    assert "contains '..'" in refused.stderr and "Traceback" not in refused.stderr


def test_a_colon_inside_a_name_is_an_ordinary_file_and_drives_stay_refused(storage: Storage) -> None:
    storage.write("a:b", "colon")
    storage.write("notes/12:30 meeting.md", "at half past")
    assert storage.read("a:b") == b"colon"
    assert storage.read("notes/12:30 meeting.md") == b"at half past"
    for drive in ("C:", "c:\\Users\\secret.txt", "D:/secret.txt"):
        with pytest.raises(UsageError, match="is absolute"):
            storage.read(drive)


def test_a_filesystem_that_cannot_sync_folders_does_not_fail_writes(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """9p, some FUSE and gVisor mounts answer fsync on a folder with EINVAL: the write and
    delete before it are done, and say so."""
    real_fsync = os.fsync

    def fsync(descriptor: int) -> None:
        if os.path.isdir(f"/proc/self/fd/{descriptor}"):
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
        real_fsync(descriptor)

    monkeypatch.setattr(os, "fsync", fsync)
    assert storage.write("kept.txt", "kept").size == 4
    assert storage.read("kept.txt") == b"kept"
    storage.delete("kept.txt")
    assert storage.list() == []


@pytest.mark.timeout(30)
def test_reading_a_fifo_is_refused_without_blocking(storage: Storage) -> None:
    storage.write("placeholder", "x")
    os.mkfifo(storage.root / "pipe")
    with pytest.raises(UsageError, match="not a regular file"):
        storage.read("pipe")
