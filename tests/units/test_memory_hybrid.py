"""Hybrid memory search on the real MiniLM model: a note found by meaning that full text misses."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from smolcpu.artifact import Artifact
from smolcpu.cli import app
from smolcpu.runtime import ActorSystem
from smolcpu.units.neural import Embed
from smolcpu.units.tools import MemoryTool, Vault
from tests.units.onnx_models import MINILM, model_fixture

NOTES = {
    "pets/Cats": "Our cats nap all afternoon on the sofa.",
    "work/Budget": "Quarterly budget: revenue targets rose and travel costs were cut.",
    "travel/Paris": "Visited the Eiffel tower and the Louvre museum in spring.",
}
QUERY = "sleepy kitten"
"""Means pets/Cats, and no note has either word."""

minilm = model_fixture(MINILM)


@pytest.fixture
def vault(tmp_path: Path) -> Path:
    opened = Vault(tmp_path / "vault")
    for name, text in NOTES.items():
        opened.write(name, text)
    opened.close()
    return tmp_path / "vault"


@pytest.fixture
def no_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty model cache: the embedder is not installed."""
    monkeypatch.setenv("SMOL_CACHE", str(tmp_path / "empty-cache"))


def search(tool: MemoryTool, **request: Any) -> dict[str, Any]:
    reply = asyncio.run(tool.handle(None, None, Artifact.json({"op": "search", **request})))
    assert not reply.is_error, reply.error_message
    return reply.as_json()


def test_hybrid_finds_by_meaning_what_text_misses(vault: Path, minilm: Path) -> None:
    tool = MemoryTool(vault=vault, model=minilm)
    assert search(tool, query=QUERY, mode="text") == {"hits": [], "mode": "text"}
    found = search(tool, query=QUERY, mode="hybrid", limit=2)
    assert found["mode"] == "hybrid" and "note" not in found
    best = found["hits"][0]
    assert best["name"] == "pets/Cats"
    assert set(best["scores"]) == {"vector", "fused"} and best["scores"]["fused"] == best["score"]
    both = search(tool, query="travel budget", mode="auto")["hits"][0]
    assert both["name"] == "work/Budget" and set(both["scores"]) == {"text", "vector", "fused"}
    assert (vault / ".smol" / "vectors.sqlite").is_file()


def test_auto_without_the_model_is_full_text_with_a_note(vault: Path, no_models: None) -> None:
    tool = MemoryTool(vault=vault)
    found = search(tool, query="eiffel", mode="auto")
    assert found["mode"] == "text" and [hit["name"] for hit in found["hits"]] == ["travel/Paris"]
    assert "smol models install minilm" in found["note"]
    reply = asyncio.run(tool.handle(None, None, Artifact.json({"op": "search", "query": QUERY, "mode": "hybrid"})))
    assert reply.is_error and "smol models install minilm" in reply.error_message


def test_the_tool_embeds_through_a_running_embed_unit(vault: Path, minilm: Path) -> None:
    async def scenario() -> Artifact:
        async with ActorSystem(record=False) as system:
            await system.spawn("embed", lambda: Embed(model_path=minilm))
            # a model that is not there: hybrid can only work through the embed unit
            memory = await system.spawn("memory", lambda: MemoryTool(vault=vault, model="missing.onnx"))
            return await memory.request(Artifact.json({"op": "search", "query": QUERY, "mode": "hybrid"}))

    reply = asyncio.run(scenario())
    assert not reply.is_error, reply.error_message
    assert reply.as_json()["hits"][0]["name"] == "pets/Cats"


def test_a_stopped_embed_unit_leaves_auto_with_full_text(vault: Path, minilm: Path) -> None:
    async def scenario() -> tuple[Artifact, Artifact]:
        async with ActorSystem(record=False) as system:
            embed = await system.spawn("lifecycle.embed", lambda: Embed(model_path=minilm))
            memory = await system.spawn("memory", lambda: MemoryTool(vault=vault, model="missing.onnx"))
            await embed.stop()
            auto = await memory.request(Artifact.json({"op": "search", "query": "eiffel"}))
            hybrid = await memory.request(Artifact.json({"op": "search", "query": "eiffel", "mode": "hybrid"}))
            return auto, hybrid

    auto, hybrid = asyncio.run(scenario())
    assert auto.as_json()["mode"] == "text" and "lifecycle.embed" in auto.as_json()["note"]
    assert [hit["name"] for hit in auto.as_json()["hits"]] == ["travel/Paris"]
    assert hybrid.is_error and "try mode 'text'" in hybrid.error_message


def cli(*args: str) -> str:
    result = CliRunner().invoke(app, ["memory", "search", *args], env={"COLUMNS": "200"}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_cli_modes(vault: Path, no_models: None, minilm: Path) -> None:
    model = str(minilm)
    assert "no note matches" in cli(QUERY, "--mode", "text", "--vault", str(vault))
    hybrid = cli(QUERY, "--mode", "hybrid", "--model", model, "--vault", str(vault), "-n", "1")
    assert "1 notes match (hybrid)" in hybrid and "pets/Cats" in hybrid
    fallback = cli("eiffel", "--vault", str(vault))
    assert fallback.splitlines()[0] == "full-text search only (for hybrid: smol models install minilm)"
    assert "travel/Paris" in fallback and "(text)" in fallback
