"""A unit's mailbox, the envelope each artifact travels in, and the ways a reply goes back.

User mail is bounded: a sender waits when the mailbox is full (back-pressure), so a fast
producer cannot grow a slow unit's queue without limit. System mail (lifecycle events,
escalations) has its own unbounded lane that is always delivered first.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from smolcpu.errors import RequestTimeout, UnitStopped

if TYPE_CHECKING:
    from smolcpu.artifact import Artifact
    from smolcpu.runtime._ref import UnitRef


class Reply:
    """Where the answer to a request goes: a final artifact, and for streams, parts before it."""

    __slots__ = ()

    abandoned = False
    """Whether the requester gave up on the reply (the unit need not make it)."""

    def resolve(self, artifact: Artifact) -> None:
        """Deliver the final reply (later calls are ignored)."""
        raise NotImplementedError

    def emit(self, artifact: Artifact) -> None:
        """Deliver one part of a streamed reply (dropped by a plain request)."""


class FutureReply(Reply):
    """The reply of ``request``: a future the requester awaits."""

    __slots__ = ("future",)

    def __init__(self, future: asyncio.Future[Artifact]) -> None:
        self.future = future

    def resolve(self, artifact: Artifact) -> None:
        if not self.future.done():
            self.future.set_result(artifact)


class StreamReply(Reply):
    """The reply of ``stream``: parts and then the final artifact, in order."""

    __slots__ = ("queue", "finished", "on_abandon")

    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[Artifact, bool]] = asyncio.Queue()
        self.finished = False
        self.on_abandon: Callable[[], None] | None = None

    def abandon(self) -> None:
        """The requester stopped reading before the final reply: tell whoever makes it."""
        if not self.finished:
            self.finished = True
            if self.on_abandon is not None:
                self.on_abandon()

    def emit(self, artifact: Artifact) -> None:
        if not self.finished:
            self.queue.put_nowait((artifact, False))

    def resolve(self, artifact: Artifact) -> None:
        if not self.finished:
            self.finished = True
            self.queue.put_nowait((artifact, True))


class Envelope:
    """One artifact on its way to a unit: who sent it and, for a request, where to reply."""

    __slots__ = ("sender", "artifact", "reply")

    def __init__(self, sender: UnitRef | None, artifact: Artifact, reply: Reply | None = None) -> None:
        self.sender = sender
        self.artifact = artifact
        self.reply = reply


POISON: Any = object()
"""Put in the user lane by ``poison``: the unit stops when it reaches it, after earlier mail."""


class Mailbox:
    """A bounded user lane and an unbounded system lane, read by a single consumer."""

    __slots__ = ("capacity", "_user", "_system", "_getter", "_putters", "closed")

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("a mailbox needs room for at least one artifact")
        self.capacity = capacity
        self._user: deque[Any] = deque()
        self._system: deque[Any] = deque()
        self._getter: asyncio.Future[None] | None = None
        self._putters: deque[asyncio.Future[None]] = deque()
        self.closed = False

    def __len__(self) -> int:
        return len(self._user) + len(self._system)

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<Mailbox {state} user={len(self._user)}/{self.capacity} system={len(self._system)}>"

    def _wake_getter(self) -> None:
        getter = self._getter
        if getter is not None and not getter.done():
            getter.set_result(None)

    def put_system(self, item: Any) -> None:
        """Queue system mail; it jumps ahead of all user mail."""
        if self.closed:
            raise UnitStopped("the mailbox is closed")
        self._system.append(item)
        self._wake_getter()

    def try_put(self, item: Any) -> bool:
        """Queue user mail if there is room; False when full."""
        if self.closed:
            raise UnitStopped("the mailbox is closed")
        if len(self._user) >= self.capacity:
            return False
        self._user.append(item)
        self._wake_getter()
        return True

    async def put(self, item: Any, *, timeout: float) -> None:
        """Queue user mail, waiting up to ``timeout`` seconds for room.

        Raises:
            UnitStopped: the mailbox closed (now or while waiting).
            RequestTimeout: no room came in time.
        """
        if self.try_put(item):
            return
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                while not self.try_put(item):
                    putter = loop.create_future()
                    self._putters.append(putter)
                    try:
                        await putter
                    finally:
                        if putter in self._putters:
                            self._putters.remove(putter)
        except TimeoutError:
            raise RequestTimeout(
                f"mailbox stayed full ({self.capacity} artifacts) for {timeout}s; the unit is too slow"
            ) from None

    async def get(self) -> Any:
        """The next item: system mail first, then user mail in order."""
        while not (self._system or self._user):
            self._getter = asyncio.get_running_loop().create_future()
            try:
                await self._getter
            finally:
                self._getter = None
        if self._system:
            return self._system.popleft()
        item = self._user.popleft()
        while self._putters:
            putter = self._putters.popleft()
            if not putter.done():
                putter.set_result(None)
                break
        return item

    def close(self) -> list[Any]:
        """Refuse further mail, wake waiting senders, and return what was still queued."""
        self.closed = True
        left = [*self._system, *self._user]
        self._system.clear()
        self._user.clear()
        for putter in self._putters:
            if not putter.done():
                putter.set_result(None)
        self._putters.clear()
        return left


__all__ = ["POISON", "Envelope", "FutureReply", "Mailbox", "Reply", "StreamReply"]
