"""Several units in one worker process, so that small models share one Python.

A worker process holds 60-80 MB of Python, NumPy and runtime before its model: three small
ONNX models in three processes pay that three times. ``UnitHost`` makes the units it hosts
in its own ``init`` (each from an importable ``"module:Name"`` factory and its keyword
arguments) and hands every request to one of them. The sender says which: the host's
clients reach hosted unit ``kind`` through a front unit named ``<host name>.<kind>``
(:class:`~smolcpu.vm.Lifecycle` spawns those), so artifacts cross unchanged. The hosted
units share the host's ``ctx``.

After loading and after every request the C allocator gives back the memory it holds free
(``malloc_trim``): ONNX Runtime frees the parsed model and its scratch buffers, and glibc
would otherwise keep those pages resident for good. This module stays light (it is what
the worker imports): the hosted units bring their own libraries.
"""

from __future__ import annotations

import ctypes
from collections.abc import Mapping
from typing import Any

from smolcpu.artifact import Artifact
from smolcpu.runtime import Unit
from smolcpu.runtime._worker import import_factory


def trim_memory() -> None:
    """Return the C heap's free pages to the system (glibc only; elsewhere nothing to do)."""
    trim = getattr(ctypes.CDLL(None), "malloc_trim", None)
    if trim is not None:
        trim(0)


class UnitHost(Unit):
    """Hosts ``units`` (name → (``"module:Name"`` factory, keyword arguments)) in one process."""

    def __init__(self, *, units: Mapping[str, tuple[str, Mapping[str, Any]]]) -> None:
        self.units: dict[str, Unit] = {
            name: import_factory(factory)(**kwargs) for name, (factory, kwargs) in units.items()
        }

    def __repr__(self) -> str:
        return f"<UnitHost {sorted(self.units)}>"

    async def init(self, ctx: Any) -> None:
        for unit in self.units.values():
            await unit.init(ctx)
        trim_memory()

    async def handle(self, ctx: Any, sender: Any, artifact: Artifact) -> Artifact | None:
        prefix = f"{ctx.self().name}."
        name = sender.name.removeprefix(prefix) if sender is not None else ""
        unit = self.units.get(name)
        if unit is None:
            return Artifact.error(
                f"{ctx.self().name} hosts {', '.join(sorted(self.units))}: send to one of them through"
                f" its front unit {prefix}<name>, not from {sender.name if sender is not None else 'outside'!r}",
                kind="UsageError",
                parents=(artifact.id,),
            )
        try:
            return await unit.handle(ctx, sender, artifact)
        finally:
            trim_memory()


__all__ = ["UnitHost", "trim_memory"]
