"""Units the runtime tests spawn; top-level so that worker processes can import them."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from smolcpu.artifact import Artifact
from smolcpu.runtime import Unit, UnitRef


class Upper(Unit):
    """Replies with the text upper-cased, made from the request."""

    async def handle(self, ctx: Any, sender: Any, artifact: Artifact) -> Artifact:
        return artifact.derive(artifact.as_text().upper().encode(), origin=ctx.self().name)


class Echo(Unit):
    """Replies with the artifact it got (the cheapest possible unit)."""

    async def handle(self, ctx: Any, sender: Any, artifact: Artifact) -> Artifact:
        return artifact


class Pid(Unit):
    """Replies with its process id; exits the process abruptly on 'die'."""

    async def handle(self, ctx: Any, sender: Any, artifact: Artifact) -> Artifact:
        if artifact.as_text() == "die":
            os._exit(9)
        return artifact.derive(str(os.getpid()).encode())


class Words(Unit):
    """Streams each word of the text as a part, then replies with the word count."""

    async def handle(self, ctx: Any, sender: Any, artifact: Artifact) -> Artifact:
        words = artifact.as_text().split()
        for word in words:
            ctx.emit(artifact.derive(word.encode()))
        return artifact.derive(str(len(words)).encode())


class Broken(Unit):
    """Fails in init, so spawning it fails."""

    async def init(self, ctx: Any) -> None:
        raise RuntimeError("no model file")


class Publisher(Unit):
    """Publishes every artifact it gets to its subscribers, and replies 'ok'."""

    async def handle(self, ctx: Any, sender: Any, artifact: Artifact) -> Artifact:
        await ctx.publish(artifact)
        return artifact.derive(b"ok")


class AskOracle(Unit):
    """From a worker process, asks the parent's unit 'oracle' and thanks it with a send."""

    async def handle(self, ctx: Any, sender: Any, artifact: Artifact) -> Artifact:
        oracle = UnitRef("oracle", ctx.self().address)
        answer = await oracle.request(artifact.derive(b"question"))
        await oracle.send(artifact.derive(b"thanks"))
        return answer.derive(b"oracle said " + answer.payload)


class Appender(Unit):
    """Appends the text of each artifact, as a line, to the file its 'path' attribute names."""

    async def handle(self, ctx: Any, sender: Any, artifact: Artifact) -> None:
        with open(str(artifact.attr("path")), "a") as file:
            file.write(artifact.as_text() + "\n")


class Prefixed(Unit):
    """Made with parameters (like ``llm(model=..., instruction=...)``): replies prefix + text + its pid.

    Exits the process abruptly on 'die', so a test can check a restart keeps the parameters.
    """

    def __init__(self, prefix: str, *, instruction: str = "") -> None:
        self.prefix = prefix
        self.instruction = instruction

    async def handle(self, ctx: Any, sender: Any, artifact: Artifact) -> Artifact:
        if artifact.as_text() == "die":
            os._exit(9)
        return artifact.derive(f"{self.prefix}{artifact.as_text()} {len(self.instruction)} {os.getpid()}".encode())


class Sleeper(Unit):
    """Sleeps as many seconds as the text says, then replies 'awake' (to observe a busy unit)."""

    async def handle(self, ctx: Any, sender: Any, artifact: Artifact) -> Artifact:
        await asyncio.sleep(float(artifact.as_text()))
        return artifact.derive(b"awake")


class LoopKind(Unit):
    """Replies with the module of the event loop it runs on ('uvloop' or 'asyncio...')."""

    async def handle(self, ctx: Any, sender: Any, artifact: Artifact) -> Artifact:
        return artifact.derive(type(asyncio.get_running_loop()).__module__.encode())


class Hang(Unit):
    """Replies with its process id; on 'hang', blocks a thread for an hour (work that no
    cancellation reaches, like a decoder in a loop)."""

    async def handle(self, ctx: Any, sender: Any, artifact: Artifact) -> Artifact:
        if artifact.as_text() == "hang":
            await asyncio.to_thread(time.sleep, 3600)
        return artifact.derive(str(os.getpid()).encode())


class Patient(Unit):
    """On 'wait': emits 'tick', then waits an hour (cancellably). 'count?' answers how many
    waits it began and how many were cancelled."""

    def __init__(self) -> None:
        self.begun = 0
        self.cancelled = 0

    async def handle(self, ctx: Any, sender: Any, artifact: Artifact) -> Artifact:
        if artifact.as_text() == "count?":
            return artifact.derive(f"{self.begun} {self.cancelled}".encode())
        self.begun += 1
        ctx.emit(artifact.derive(b"tick"))
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        return artifact.derive(b"waited")
