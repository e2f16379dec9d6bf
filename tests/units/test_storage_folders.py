"""A run's policy narrows storage to some folders: whatever the root, through any symlink or
`..`, a path whose real place is outside them is refused (as an attacker would try it)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from smolcpu.errors import UsageError
from smolcpu.units.tools import Storage


@pytest.fixture
def tree(tmp_path: Path) -> dict[str, Path]:
    root, home, project = tmp_path / "storage", tmp_path / "home", tmp_path / "project"
    for folder in (root / "notes" / "deep", root / "other", home / ".ssh", project / "src"):
        folder.mkdir(parents=True)
    (home / ".ssh" / "id_ed25519").write_text("SECRET")
    (project / "src" / "app.py").write_text("print('hi')")
    (root / "other" / "private.txt").write_text("not for this run")
    (root / "notes" / "to-home").symlink_to(home)
    (root / "notes" / "to-other").symlink_to(root / "other")
    (root / "notes" / "inside").symlink_to(root / "notes" / "deep")
    return {"root": root, "home": home, "project": project}


def test_paths_inside_the_folders_work(tree: dict[str, Path]) -> None:
    storage = Storage(tree["root"], folders=[str(tree["root"] / "notes")])
    storage.write("notes/a.txt", "hello")
    storage.write("notes/inside/b.txt", "via a symlink that stays inside")
    assert storage.read("notes/a.txt") == b"hello"
    assert (tree["root"] / "notes" / "deep" / "b.txt").exists()
    assert [e.path for e in storage.list("notes")][0] == "notes/a.txt"
    storage.delete("notes/to-home")  # the link itself lies inside; its target is not touched
    assert tree["home"].exists()


@pytest.mark.parametrize(
    "path",
    [
        "other/private.txt",
        "notes/../other/private.txt",
        "notes/to-other/private.txt",
        "notes/to-home/.ssh/id_ed25519",
        "",
        "notes/deep/../../other/private.txt",
    ],
)
def test_paths_outside_the_folders_are_refused(tree: dict[str, Path], path: str) -> None:
    storage = Storage(tree["root"], folders=[str(tree["root"] / "notes")])
    with pytest.raises(UsageError):
        storage.read(path) if path else storage.list(path)


@pytest.mark.parametrize(("target", "path"), [("home", ".ssh/id_ed25519"), ("project", "src/app.py")])
def test_a_root_moved_to_home_or_the_project_gains_nothing(tree: dict[str, Path], target: str, path: str) -> None:
    storage = Storage(tree[target], folders=[str(tree["root"] / "notes")])
    with pytest.raises(UsageError, match="outside the folders the run's policy allows"):
        storage.read(path)
    with pytest.raises(UsageError, match="outside the folders"):
        storage.write("planted.py", "import os")
    assert not (tree[target] / "planted.py").exists()


def test_a_folder_given_through_a_symlink_is_its_real_place(tree: dict[str, Path], tmp_path: Path) -> None:
    alias = tmp_path / "alias"
    alias.symlink_to(tree["root"] / "notes")
    storage = Storage(tree["root"], folders=[str(alias)])
    storage.write("notes/c.txt", "ok")
    with pytest.raises(UsageError):
        storage.read("other/private.txt")


def test_no_folders_means_none_may_be_touched(tree: dict[str, Path]) -> None:
    storage = Storage(tree["root"], folders=[])
    with pytest.raises(UsageError, match=r"allows \(none\)"):
        storage.write("notes/a.txt", "x")
    assert not os.path.exists(tree["root"] / "notes" / "a.txt")
