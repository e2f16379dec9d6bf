"""The identity unit: a worker that passes its input on, for wiring and placeholders.

The optimiser removes identity steps where it can; where it cannot (inside a ``select``,
say), this unit runs them.
"""

from __future__ import annotations

from typing import Any

from smolcpu.artifact import Artifact
from smolcpu.runtime import Unit
from smolcpu.units._registry import register


@register(name="identity", description="Passes its input on unchanged.")
class Identity(Unit):
    """Replies with the artifact it was given."""

    deterministic = True

    async def handle(self, ctx: Any, sender: Any, artifact: Artifact) -> Artifact:
        return artifact


__all__ = ["Identity"]
