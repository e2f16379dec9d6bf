"""Memory consolidation: duplicates merged, related notes linked, long notes summarised;
every change an artifact, undoable, and no note's content lost."""

from __future__ import annotations

import asyncio

import numpy as np

from smolcpu.artifact import RunIndex, open_store
from smolcpu.dream._consolidate import LONG_CHARS, consolidate, undo_consolidation
from smolcpu.testing import vectors_of
from smolcpu.units.tools import Vault

LONG = "The garden plan. " + " ".join(f"Row {i} holds beans and onions." for i in range(80))


def embed(texts: list[str]) -> np.ndarray:
    return np.asarray(vectors_of(texts), dtype=np.float32)


async def summarise(text: str) -> str:
    return "Rows of beans and onions."


def vault_with_notes() -> Vault:
    vault = Vault()
    vault.write("Bike", "My bike lock code is 4711.\n")
    vault.write("Bike again", "my bike lock code is 4711.\n")
    vault.write("Tomatoes", "Tomatoes in the greenhouse need water every morning in summer.\n")
    vault.write("Greenhouse", "Tomatoes in the greenhouse need water every morning, and shade in summer.\n")
    vault.write("Garden plan", LONG + "\n")
    vault.write("Taxes", "File the tax return by July.\n")
    return vault


def run(vault: Vault):
    with RunIndex() as index, open_store(index=index) as store:
        return asyncio.run(consolidate(vault, store, embed=embed, summarise=summarise))


def test_consolidation_merges_links_and_summarises_without_losing_a_word() -> None:
    vault = vault_with_notes()
    before = {n.name: vault.read(n.name).text for n in vault.notes()}
    changes = run(vault)
    kinds = {(c["note"], c["change"]) for c in changes}
    assert ("Bike again", "merged away") in kinds and ("Tomatoes", "linked") in kinds
    assert ("Greenhouse", "linked") in kinds and ("Garden plan", "summarised") in kinds
    assert not any(c["note"] == "Taxes" for c in changes)
    assert vault.read("Bike again").text.startswith("Merged into [[Bike]]")
    assert "[[Greenhouse]]" in vault.read("Tomatoes").text and "[[Tomatoes]]" in vault.read("Greenhouse").text
    garden = vault.read("Garden plan").text
    assert garden.startswith("> **Summary** (smol dream): Rows of beans") and LONG in garden and len(LONG) > LONG_CHARS
    every = " ".join(vault.read(n.name).text for n in vault.notes()).lower()
    assert all(" ".join(text.lower().split()) in " ".join(every.split()) for text in before.values())
    assert run(vault) == []  # a second pass finds nothing more to do


def test_a_consolidation_is_undone_except_where_the_user_edited_since() -> None:
    vault = vault_with_notes()
    before = {n.name: vault.read(n.name).text for n in vault.notes()}
    run(vault)
    vault.write("Tomatoes", "My own words now.\n")
    with RunIndex() as index, open_store(index=index) as store:
        said = undo_consolidation(vault, store)
        assert undo_consolidation(vault, store) == []
    assert "left Tomatoes: edited since it was linked" in said
    after = {n.name: vault.read(n.name).text for n in vault.notes()}
    assert {k: v for k, v in after.items() if k != "Tomatoes"} == {k: v for k, v in before.items() if k != "Tomatoes"}
