"""The neural units in worker processes, as a program runs them: models from the registry."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import psutil
import pytest

from smolcpu.artifact import BYTES, Artifact
from smolcpu.runtime import ActorSystem
from smolcpu.units.stores import LocalVectors, MemoryVectors, embedder_of
from smolcpu.units.tools import Vault
from tests.units.onnx_models import BEAR, EFFICIENTNET, MINILM, YOLOX, model_file

PHOTO = BEAR
WORKER_RSS_LIMIT = 400 * 1024**2
"""A worker holding one of these models stays far below the 2 GB budget."""

pytestmark = pytest.mark.slow  # the workers load the installed models, from the cache


@pytest.fixture
def models() -> None:
    """The three ONNX models, installed as ``smol models install`` does (else the test is skipped)."""
    for name in (EFFICIENTNET, YOLOX, MINILM):
        model_file(name)


async def ask_workers() -> dict[str, tuple[Artifact, int]]:
    photo = Artifact.create(PHOTO.read_bytes(), type=BYTES)
    requests = {
        "smolcpu.units.neural:Classify": photo,
        "smolcpu.units.neural:Detect": photo,
        "smolcpu.units.neural:Embed": Artifact.text("a brown bear in the grass"),
    }
    answers = {}
    async with ActorSystem(record=False) as system:
        for factory, request in requests.items():
            name = factory.rsplit(":", 1)[1].lower()
            ref = await system.spawn(name, factory, process=True)
            assert ref.pid != os.getpid()
            reply = await ref.request(request, timeout=60)
            answers[name] = (reply, psutil.Process(ref.pid).memory_info().rss)
    return answers


def test_vision_and_embed_units_answer_from_worker_processes(models: None) -> None:
    answers = asyncio.run(ask_workers())
    classified, detected, embedded = (answers[name][0] for name in ("classify", "detect", "embed"))
    assert not classified.is_error, classified.error_message
    assert classified.as_json()[0]["label"] == "brown bear"
    assert detected.as_json()[0]["label"] == "bear"
    assert len(embedded.as_json()["vector"]) == 384
    rss = {name: rss for name, (_, rss) in answers.items()}
    print("worker RSS MB:", json.dumps({name: round(value / 1024**2) for name, value in rss.items()}))
    assert all(value < WORKER_RSS_LIMIT for value in rss.values()), rss


async def search_memory_with_a_worker_embedder(vault: Vault) -> list[str]:
    async with ActorSystem(record=False) as system:
        ref = await system.spawn("embed", "smolcpu.units.neural:Embed", process=True)
        memory = MemoryVectors(vault, LocalVectors(), embedder_of(ref, asyncio.get_running_loop()))
        hits = await asyncio.to_thread(memory.search, "sleepy kitten", limit=2)
    return [hit.name for hit in hits]


def test_hybrid_memory_search_embeds_in_a_worker(models: None, tmp_path: Path) -> None:
    vault = Vault(tmp_path / "vault")
    vault.write("pets/Cats", "Our cats nap all afternoon on the sofa.")
    vault.write("work/Budget", "Quarterly budget: revenue targets rose.")
    assert asyncio.run(search_memory_with_a_worker_embedder(vault))[0] == "pets/Cats"
