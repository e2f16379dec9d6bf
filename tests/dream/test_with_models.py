"""Dreaming on the real models (slow): SmolLM2-135M summarises and proposes, MiniLM embeds."""

from __future__ import annotations

import asyncio

import pytest

from smolcpu.artifact import RunIndex, open_store
from smolcpu.dream._consolidate import LONG_CHARS, consolidate, llm_summariser
from smolcpu.dream._dream import default_embedder
from smolcpu.dream._improve import llm_proposer
from smolcpu.programs import Session
from smolcpu.units.tools import Vault

pytestmark = pytest.mark.slow
MODEL = "smollm2"

LONG = " ".join(f"On day {i} of the trip to Rome we visited a museum and ate pasta." for i in range(40))


def test_a_long_note_is_summarised_by_the_llm_and_kept_whole() -> None:
    embed = default_embedder()
    if embed is None:
        pytest.skip("needs MiniLM: smol models install minilm")
    vault = Vault()
    vault.write("Rome", LONG + "\n")
    assert len(LONG) > LONG_CHARS

    async def go():
        async with Session(model=MODEL, record=False) as session:
            with RunIndex() as index, open_store(index=index) as store:
                return await consolidate(vault, store, embed=embed, summarise=llm_summariser(session))

    (change,) = asyncio.run(go())
    text = vault.read("Rome").text
    assert change["change"] == "summarised" and text.startswith("> **Summary** (smol dream):")
    assert LONG in text and len(text.split("\n\n", 1)[0]) > len("> **Summary** (smol dream): ")


def test_the_llm_proposes_rewritten_instructions() -> None:
    async def go():
        async with Session(model=MODEL, record=False) as session:
            return await llm_proposer(session, count=2)("Answer with a number.")

    proposals = asyncio.run(go())
    assert len(proposals) == 2 and all(p.strip() for p in proposals)
