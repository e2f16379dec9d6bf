"""The memory unit: named memories as markdown notes in an Obsidian vault (concept/000).

Send it a JSON object naming an operation and its arguments, for example
``{"op": "write", "name": "projects/Smol", "text": "..."}``, ``{"op": "search", "query":
"budget"}`` or ``{"op": "rename", "name": "Old", "new_name": "New"}``; it answers with
JSON. A mistake (a missing note, an ambiguous name) comes back as an error artifact
that says what to do instead.

Search is hybrid (words and meaning) when the embedder can run: through a running unit
named ``embed`` (in its worker process) if the actor system has one, else with the
installed MiniLM model loaded in this process; otherwise it is full text and says so.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from smolcpu.artifact import JSON, Artifact
from smolcpu.errors import UnitError, UsageError
from smolcpu.units._glue import question_of
from smolcpu.units._registry import register
from smolcpu.units._tool import Tool, ToolFailed
from smolcpu.units.tools._memory_hybrid import EMBED_MODEL, MODES, MemorySearch
from smolcpu.units.tools._memory_vault import Vault

Operation = Callable[["MemoryTool", dict[str, Any]], Any]
EMBED_UNIT = "embed"
"""A running unit with this name (or ``*.embed``, as the Lifecycle names it) embeds for hybrid search."""

_OPS: dict[str, tuple[tuple[str, ...], Operation]] = {
    "write": (("name", "text"), lambda tool, a: tool.vault.write(a["name"], a["text"])),
    "read": (("name",), lambda tool, a: tool.vault.read(a["name"])),
    "delete": (("name",), lambda tool, a: {"deleted": tool.vault.delete(a["name"])}),
    "rename": (("name", "new_name"), lambda tool, a: tool.vault.rename(a["name"], a["new_name"])),
    "list": ((), lambda tool, a: {"notes": tool.vault.notes(tag=a.get("tag"))}),
    "search": (("query",), lambda tool, a: tool.search(a)),
    "links": (("name",), lambda tool, a: {"links": tool.vault.links(a["name"])}),
    "backlinks": (("name",), lambda tool, a: {"links": tool.vault.backlinks(a["name"])}),
    "unresolved": ((), lambda tool, a: {"links": tool.vault.unresolved()}),
    "graph": ((), lambda tool, a: tool.vault.graph()),
    "rebuild": ((), lambda tool, a: tool.vault.rebuild()),
}
"""Each operation: the arguments it needs, and what it does with the tool's vault."""


TEXT_OPS = ("search", "write")
"""What a memory unit made with ``op`` does with plain text."""


def _title(text: str) -> str:
    """A note name from the first words of what to remember (no characters a path forbids)."""
    words = re.sub(r"[^\w\s-]", "", text).split()[:8]
    return " ".join(words) or "note"


def _plain(value: Any) -> Any:
    """JSON for what ``json`` does not know: dataclasses as dicts, YAML dates as ISO text."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return str(value)


@register
class MemoryTool(Tool):
    """Named memories: markdown notes with Obsidian links, tags and full-text search."""

    name: ClassVar[str] = "memory"
    description: ClassVar[str] = (
        "Named memories as markdown notes with [[wikilinks]] or [markdown](links.md) and #tags (an Obsidian vault). "
        "op with its arguments is one of: "
        + ", ".join(f"{op}({', '.join(needs)})" for op, (needs, _) in _OPS.items())
        + "; list also takes tag, search also takes limit and mode (text, hybrid or auto)."
    )
    inputs: ClassVar[dict[str, dict[str, Any]]] = {
        "op": {"type": "string", "description": f"the operation: {', '.join(_OPS)}"},
        "name": {"type": "string", "description": "the note, like 'projects/Smol'", "nullable": True},
        "text": {"type": "string", "description": "the note's whole markdown (write)", "nullable": True},
        "new_name": {"type": "string", "description": "the note's new name (rename)", "nullable": True},
        "query": {"type": "string", "description": "words to look for (search)", "nullable": True},
        "limit": {"type": "integer", "description": "at most this many hits (search)", "nullable": True},
        "tag": {"type": "string", "description": "only notes with this tag (list)", "nullable": True},
        "mode": {
            "type": "string",
            "description": f"search by words, by words and meaning, or hybrid when it can ({', '.join(MODES)})",
            "nullable": True,
        },
    }
    output: ClassVar[str] = JSON

    def __init__(self, *, vault: str | Path | None = None, model: str | Path = EMBED_MODEL, op: str | None = None) -> None:
        if op not in (None, *TEXT_OPS):
            raise UsageError(f"memory's op parameter (what plain text asks for) is one of {', '.join(TEXT_OPS)}")
        self.op = op
        self._root = vault
        self._model = model
        self._vault: Vault | None = None
        self._search: MemorySearch | None = None

    def arguments(self, artifact: Artifact) -> dict[str, Any]:
        """A JSON object names its op; plain text (a question, what to remember) is the op the
        unit was made with: ``search`` looks the text up, ``write`` keeps it as a note."""
        if self.op is None or artifact.type == JSON:
            return super().arguments(artifact)
        text = question_of(artifact).strip()
        if self.op == "search":
            return {"op": "search", "query": text}
        return {"op": "write", "name": "Remembered/" + _title(text), "text": text + "\n"}

    @property
    def vault(self) -> Vault:
        """The vault, opened on first use (``config.memory_dir()`` unless given)."""
        if self._vault is None:
            self._vault = Vault(self._root)
        return self._vault

    async def init(self, ctx: Any) -> None:
        units = ctx.units() if ctx is not None else []
        embed = next((ref for ref in units if ref.name.rpartition(".")[2] == EMBED_UNIT), None)
        if embed is not None:
            from smolcpu.units.stores import embedder_of

            self._search = MemorySearch(self.vault, embedder=embedder_of(embed, asyncio.get_running_loop()))
        await self.setup()

    async def setup(self) -> None:
        await asyncio.to_thread(lambda: self.vault.sync())

    def search(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """The search op: hybrid or full text as ``mode`` asks (see :class:`MemorySearch`)."""
        if self._search is None:
            self._search = MemorySearch(self.vault, model=self._model)
        found = self._search.search(
            arguments["query"], mode=arguments.get("mode", "auto"), limit=arguments.get("limit", 10)
        )
        return {"hits": found.hits, "mode": found.mode} | ({"note": found.note} if found.note else {})

    async def forward(self, op: str, **arguments: Any) -> Any:
        if op not in _OPS:
            raise UsageError(f"memory has no op {op!r}; use one of {', '.join(_OPS)}")
        needs, operation = _OPS[op]
        missing = [name for name in needs if arguments.get(name) is None]
        if missing:
            raise UsageError(f"memory op {op!r} needs {' and '.join(repr(m) for m in missing)}")
        given = {key: value for key, value in arguments.items() if value is not None}
        try:
            result = await asyncio.to_thread(operation, self, given)
        except OSError as exc:
            raise ToolFailed(f"memory {op} failed in the vault at {self.vault.root}: {exc}") from exc
        except UnitError as exc:
            raise ToolFailed(f"memory {op} failed: {exc}; try mode 'text'") from exc
        return json.loads(json.dumps(result, default=_plain))


__all__ = ["MemoryTool"]
