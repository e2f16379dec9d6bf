"""The benchmark's Smol units (top-level, so a worker process can import them)."""

from __future__ import annotations

from typing import Any

from smolcpu.artifact import Artifact
from smolcpu.runtime import Unit


class Pong(Unit):
    """Replies with what it got."""

    async def handle(self, ctx: Any, sender: Any, artifact: Artifact) -> Artifact:
        return artifact


class Ping(Unit):
    """Asked with the text N, asks ``pong`` N times in a row, then replies."""

    async def init(self, ctx: Any) -> None:
        self.pong = next(ref for ref in ctx.units() if ref.name == "pong")

    async def handle(self, ctx: Any, sender: Any, artifact: Artifact) -> Artifact:
        pong = self.pong
        for _ in range(int(artifact.as_text())):
            await pong.request(artifact)
        return artifact


class FreshPing(Ping):
    """Like :class:`Ping`, but each request is a new artifact (so recording has work to do)."""

    async def handle(self, ctx: Any, sender: Any, artifact: Artifact) -> Artifact:
        pong = self.pong
        for _ in range(int(artifact.as_text())):
            await pong.request(artifact.derive(b"ping"))
        return artifact
