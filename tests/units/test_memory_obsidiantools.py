"""Our link graph against an independent parser (obsidiantools) on a generated vault."""

from __future__ import annotations

import random
import re
from collections import Counter
from pathlib import Path
from urllib.parse import quote, unquote

import pytest

from smolcpu.units.tools import Vault

_EXTERNAL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:|#")
FOLDERS = ["", "projects", "projects/smol", "archive/2023"]


def _generate(root: Path, *, notes: int, seed: int) -> None:
    """Notes with unique names in nested folders, linking in every form (wikilinks and
    markdown links), some links in code, some external or page anchors."""
    rng = random.Random(seed)
    paths = [f"{rng.choice(FOLDERS)}/Note {i}".lstrip("/") for i in range(notes)]

    def target() -> str:
        path = rng.choice(paths)
        name = path.rpartition("/")[2]
        return rng.choice([name, name, name.lower(), name.upper(), path, f"{name}.md", f"Missing {rng.randrange(9)}"])

    def segment() -> str:
        t = target()
        return rng.choice(
            [
                f"[[{t}]]",
                f"[[{t}|an alias]]",
                f"[[{t}#Some heading]]",
                f"[[{t}#^block-{rng.randrange(9)}]]",
                f"[[{t}#Heading|alias too]]",
                f"![[{t}]]",
                "[[#Own heading]]",
                f"`[[{t}]]`",
                f"\n\n```\ncode [[{t}]]\n```\n\n",
                f"\n\n    indented [[{t}]]\n\n",
                f"\n\n| a | [[{t}\\|in a table]] |\n| - | - |\n\n",
                f"[a markdown link]({quote(t)})",
                f"[to a heading]({quote(t)}#Some%20heading)",
                f"[in brackets](<{t}>)",
                f"`[in code]({quote(t)})`",
                "[external](https://example.com/Note%201.md)",
                "[mail](mailto:someone@example.com)",
                "[anchor](#Own%20heading)",
                "plain words",
                "#tag",
            ]
        )

    for path in paths:
        body = " ".join(segment() for _ in range(rng.randrange(3, 15)))
        file = root / f"{path}.md"
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(f"# {path}\n\n{body}\n", encoding="utf-8")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_link_graph_matches_obsidiantools(tmp_path: Path, seed: int) -> None:
    obsidiantools = pytest.importorskip("obsidiantools.api")
    root = tmp_path / "vault"
    _generate(root, notes=40, seed=seed)
    theirs = obsidiantools.Vault(root).connect()
    ours = Vault(root)
    stems = {info.name.rpartition("/")[2]: info.name for info in ours.notes()}
    assert set(theirs.md_file_index) == set(stems)

    for stem, name in stems.items():
        refs = ours.links(name)
        wikilinks = [ref.written.removesuffix(".md") for ref in refs if not ref.embed and ref.style == "wiki"]
        embeds = [ref.written for ref in refs if ref.embed and ref.style == "wiki"]
        assert wikilinks == theirs.wikilinks_index[stem], name
        assert embeds == theirs.embedded_files_index[stem], name
        markdown = [ref.written + (f"#{ref.fragment}" if ref.fragment else "") for ref in refs if ref.style != "wiki"]
        internal = [unquote(link) for link in theirs.md_links_index[stem] if not _EXTERNAL.match(link)]
        assert markdown == internal, name

    # obsidiantools keeps targets as written; resolve them by (unique) file name to compare.
    by_folded = {stem.casefold(): name for stem, name in stems.items()}
    linked = list(theirs.graph.edges())
    linked += [(source, target) for source, targets in theirs.embedded_files_index.items() for target in targets]
    linked += [
        (source, unquote(link).partition("#")[0])
        for source, links in theirs.md_links_index.items()
        for link in links
        if not _EXTERNAL.match(link)
    ]
    expected = Counter(
        (stems[source], by_folded[target.removesuffix(".md").rpartition("/")[2].casefold()])
        for source, target in linked
        if target and target.removesuffix(".md").rpartition("/")[2].casefold() in by_folded
    )
    got = Counter({(source, target): count for source, target, count in ours.graph().edges})
    assert got == expected
    assert sum(got.values()) > 100
    ours.close()
