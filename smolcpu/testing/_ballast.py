"""Ballast: a fake model unit whose "model" is a known number of resident megabytes.

Lifecycle tests run it in worker processes to check memory accounting, eviction and the
budget without a real model. Requests: ``"crash"`` kills the process (as a segfaulting
model would), ``"sleep S"`` keeps it busy for S seconds, anything else is answered with
``{"pid": ..., "mb": ...}``.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any, ClassVar

from smolcpu.artifact import Artifact
from smolcpu.runtime import Unit

PAGE = 4096


class Ballast(Unit):
    """Holds ``MB`` megabytes resident from ``init`` on (every page written, so it counts)."""

    MB: ClassVar[int] = 64

    def __init__(self) -> None:
        self.ballast = bytearray()

    async def init(self, ctx: Any) -> None:
        size = self.MB * 1024**2
        self.ballast = bytearray(size)
        self.ballast[::PAGE] = b"\x01" * (size // PAGE)

    async def handle(self, ctx: Any, sender: Any, artifact: Artifact) -> Artifact:
        text = artifact.as_text()
        if text == "crash":
            os._exit(9)
        if text.startswith("sleep "):
            await asyncio.sleep(float(text.split()[1]))
        return Artifact.json({"pid": os.getpid(), "mb": self.MB}, parents=(artifact.id,))


class BigBallast(Ballast):
    """A larger fake model, for checks where one unit must be bigger than the others."""

    MB = 192


__all__ = ["Ballast", "BigBallast"]
