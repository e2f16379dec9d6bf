"""Small example units, the ones ``smol demo`` wires together.

They live in the runtime package, not beside the command, so that a worker process can
import them without loading the whole command line. Each keeps lineage: what it makes is
derived from what it got, so the run's trace is a tree from the input to the answer.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from smolcpu.artifact import Artifact
from smolcpu.runtime._unit import Unit


class Shout(Unit):
    """Upper-cases a piece of text."""

    async def handle(self, ctx: Any, sender: Any, artifact: Artifact) -> Artifact:
        return artifact.derive(artifact.as_text().upper().encode(), origin=ctx.self().name, role="worker")


class Reverse(Unit):
    """Reverses the words of a piece of text and says which process did it."""

    async def handle(self, ctx: Any, sender: Any, artifact: Artifact) -> Artifact:
        words = " ".join(reversed(artifact.as_text().split()))
        return artifact.derive(
            words.encode(),
            origin=ctx.self().name,
            role="worker",
            attributes=(*artifact.attributes, ("pid", str(os.getpid()))),
        )


class Joiner(Unit):
    """Joins a JSON list of ids of artifacts it was sent before into one text, in order."""

    def __init__(self) -> None:
        self.parts: dict[str, Artifact] = {}

    async def handle(self, ctx: Any, sender: Any, artifact: Artifact) -> Artifact | None:
        if artifact.type != "application/json":
            self.parts[artifact.id] = artifact
            return None
        parts = [self.parts.pop(part_id) for part_id in artifact.as_json()]
        return Artifact.text(
            "\n".join(part.as_text() for part in parts),
            origin=ctx.self().name,
            role="joiner",
            attributes=artifact.attributes,
            parents=parts,
        )


class Splitter(Unit):
    """Splits text into lines, has each done by a worker (alternating), and joins the results.

    The workers are the units named in ``workers``; the joiner is ``joiner``.
    """

    def __init__(self, *, workers: tuple[str, ...] = ("shout", "reverse"), joiner: str = "joiner") -> None:
        self.workers = workers
        self.joiner = joiner

    async def handle(self, ctx: Any, sender: Any, artifact: Artifact) -> Artifact:
        refs = {ref.name: ref for ref in ctx.units()}
        lines = [line for line in artifact.as_text().splitlines() if line.strip()]
        pieces = [
            artifact.derive(line.encode(), origin=ctx.self().name, role="splitter") for line in lines
        ]
        results = await asyncio.gather(
            *(refs[self.workers[i % len(self.workers)]].request(piece) for i, piece in enumerate(pieces))
        )
        joiner = refs[self.joiner]
        for result in results:
            await joiner.send(result)
        order = Artifact.json(
            [result.id for result in results],
            origin=ctx.self().name,
            role="splitter",
            attributes=artifact.attributes,
            parents=(artifact.id,),
        )
        return await joiner.request(order)


__all__ = ["Joiner", "Reverse", "Shout", "Splitter"]
