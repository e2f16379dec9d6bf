"""The memory unit: named memories as markdown notes in an Obsidian vault (concept/000).

Send it a JSON object naming an operation and its arguments, for example
``{"op": "write", "name": "projects/Smol", "text": "..."}``, ``{"op": "search", "query":
"budget"}`` or ``{"op": "rename", "name": "Old", "new_name": "New"}``; it answers with
JSON. A mistake (a missing note, an ambiguous name) comes back as an error artifact
that says what to do instead.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from smolcpu.artifact import JSON
from smolcpu.errors import UsageError
from smolcpu.units._registry import register
from smolcpu.units._tool import Tool, ToolFailed
from smolcpu.units.tools._memory_vault import Vault

Operation = Callable[[Vault, dict[str, Any]], Any]

_OPS: dict[str, tuple[tuple[str, ...], Operation]] = {
    "write": (("name", "text"), lambda vault, a: vault.write(a["name"], a["text"])),
    "read": (("name",), lambda vault, a: vault.read(a["name"])),
    "delete": (("name",), lambda vault, a: {"deleted": vault.delete(a["name"])}),
    "rename": (("name", "new_name"), lambda vault, a: vault.rename(a["name"], a["new_name"])),
    "list": ((), lambda vault, a: {"notes": vault.notes(tag=a.get("tag"))}),
    "search": (("query",), lambda vault, a: {"hits": vault.search(a["query"], limit=a.get("limit", 10))}),
    "links": (("name",), lambda vault, a: {"links": vault.links(a["name"])}),
    "backlinks": (("name",), lambda vault, a: {"links": vault.backlinks(a["name"])}),
    "unresolved": ((), lambda vault, a: {"links": vault.unresolved()}),
    "graph": ((), lambda vault, a: vault.graph()),
    "rebuild": ((), lambda vault, a: vault.rebuild()),
}
"""Each operation: the arguments it needs, and what it does to the vault."""


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
        "Named memories as markdown notes with [[wikilinks]] and #tags (an Obsidian vault). "
        "op with its arguments is one of: "
        + ", ".join(f"{op}({', '.join(needs)})" for op, (needs, _) in _OPS.items())
        + "; list also takes tag, search also takes limit."
    )
    inputs: ClassVar[dict[str, dict[str, Any]]] = {
        "op": {"type": "string", "description": f"the operation: {', '.join(_OPS)}"},
        "name": {"type": "string", "description": "the note, like 'projects/Smol'", "nullable": True},
        "text": {"type": "string", "description": "the note's whole markdown (write)", "nullable": True},
        "new_name": {"type": "string", "description": "the note's new name (rename)", "nullable": True},
        "query": {"type": "string", "description": "words to look for (search)", "nullable": True},
        "limit": {"type": "integer", "description": "at most this many hits (search)", "nullable": True},
        "tag": {"type": "string", "description": "only notes with this tag (list)", "nullable": True},
    }
    output: ClassVar[str] = JSON

    def __init__(self, *, vault: str | Path | None = None) -> None:
        self._root = vault
        self._vault: Vault | None = None

    @property
    def vault(self) -> Vault:
        """The vault, opened on first use (``config.memory_dir()`` unless given)."""
        if self._vault is None:
            self._vault = Vault(self._root)
        return self._vault

    async def setup(self) -> None:
        await asyncio.to_thread(lambda: self.vault.sync())

    async def forward(self, op: str, **arguments: Any) -> Any:
        if op not in _OPS:
            raise UsageError(f"memory has no op {op!r}; use one of {', '.join(_OPS)}")
        needs, operation = _OPS[op]
        missing = [name for name in needs if arguments.get(name) is None]
        if missing:
            raise UsageError(f"memory op {op!r} needs {' and '.join(repr(m) for m in missing)}")
        given = {key: value for key, value in arguments.items() if value is not None}
        try:
            result = await asyncio.to_thread(operation, self.vault, given)
        except OSError as exc:
            raise ToolFailed(f"memory {op} failed in the vault at {self.vault.root}: {exc}") from exc
        return json.loads(json.dumps(result, default=_plain))


__all__ = ["MemoryTool"]
