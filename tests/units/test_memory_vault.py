"""The vault end to end on real files: CRUD, outside edits, rename, links, graph, search."""

from __future__ import annotations

import os
import random
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from smolcpu.errors import UsageError
from smolcpu.units.tools import Vault
from smolcpu.units.tools._memory_vault import INDEX_DIR, SyncReport

HOME = """\
---
tags: [hub]
related: "[[Ideas]]"
---
# Home
Plain [[Ideas]], aliased [[Ideas|my ideas]], heading [[Ideas#Big ones]], block [[Ideas#^b1]],
embed ![[Ideas]], both [[Ideas#Big ones|the big ones]], suffix [[Ideas.md]], lower [[ideas]],
path [[Archive/Ideas]], deep [[Projects/Smol/Plan]], self [[#Home]], missing [[Nowhere]],
picture ![[diagram.png]], lost picture ![[nope.png]], duplicate name [[Topic]], qualified [[z/Topic]],
unicode [[über]].

| col | link |
| --- | --- |
| a | [[Ideas\\|in a table]] |

Inline `[[Not A Link]]`, then:

```python
x = "[[Code Link]]"
```

#home #nested/tag
"""

FILES = {
    "Home.md": HOME,
    "Ideas.md": "# Ideas\n## Big ones\nAn idea about small models. ^b1\n"
    "Back to [[Home]], see [[Plan#Steps|the plan]].\n",
    "Archive/Ideas.md": "Old ideas, superseded by [[ideas]].\n",
    "Projects/Smol/Plan.md": "## Steps\n1. Read [[Home]]\n2. Sibling [[./Notes]]\n3. Up [[../Readme]]\n",
    "Projects/Smol/Notes.md": "Café notes about the [[Plan]]: naïve résumé.\n",
    "Projects/Readme.md": "The projects folder.\n",
    "x/Topic.md": "Topic one.\n",
    "y/z/Topic.md": "Topic two links [[Nowhere]] too.\n",
    "Über.md": "Umlaut note.\n",
}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A vault written straight to disk, as Obsidian (or a person) would have left it."""
    root = tmp_path / "vault"
    for name, text in FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    (root / "diagram.png").write_bytes(b"\x89PNG not really")
    (root / ".obsidian").mkdir()
    (root / ".obsidian" / "hidden.md").write_text("[[Home]]")
    return root


@pytest.fixture
def vault(root: Path) -> Vault:
    vault = Vault(root)
    yield vault
    vault.close()


def _targets(refs: list) -> list[tuple[str, str | None]]:
    return [(ref.written, ref.target) for ref in refs]


def test_outgoing_links_resolve_by_obsidian_rules(vault: Vault) -> None:
    assert _targets(vault.links("Home")) == [
        ("Ideas", "Ideas"),  # in a front matter property
        ("Ideas", "Ideas"),
        ("Ideas", "Ideas"),
        ("Ideas", "Ideas"),
        ("Ideas", "Ideas"),
        ("Ideas", "Ideas"),
        ("Ideas", "Ideas"),
        ("Ideas.md", "Ideas"),
        ("ideas", "Ideas"),
        ("Archive/Ideas", "Archive/Ideas"),
        ("Projects/Smol/Plan", "Projects/Smol/Plan"),
        ("", "Home"),
        ("Nowhere", None),
        ("diagram.png", "diagram.png"),
        ("nope.png", None),
        ("Topic", "x/Topic"),
        ("z/Topic", "y/z/Topic"),
        ("über", "Über"),
        ("Ideas", "Ideas"),
    ]
    assert _targets(vault.links("Plan")) == [
        ("Home", "Home"),
        ("./Notes", "Projects/Smol/Notes"),
        ("../Readme", "Projects/Readme"),
    ]


def test_backlinks_unresolved_and_graph(vault: Vault) -> None:
    assert sorted({ref.source for ref in vault.backlinks("ideas")}) == ["Archive/Ideas", "Home"]
    assert len(vault.backlinks("Ideas")) == 11
    assert [ref.source for ref in vault.backlinks("Home")] == ["Ideas", "Projects/Smol/Plan"]
    assert sorted((ref.source, ref.written) for ref in vault.unresolved()) == [
        ("Home", "Nowhere"),
        ("Home", "nope.png"),
        ("y/z/Topic", "Nowhere"),
    ]
    graph = vault.graph()
    assert graph.nodes == tuple(sorted(name.removesuffix(".md") for name in FILES))
    assert graph.edges == (
        ("Archive/Ideas", "Ideas", 1),
        ("Home", "Archive/Ideas", 1),
        ("Home", "Ideas", 10),
        ("Home", "Projects/Smol/Plan", 1),
        ("Home", "x/Topic", 1),
        ("Home", "y/z/Topic", 1),
        ("Home", "Über", 1),
        ("Ideas", "Home", 1),
        ("Ideas", "Projects/Smol/Plan", 1),
        ("Projects/Smol/Notes", "Projects/Smol/Plan", 1),
        ("Projects/Smol/Plan", "Home", 1),
        ("Projects/Smol/Plan", "Projects/Readme", 1),
        ("Projects/Smol/Plan", "Projects/Smol/Notes", 1),
    )


def test_read_gives_text_tags_headings_and_blocks(vault: Vault, root: Path) -> None:
    note = vault.read("HOME")
    assert note.text == FILES["Home.md"]
    assert note.frontmatter == {"tags": ["hub"], "related": "[[Ideas]]"}
    assert note.tags == ("hub", "home", "nested/tag")
    assert vault.read("Ideas").headings == ("Ideas", "Big ones")
    assert vault.read("Ideas").blocks == ("b1",)
    assert [info.name for info in vault.notes(tag="nested")] == ["Home"]
    assert [info.name for info in vault.notes(tag="#HUB")] == ["Home"]


def test_ambiguous_and_missing_names_are_refused_with_help(vault: Vault) -> None:
    with pytest.raises(UsageError, match=r"'topic' names 2 notes \(x/Topic, y/z/Topic\); give the folder"):
        vault.read("topic")
    assert vault.read("z/topic").name == "y/z/Topic"
    with pytest.raises(UsageError, match="did you mean Ideas"):
        vault.read("Idaes")
    with pytest.raises(UsageError, match="no note 'Nowhere'"):
        vault.delete("Nowhere")


@pytest.mark.parametrize("bad", ["", "  ", "a/../b", ".hidden", "a/.b", "x#y", "x|y", "x[y]", "x^y", "C:x", "a\\b"])
def test_names_that_links_cannot_hold_are_refused(vault: Vault, bad: str) -> None:
    with pytest.raises(UsageError):
        vault.write(bad, "text")


def test_write_update_delete_round_trip(vault: Vault, root: Path) -> None:
    assert vault.write("journal/2024-05-01", "Met [[Home]]. #daily\n") == {
        "name": "journal/2024-05-01",
        "path": "journal/2024-05-01.md",
        "created": True,
    }
    assert (root / "journal" / "2024-05-01.md").read_text() == "Met [[Home]]. #daily\n"
    assert "journal/2024-05-01" in {ref.source for ref in vault.backlinks("Home")}
    assert vault.write("JOURNAL/2024-05-01.md", "Rewritten, no links.\r\n")["created"] is False
    assert (root / "journal" / "2024-05-01.md").read_bytes() == b"Rewritten, no links.\r\n"
    assert "journal/2024-05-01" not in {ref.source for ref in vault.backlinks("Home")}
    assert vault.delete("2024-05-01") == "journal/2024-05-01"
    assert not (root / "journal" / "2024-05-01.md").exists()
    assert "journal/2024-05-01" not in [info.name for info in vault.notes()]
    leftovers = [p for p in root.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


def test_edits_made_outside_are_picked_up(vault: Vault, root: Path) -> None:
    assert vault.search("zeppelin") == []
    (root / "Outside.md").write_text("A zeppelin flies to [[Home]].")
    assert [hit.name for hit in vault.search("zeppelin")] == ["Outside"]
    assert "Outside" in {ref.source for ref in vault.backlinks("Home")}
    path = root / "Outside.md"
    path.write_text("A zeppelin lands at [[Ideas]]")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert "Outside" not in {ref.source for ref in vault.backlinks("Home")}
    assert "Outside" in {ref.source for ref in vault.backlinks("Ideas")}
    (root / "Ideas.md").unlink()
    assert {ref.target for ref in vault.links("Home") if ref.written == "Ideas"} == {"Archive/Ideas"}
    assert [ref.target for ref in vault.links("Archive/Ideas")] == ["Archive/Ideas"]
    (root / "Archive" / "Ideas.md").unlink()
    assert ("Home", "Ideas") in {(ref.source, ref.written) for ref in vault.unresolved()}
    assert vault.sync() == SyncReport()


def test_the_index_is_derived_and_can_be_rebuilt(root: Path) -> None:
    vault = Vault(root)
    graph = vault.graph()
    hits = [hit.name for hit in vault.search("idea")]
    vault.close()
    index = root / INDEX_DIR / "index.sqlite"
    assert index.is_file()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{index}{suffix}").unlink(missing_ok=True)
    index.write_bytes(b"this is not a database" * 100)
    reopened = Vault(root)
    assert reopened.graph() == graph
    assert [hit.name for hit in reopened.search("idea")] == hits
    assert reopened.rebuild().added == len(FILES) + 1
    assert reopened.graph() == graph
    with sqlite3.connect(index) as db:
        assert not db.execute("SELECT count(*) FROM files WHERE path LIKE '.%'").fetchone()[0]
    reopened.close()


def test_rename_rewrites_every_form_and_keeps_fragments_and_aliases(vault: Vault, root: Path) -> None:
    result = vault.rename("Ideas", "Thoughts/Big Thoughts")
    assert result["old"] == "Ideas" and result["new"] == "Thoughts/Big Thoughts"
    assert result["rewritten"] == {"Archive/Ideas": 1, "Home": 10}
    home = (root / "Home.md").read_text()
    for expected in [
        'related: "[[Big Thoughts]]"',
        "Plain [[Big Thoughts]], aliased [[Big Thoughts|my ideas]], heading [[Big Thoughts#Big ones]]",
        "block [[Big Thoughts#^b1]]",
        "embed ![[Big Thoughts]], both [[Big Thoughts#Big ones|the big ones]], suffix [[Big Thoughts.md]]",
        "lower [[Big Thoughts]]",
        "path [[Archive/Ideas]]",
        "| a | [[Big Thoughts\\|in a table]] |",
        "Inline `[[Not A Link]]`",
        'x = "[[Code Link]]"',
    ]:
        assert expected in home
    assert (root / "Archive/Ideas.md").read_text() == "Old ideas, superseded by [[Big Thoughts]].\n"
    assert not (root / "Ideas.md").exists()
    assert (root / "Thoughts" / "Big Thoughts.md").read_text() == FILES["Ideas.md"]
    assert len(vault.backlinks("Big Thoughts")) == 11
    assert vault.backlinks("Archive/Ideas")[0].source == "Home"
    assert not any(ref.written == "Ideas" for ref in vault.unresolved())


def test_rename_keeps_moved_relative_links_and_pins_links_it_would_capture(vault: Vault, root: Path) -> None:
    vault.write("Other", "Links [[x/Topic]] and [[z/Topic]].")
    vault.write("Pointer", "To [[Other]] and [[Topic]].")
    result = vault.rename("Other", "Topic")
    assert (root / "Pointer.md").read_text() == "To [[Topic]] and [[x/Topic]]."
    assert (root / "Home.md").read_text().count("duplicate name [[x/Topic]]") == 1
    assert result["rewritten"] == {"Home": 1, "Pointer": 2}
    assert [ref.target for ref in vault.links("Pointer")] == ["Topic", "x/Topic"]

    vault.rename("Projects/Smol/Plan", "Elsewhere/Plan")
    assert [ref.target for ref in vault.links("Elsewhere/Plan")] == [
        "Home",
        "Projects/Smol/Notes",
        "Projects/Readme",
    ]
    assert vault.unresolved() == [ref for ref in vault.unresolved() if ref.written in ("Nowhere", "nope.png")]


def test_rename_refusals_and_case_only_rename(vault: Vault, root: Path) -> None:
    with pytest.raises(UsageError, match="already exists"):
        vault.rename("Home", "ideas")
    with pytest.raises(UsageError, match="names 2 notes"):
        vault.rename("Topic", "Subject")
    vault.rename("Home", "home")
    assert (root / "home.md").is_file() and not (root / "Home.md").exists()
    assert {ref.source for ref in vault.backlinks("home")} == {"Ideas", "Projects/Smol/Plan"}


def test_search_stems_folds_accents_and_takes_any_text(vault: Vault) -> None:
    assert [hit.name for hit in vault.search("model")] == ["Ideas"]
    assert [hit.name for hit in vault.search("cafe resume")] == ["Projects/Smol/Notes"]
    assert vault.search('"AND (OR* NEAR') == []
    hit = vault.search("superseded")[0]
    assert hit.name == "Archive/Ideas" and "**superseded**" in hit.snippet
    assert (hit.scores["text"], hit.score) == (hit.score, hit.score)
    assert ("superseded", True) in hit.parts()
    names = [hit.name for hit in vault.search("topic")]
    assert set(names) == {"x/Topic", "y/z/Topic", "Home"} and names[-1] == "Home"
    assert len(vault.search("topic", limit=1)) == 1
    with pytest.raises(UsageError):
        vault.search("  ?! ")


def test_a_large_vault_stays_quick_to_sync(tmp_path: Path) -> None:
    rng = random.Random(7)
    root = tmp_path / "big"
    root.mkdir()
    for i in range(300):
        links = " ".join(f"[[n{rng.randrange(300)}]]" for _ in range(5))
        (root / f"n{i}.md").write_text(f"note {i} {links} #t{i % 7}")
    vault = Vault(root)
    assert len(vault.notes()) == 300
    assert sum(count for _, _, count in vault.graph().edges) == 1500
    assert vault.sync().changed == 0
    vault.close()


def test_two_vault_objects_on_one_folder_write_at_once(tmp_path: Path) -> None:
    first, second = Vault(tmp_path / "shared"), Vault(tmp_path / "shared")

    def write_many(vault: Vault, prefix: str) -> None:
        for i in range(20):
            vault.write(f"{prefix}{i}", f"[[{'b' if prefix == 'a' else 'a'}{i}]]")

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(write_many, [first, second], ["a", "b"]))
    for vault in (first, second):
        assert len(vault.notes()) == 40
        assert vault.unresolved() == []
        assert len(vault.graph().edges) == 40
        vault.close()


def test_markdown_links_resolve_and_are_rewritten_in_their_own_form(tmp_path: Path) -> None:
    vault = Vault(tmp_path / "md")
    vault.write("Folder/Note With Spaces", "# Heading\nBack to [home](../Index.md).\n")
    vault.write(
        "Index",
        "Encoded [a](Note%20With%20Spaces.md), angle [b](<Folder/Note With Spaces.md#Heading>), "
        "wiki [[Note With Spaces]], image ![pic](pic.png), lost [c](Gone.md), "
        "web [d](https://example.com/Note%20With%20Spaces.md), anchor [e](#Top), "
        "code `[f](Note%20With%20Spaces.md)`.\n",
    )
    (tmp_path / "md" / "pic.png").write_bytes(b"\x89PNG")
    assert [(ref.written, ref.target, ref.style) for ref in vault.links("Index")] == [
        ("Note With Spaces.md", "Folder/Note With Spaces", "markdown"),
        ("Folder/Note With Spaces.md", "Folder/Note With Spaces", "angle"),
        ("Note With Spaces", "Folder/Note With Spaces", "wiki"),
        ("pic.png", "pic.png", "markdown"),
        ("Gone.md", None, "markdown"),
    ]
    assert [ref.text for ref in vault.links("Index")][:2] == [
        "[a](Note%20With%20Spaces.md)",
        "[b](<Folder/Note With Spaces.md#Heading>)",
    ]
    assert [ref.source for ref in vault.backlinks("Note With Spaces")] == ["Index"] * 3
    assert [ref.written for ref in vault.unresolved()] == ["Gone.md"]
    assert vault.graph().edges == (("Folder/Note With Spaces", "Index", 1), ("Index", "Folder/Note With Spaces", 3))

    assert vault.rename("Folder/Note With Spaces", "Moved/Renamed Note")["rewritten"] == {"Index": 3}
    assert vault.read("Index").text == (
        "Encoded [a](Renamed%20Note.md), angle [b](<Renamed Note.md#Heading>), "
        "wiki [[Renamed Note]], image ![pic](pic.png), lost [c](Gone.md), "
        "web [d](https://example.com/Note%20With%20Spaces.md), anchor [e](#Top), code `[f](Note%20With%20Spaces.md)`.\n"
    )
    assert vault.read("Renamed Note").text == "# Heading\nBack to [home](../Index.md).\n"
    assert [ref.target for ref in vault.links("Renamed Note")] == ["Index"]
    vault.close()
