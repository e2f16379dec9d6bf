"""The vector store: local (sqlite-vec + FTS5), global (served over HTTP), and as a unit."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from smolcpu.artifact import Artifact
from smolcpu.errors import UnitError, UsageError
from smolcpu.units._registry import create_unit
from smolcpu.units.neural import Embed
from smolcpu.units.stores import LocalVectors, Vectors, fuse, remote_vectors, serve
from tests.units.onnx_models import MINILM, onnx_unit

NOTES = {
    "cats": "Cats sleep most of the day and purr when content.",
    "dogs": "Dogs love to fetch a ball in the park.",
    "budget": "The quarterly budget review moved revenue targets up.",
    "python": "Python lists are mutable sequences; tuples are not.",
    "paris": "The Eiffel tower in Paris was finished in 1889.",
}

embedder = onnx_unit(Embed, MINILM)


def unit_vector(seed: int, dim: int = 8) -> np.ndarray:
    vector = np.random.default_rng(seed).normal(size=dim).astype(np.float32)
    return vector / np.linalg.norm(vector)


@pytest.fixture
def notes(embedder: Embed) -> LocalVectors:
    store = LocalVectors()
    vectors = embedder.embed_many(list(NOTES.values()))
    store.add_many([{"key": k, "vector": v, "text": t} for (k, t), v in zip(NOTES.items(), vectors, strict=True)])
    return store


def test_nearest_by_vector_is_exact_cosine(tmp_path: Path) -> None:
    store = LocalVectors(tmp_path / "v.sqlite", dim=8)
    vectors = {f"k{i}": unit_vector(i) for i in range(50)}
    for key, vector in vectors.items():
        store.add(key, vector, meta={"i": key})
    query = unit_vector(1000)
    expected = sorted(vectors, key=lambda key: -float(vectors[key] @ query))[:3]
    hits = store.search(query, k=3)
    assert [hit["key"] for hit in hits] == expected
    assert hits[0]["score"] == pytest.approx(float(vectors[expected[0]] @ query), abs=1e-5)
    assert hits[0]["meta"] == {"i": expected[0]}


def test_add_replaces_delete_removes_and_the_file_persists(tmp_path: Path) -> None:
    path = tmp_path / "v.sqlite"
    store = LocalVectors(path, dim=8)
    store.add("a", unit_vector(1), text="first")
    store.add("a", unit_vector(2), text="second")
    store.add("b", unit_vector(3))
    assert store.count() == 2
    assert store.get("a")["text"] == "second"
    assert np.allclose(store.get("a")["vector"], unit_vector(2))
    assert store.delete("b") and not store.delete("b")
    store.close()
    again = LocalVectors(path, dim=8)
    assert again.count() == 1 and again.search(unit_vector(2), k=5)[0]["key"] == "a"
    with pytest.raises(UsageError, match="holds 8-d vectors"):
        LocalVectors(path, dim=384)


def test_wrong_vectors_and_queries_are_refused() -> None:
    store = LocalVectors(dim=8)
    with pytest.raises(UsageError, match="8 finite numbers"):
        store.add("x", [1.0, 2.0])
    with pytest.raises(UsageError, match="8 finite numbers"):
        store.add("x", [float("nan")] * 8)
    with pytest.raises(UsageError, match="needs a vector"):
        store.search(text="  ?! ")
    with pytest.raises(UsageError, match="k must be"):
        store.search(unit_vector(0), k=0)


def test_search_by_meaning_and_by_words(notes: LocalVectors, embedder: Embed) -> None:
    assert notes.search(embedder.embed("kittens napping"), k=1)[0]["key"] == "cats"
    assert notes.search(text="Eiffel", k=5)[0]["key"] == "paris"
    assert notes.search(text='revenue AND (targets" OR NOT', k=5)[0]["key"] == "budget"  # no FTS syntax errors


def test_hybrid_search_fuses_words_and_meaning(notes: LocalVectors, embedder: Embed) -> None:
    query = "puppy playing fetch"
    hits = notes.search(embedder.embed(query), text="ball park", k=3)
    assert hits[0]["key"] == "dogs"
    expected = fuse(
        [hit["key"] for hit in notes.search(embedder.embed(query), k=3)],
        [hit["key"] for hit in notes.search(text="ball park", k=3)],
    )
    assert hits[0]["score"] == pytest.approx(expected["dogs"], abs=1e-6)


def test_reciprocal_rank_fusion_rewards_agreement() -> None:
    scores = fuse(["a", "b", "c"], ["b", "c"])
    assert max(scores, key=scores.get) == "b"
    assert scores["a"] == pytest.approx(1 / 61)


def test_global_store_serves_the_same_api(notes: LocalVectors, embedder: Embed) -> None:
    query = embedder.embed("money and targets")
    with serve(notes) as service:
        remote = remote_vectors(service.url)
        assert remote.count() == notes.count() == 5
        assert remote.search(query, k=2) == notes.search(query, k=2)
        remote.add("new", embedder.embed("a new note about taxes"), text="taxes", meta={"by": "remote"})
        assert notes.get("new")["meta"] == {"by": "remote"}
        with pytest.raises(UsageError, match="k must be"):
            remote.search(query, k=0)
        with pytest.raises(UsageError, match="bad arguments"):
            remote.search(query, limit=3)
    with pytest.raises(UnitError, match="not reachable"):
        remote.count()


def test_vectors_unit_runs_store_operations(tmp_path: Path) -> None:
    unit = create_unit("vectors", path=tmp_path / "unit.sqlite")
    assert isinstance(unit, Vectors) and unit.store.dimensions() == 384
    added = asyncio.run(
        unit.handle(None, None, Artifact.json({"op": "add", "args": {"key": "k", "vector": [0.5] * 384, "text": "hi"}}))
    )
    assert not added.is_error
    found = asyncio.run(unit.handle(None, None, Artifact.json({"op": "search", "args": {"text": "hi"}})))
    assert found.as_json()[0]["key"] == "k"
    wrong = asyncio.run(unit.handle(None, None, Artifact.json({"op": "drop_table"})))
    assert wrong.is_error and "no operation 'drop_table'" in wrong.error_message


def test_vectors_unit_defaults_to_a_file_under_smol_home(smol_home: Path) -> None:
    unit = Vectors()
    unit.store.add("k", [0.1] * 384)
    assert (smol_home / "vectors.sqlite").is_file()
