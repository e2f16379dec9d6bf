"""A real memory vault: hybrid search (words + meaning) and its link graph in the graph store."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from smolcpu.errors import UsageError
from smolcpu.units.neural import Embed
from smolcpu.units.stores import LocalGraph, LocalVectors, MemoryVectors, load_links, remote_vectors, serve
from smolcpu.units.tools import Vault
from tests.units.onnx_models import MINILM, onnx_unit

NOTES = {
    "pets/Cats": "Our cats nap all afternoon on the sofa. See [[pets/Dogs]].",
    "pets/Dogs": "The dog needs a walk twice a day and loves fetching sticks.",
    "work/Budget": "Quarterly budget: revenue targets rose, travel costs were cut. See [[work/Plan]].",
    "work/Plan": "Plan for the launch of Smol; budget owner is in [[work/Budget]].",
    "travel/Paris": "Visited the Eiffel tower and the Louvre museum in spring.",
}

embedder = onnx_unit(Embed, MINILM)


@pytest.fixture
def vault(tmp_path: Path) -> Vault:
    vault = Vault(tmp_path / "vault")
    for name, text in NOTES.items():
        vault.write(name, text)
    return vault


def test_meaning_finds_what_words_miss(vault: Vault, embedder: Embed) -> None:
    memory = MemoryVectors(vault, LocalVectors(), embedder.embed_many)
    assert memory.sync() == {"embedded": 5, "removed": 0, "notes": 5}
    assert vault.search("sleepy kitten") == []  # the words are nowhere: full text alone finds nothing
    hits = memory.search("sleepy kitten", limit=3)
    assert hits[0].name == "pets/Cats" and set(hits[0].scores) == {"vector"}
    with pytest.raises(UsageError, match="some text"):
        memory.search("   ")


def test_words_and_meaning_together_rank_first(vault: Vault, embedder: Embed) -> None:
    memory = MemoryVectors(vault, LocalVectors(), embedder.embed_many)
    hits = memory.search("budget", limit=5)
    assert {hit.name for hit in hits[:2]} == {"work/Budget", "work/Plan"}
    assert set(hits[0].scores) == {"text", "vector"}
    assert hits[0].score > hits[-1].score
    assert "**" in hits[0].snippet  # the vault's own snippet, with the matched word marked


def test_sync_follows_edits_and_deletions(vault: Vault, embedder: Embed) -> None:
    memory = MemoryVectors(vault, LocalVectors(), embedder.embed_many)
    memory.sync()
    assert memory.sync() == {"embedded": 0, "removed": 0, "notes": 5}
    vault.write("travel/Paris", "Hiking in the Alps in summer, above the glaciers.")
    stat = (vault.root / "travel/Paris.md").stat()
    os.utime(vault.root / "travel/Paris.md", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    vault.delete("pets/Dogs")
    assert memory.sync() == {"embedded": 1, "removed": 1, "notes": 4}
    assert memory.search("mountain glacier walk", limit=1)[0].name == "travel/Paris"


def test_a_global_vector_store_serves_memory_search(vault: Vault, embedder: Embed) -> None:
    with serve(LocalVectors()) as service:
        memory = MemoryVectors(vault, remote_vectors(service.url), embedder.embed_many)
        assert memory.search("sleepy kitten", limit=1)[0].name == "pets/Cats"


def test_the_vaults_link_graph_loads_into_the_graph_store(vault: Vault) -> None:
    vault.write("inbox/Orphan", "No links here.")
    graph = LocalGraph()
    assert load_links(graph, vault) == 3
    assert graph.neighbours("work/Budget") == ["work/Plan"]
    assert graph.reachable("work/Plan") == ["work/Budget"]
    assert graph.neighbours("pets/Dogs", direction="in") == ["pets/Cats"]
    assert graph.node("inbox/Orphan") == {"id": "inbox/Orphan", "kind": "note", "attrs": {}}
