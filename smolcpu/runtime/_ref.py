"""``UnitRef``: the plain, picklable address of a unit, and the verbs to reach it.

A ref is only a name and the address of the actor system (or link to it) that knows the
name, so it can be stored in an artifact's metadata, pickled, or handed to a worker process.
Each verb resolves it at the moment of use through the routers registered in this process.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Protocol

from smolcpu import config
from smolcpu.errors import RequestTimeout, UnitStopped
from smolcpu.runtime._mailbox import Envelope, FutureReply, StreamReply

if TYPE_CHECKING:
    from smolcpu.artifact import Artifact


class Router(Protocol):
    """What an address resolves to: an actor system in this process, or a link to another."""

    def try_deliver(self, name: str, envelope: Envelope) -> bool: ...

    async def deliver(self, name: str, envelope: Envelope, *, timeout: float) -> None: ...

    async def stop_unit(self, name: str, *, drain: bool) -> None: ...

    async def subscribe(self, name: str, subscriber: UnitRef) -> None: ...

    def pid_of(self, name: str) -> int: ...

    def is_idle(self, name: str) -> bool: ...


ROUTERS: dict[str, Router] = {}
"""Address → router, for every actor system and link alive in this process."""

log = logging.getLogger("smolcpu.runtime")

CURRENT: contextvars.ContextVar[UnitRef | None] = contextvars.ContextVar("smol_unit", default=None)
"""The unit whose task is running: it is the sender of what that task sends."""


def _router(address: str, name: str) -> Router:
    router = ROUTERS.get(address)
    if router is None:
        raise UnitStopped(f"unit {name!r} is unreachable: its actor system ({address}) is gone")
    return router


def _expire(future: asyncio.Future[Artifact], name: str, artifact: Artifact, deadline: float) -> None:
    if not future.done():
        future.set_exception(
            RequestTimeout(f"unit {name!r} did not reply to artifact {artifact.id} within {deadline}s")
        )


@dataclasses.dataclass(frozen=True, slots=True)
class UnitRef:
    """The address of a unit: ``await ref.send(a)``, ``await ref.request(a)``, ``await ref.stop()``."""

    name: str
    address: str

    @property
    def pid(self) -> int:
        """The process the unit lives in now (a worker's pid changes when it is restarted)."""
        return _router(self.address, self.name).pid_of(self.name)

    @property
    def busy(self) -> bool:
        """Whether the unit has an artifact in hand, queued mail or a request not yet answered.

        Raises:
            UnitStopped: the unit is not running (or its system is gone).
        """
        return not _router(self.address, self.name).is_idle(self.name)

    async def send(self, artifact: Artifact, *, timeout: float | None = None) -> None:
        """Fire and forget; waits only while the unit's mailbox is full (back-pressure).

        Mail to a stopped unit goes to the dead letters (logged and counted), not an error.

        Raises:
            RequestTimeout: the mailbox stayed full for ``timeout`` seconds.
        """
        router = ROUTERS.get(self.address)
        if router is None:
            log.info("dead letter: artifact %s to unit %r of a system that is gone", artifact.id, self.name)
            return
        envelope = Envelope(CURRENT.get(), artifact)
        if not router.try_deliver(self.name, envelope):
            await router.deliver(
                self.name, envelope, timeout=config.REQUEST_TIMEOUT_S if timeout is None else timeout
            )

    async def request(self, artifact: Artifact, *, timeout: float | None = None) -> Artifact:
        """Send ``artifact`` and wait for the reply; a failure comes back as an error artifact.

        Cancelling the wait abandons the request: a unit in a worker process stops working on it.

        Raises:
            UnitStopped: the unit is stopped or was never there.
            RequestTimeout: no reply within ``timeout`` seconds (default ``config.REQUEST_TIMEOUT_S``).
        """
        deadline = config.REQUEST_TIMEOUT_S if timeout is None else timeout
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Artifact] = loop.create_future()
        router = _router(self.address, self.name)
        envelope = Envelope(CURRENT.get(), artifact, FutureReply(future))
        if not router.try_deliver(self.name, envelope):
            await router.deliver(self.name, envelope, timeout=deadline)
        if future.done():
            return future.result()
        expiry = loop.call_later(deadline, _expire, future, self.name, artifact, deadline)
        try:
            return await future
        finally:
            expiry.cancel()

    async def stream(self, artifact: Artifact, *, timeout: float | None = None) -> AsyncIterator[Artifact]:
        """Send ``artifact`` and yield each part the unit emits, then its final reply.

        ``timeout`` bounds the wait for each next part, not the whole stream. Leaving early
        (closing the iterator, being cancelled) abandons the request: a unit in a worker
        process stops working on it.

        Raises:
            UnitStopped: the unit is stopped or was never there.
            RequestTimeout: no next part within ``timeout`` seconds.
        """
        deadline = config.REQUEST_TIMEOUT_S if timeout is None else timeout
        reply = StreamReply()
        router = _router(self.address, self.name)
        await router.deliver(self.name, Envelope(CURRENT.get(), artifact, reply), timeout=deadline)
        try:
            while True:
                try:
                    async with asyncio.timeout(deadline):
                        part, final = await reply.queue.get()
                except TimeoutError:
                    raise RequestTimeout(
                        f"unit {self.name!r} sent nothing for artifact {artifact.id} within {deadline}s"
                    ) from None
                yield part
                if final:
                    return
        finally:
            reply.abandon()  # left early (closed, cancelled, timed out): the unit may stop making it

    async def stop(self) -> None:
        """Stop now: the artifact in hand is cancelled, queued requests get error artifacts."""
        router = ROUTERS.get(self.address)
        if router is not None:
            await router.stop_unit(self.name, drain=False)

    async def poison(self) -> None:
        """Stop once the mail already queued has been handled."""
        router = ROUTERS.get(self.address)
        if router is not None:
            await router.stop_unit(self.name, drain=True)

    def __repr__(self) -> str:
        return f"<UnitRef {self.name!r} @ {self.address}>"


__all__ = ["CURRENT", "ROUTERS", "Router", "UnitRef"]
