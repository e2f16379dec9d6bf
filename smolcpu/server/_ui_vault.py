"""The memory vault's endpoints: its notes, their link graph and each note's text.

The vault is the markdown folder the memory tool keeps (``config.memory_dir()``), read
afresh on each request, so notes written by a run, by ``smol memory`` or in Obsidian show
up at once.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from fastapi import APIRouter

from smolcpu.server._ui_session import ui_router
from smolcpu.units.tools import Vault


def _overview() -> dict[str, Any]:
    vault = Vault()
    try:
        notes = vault.notes()
        graph = vault.graph()
    finally:
        vault.close()
    return {
        "root": str(vault.root),
        "notes": [dataclasses.asdict(note) for note in notes],
        "edges": [{"source": source, "target": target, "count": count} for source, target, count in graph.edges],
    }


def _note(name: str) -> dict[str, Any]:
    vault = Vault()
    try:
        note = vault.read(name)
        backlinks = vault.backlinks(name)
    finally:
        vault.close()
    return {
        "name": note.name,
        "path": note.path,
        "text": note.text,
        "tags": list(note.tags),
        "problem": note.problem,
        "links": [{"target": link.target, "text": link.text} for link in note.links],
        "backlinks": sorted({link.source for link in backlinks}),
    }


def vault_router() -> APIRouter:
    """``/vault`` and ``/vault/notes/{name}``."""
    router = ui_router()

    @router.get("/vault")
    async def overview() -> dict[str, Any]:
        """Every note (name, tags, size) and the note-to-note links."""
        return await asyncio.to_thread(_overview)

    @router.get("/vault/notes/{name:path}")
    async def note(name: str) -> dict[str, Any]:
        """One note: its text, tags, the links it makes and the notes that link to it."""
        return await asyncio.to_thread(_note, name)

    return router


__all__ = ["vault_router"]
