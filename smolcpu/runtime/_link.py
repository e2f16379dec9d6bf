"""A link between the runtime and a worker process: framed Cap'n Proto artifacts on a socket.

A frame is a fixed header (size of the rest, kind, correlation id, target and sender name
lengths), the target unit's name, the sender's name, and the artifact's Cap'n Proto bytes
(absent for control frames). A request's correlation id comes back on zero or more PART
frames (a reply streamed as it is made, e.g. tokens) and exactly one REPLY frame, unless the
requester gives up first: then a CANCEL frame with that id tells the far side to stop (the
unit's work on it is cancelled, or it is dropped from the mailbox) and no reply comes.

Both ends run the same :class:`Link`: each is the router for the units on the other side
(so a :class:`UnitRef` works across the socket in either direction) and delivers what
arrives to its own actor system.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import itertools
import logging
import socket
import struct
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, cast

from smolcpu import config
from smolcpu.artifact import Artifact
from smolcpu.errors import ArtifactError, RequestTimeout, SmolError, UnitStopped
from smolcpu.runtime._mailbox import Envelope, FutureReply, Reply, StreamReply
from smolcpu.runtime._ref import UnitRef

if TYPE_CHECKING:
    from smolcpu.runtime._system import ActorSystem

log = logging.getLogger("smolcpu.runtime")

HEADER = struct.Struct("<IBQHH")
"""Bytes after the header, kind, correlation id, target name length, sender name length."""

WRITE_BUFFER_LIMIT = 1 << 20
"""Bytes queued for the socket beyond which a sender waits (back-pressure across processes)."""

CORK_FRAMES = 64
"""Frames held for one system call at most; past it they go out at once (a sender that
never yields to the event loop must still reach the socket and feel its back-pressure)."""


class Kind(enum.IntEnum):
    """What a frame carries."""

    SEND = 1
    REQUEST = 2
    PART = 3
    REPLY = 4
    PUBLISH = 5
    SUBSCRIBE = 6
    POISON = 7
    STOP = 8
    READY = 9
    FAILED = 10
    CANCEL = 11


def encode(kind: Kind, *, corr: int = 0, target: str = "", sender: str = "", artifact: Artifact | None = None) -> bytes:
    """One frame as bytes."""
    target_bytes = target.encode()
    sender_bytes = sender.encode()
    body = artifact.to_bytes() if artifact is not None else b""
    size = len(target_bytes) + len(sender_bytes) + len(body)
    return b"".join(
        (HEADER.pack(size, kind, corr, len(target_bytes), len(sender_bytes)), target_bytes, sender_bytes, body)
    )


class _LinkReply(Reply):
    """The reply to a request that came over the link: written back as PART/REPLY frames
    (none once the requester has abandoned it with a CANCEL frame)."""

    __slots__ = ("link", "corr", "done", "abandoned")

    def __init__(self, link: Link, corr: int) -> None:
        self.link = link
        self.corr = corr
        self.done = False
        self.abandoned = False

    def emit(self, artifact: Artifact) -> None:
        if not self.done:
            self.link.write(Kind.PART, corr=self.corr, artifact=artifact)

    def resolve(self, artifact: Artifact) -> None:
        if not self.done:
            self.done = True
            self.link.serving.pop(self.corr, None)
            self.link.write(Kind.REPLY, corr=self.corr, artifact=artifact)


Handler = Callable[[str, str, "Artifact | None"], "Awaitable[None] | None"]
"""A control-frame handler: plain (done at once) or a coroutine (reading waits for it)."""


class Link(asyncio.Protocol):
    """One end of the socket: router for the far side, deliverer for this side.

    Frames are parsed as they arrive and handled synchronously when they can be (a reply
    resolves its future, mail goes into a mailbox with room). When one must wait (a full
    mailbox, an async handler), reading pauses until it is done, which keeps frames in order
    and pushes back on the far side through the socket.

    Args:
        local: the actor system that what arrives is delivered to.
        address: the address the far side's units are known by here (the parent system's).
        handlers: what to do with control frames (READY, FAILED, PUBLISH, POISON, STOP).
        remote_pid: the process on the other end.
        on_expired: called with the unit's name when a request to the far side passes its
            deadline unanswered (the far side is still at the work; the caller may stop it).
    """

    def __init__(
        self,
        *,
        local: ActorSystem,
        address: str,
        handlers: dict[Kind, Handler],
        remote_pid: int,
        on_expired: Callable[[str], None] | None = None,
    ) -> None:
        self.local = local
        self.address = address
        self.handlers = handlers
        self.remote_pid = remote_pid
        self.on_expired = on_expired
        self.pending: dict[int, Reply] = {}
        self.serving: dict[int, _LinkReply] = {}
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self._ids = itertools.count(1)
        self._buffer = bytearray()
        self._waiting = False
        self._writable = asyncio.Event()
        self._writable.set()
        self._outgoing: list[bytes] = []
        self._corked = False
        self._loop = asyncio.get_running_loop()

    @classmethod
    async def connect(cls, sock: socket.socket, **options: Any) -> Link:
        """A link over the connected socket ``sock`` (one end of a socketpair)."""
        loop = asyncio.get_running_loop()
        _, link = await loop.create_unix_connection(lambda: cls(**options), sock=sock)
        return link

    def __repr__(self) -> str:
        state = "closed" if self.closed.done() else "open"
        return f"<Link {state} to pid {self.remote_pid} pending={len(self.pending)}>"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Any loop's stream transport (asyncio's or uvloop's, which is not a subclass of it).
        self.transport = cast(asyncio.Transport, transport)
        transport.set_write_buffer_limits(high=WRITE_BUFFER_LIMIT)

    def connection_lost(self, exc: Exception | None) -> None:
        self._writable.set()
        if not self.closed.done():
            self.closed.set_result(None)

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    def write(self, kind: Kind, *, corr: int = 0, target: str = "", sender: str = "", artifact: Artifact | None = None) -> None:
        """Queue one frame for the socket (never blocks; see :meth:`deliver` for back-pressure).

        The first frame of a turn of the event loop leaves at once (the far side starts on it
        while this side goes on); the rest of that turn's frames leave in one system call at
        its end, so many requests (or replies) in flight cost one more wake-up, not one each.
        """
        frame = encode(kind, corr=corr, target=target, sender=sender, artifact=artifact)
        if not self._corked:
            self._corked = True
            self._loop.call_soon(self._uncork)
            transport = self.transport
            if transport is not None and not transport.is_closing():
                transport.write(frame)
            return
        outgoing = self._outgoing
        outgoing.append(frame)
        if len(outgoing) >= CORK_FRAMES:
            self._flush()

    def _uncork(self) -> None:
        self._corked = False
        self._flush()

    def _flush(self) -> None:
        outgoing, self._outgoing = self._outgoing, []
        transport = self.transport
        if outgoing and transport is not None and not transport.is_closing():
            transport.write(b"".join(outgoing))

    def try_deliver(self, name: str, envelope: Envelope) -> bool:
        """Send ``envelope`` to unit ``name`` on the far side unless the socket is backed up."""
        if self.closed.done() or not self._writable.is_set():
            return False
        self._write_envelope(name, envelope)
        return True

    async def deliver(self, name: str, envelope: Envelope, *, timeout: float) -> None:
        """Send ``envelope`` to unit ``name`` on the far side, then wait while the socket is backed up."""
        if self.closed.done():
            raise UnitStopped(f"unit {name!r} is unreachable: its process link is closed")
        self._write_envelope(name, envelope)
        if not self._writable.is_set():
            try:
                async with asyncio.timeout(timeout):
                    await self._writable.wait()
            except TimeoutError:
                raise RequestTimeout(
                    f"unit {name!r}: its worker took nothing from the socket for {timeout}s"
                ) from None

    def _write_envelope(self, name: str, envelope: Envelope) -> None:
        sender = envelope.sender.name if envelope.sender is not None else ""
        if envelope.reply is None:
            self.write(Kind.SEND, target=name, sender=sender, artifact=envelope.artifact)
        else:
            corr = next(self._ids)
            reply = envelope.reply
            self.pending[corr] = reply
            if isinstance(reply, FutureReply):
                reply.future.add_done_callback(functools.partial(self._settled, corr, name))
            elif isinstance(reply, StreamReply):
                reply.on_abandon = functools.partial(self._abandon, corr, name)
            self.write(Kind.REQUEST, corr=corr, target=name, sender=sender, artifact=envelope.artifact)

    def _settled(self, corr: int, name: str, future: asyncio.Future[Artifact]) -> None:
        """A request's future is done. Cancelled with no reply yet: the far side is told to
        drop it (CANCEL). Out of time with no reply: the far side is still at the work, so
        :attr:`on_expired` hears of it."""
        if corr not in self.pending:
            return
        if future.cancelled():
            self._abandon(corr, name)
        elif isinstance(future.exception(), RequestTimeout) and self.on_expired is not None:
            del self.pending[corr]
            self.on_expired(name)

    def _abandon(self, corr: int, name: str) -> None:
        """Nobody waits for the reply to request ``corr`` any more: the far side may stop making it."""
        if self.pending.pop(corr, None) is not None and not self.closed.done():
            self.write(Kind.CANCEL, corr=corr, target=name)

    async def publish(self, name: str, artifact: Artifact) -> None:
        """Ask the far side to publish ``artifact`` for unit ``name`` to its subscribers."""
        self.write(Kind.PUBLISH, target=name, artifact=artifact)

    async def subscribe(self, name: str, subscriber: UnitRef) -> None:
        self.write(Kind.SUBSCRIBE, target=name, sender=subscriber.name)

    async def stop_unit(self, name: str, *, drain: bool) -> None:
        self.write(Kind.POISON if drain else Kind.STOP, target=name)

    def pid_of(self, name: str) -> int:
        return self.remote_pid

    def is_idle(self, name: str) -> bool:
        """No request to the far side waits for its reply and nothing waits to be written."""
        return not self.pending and not self._outgoing

    def fail_pending(self, message: str, *, kind: str) -> None:
        """Answer every request still waiting on the far side with an error artifact."""
        pending, self.pending = self.pending, {}
        for reply in pending.values():
            reply.resolve(Artifact.error(message, kind=kind, origin="runtime", role="runtime"))

    async def close(self) -> None:
        """Flush what is written, close the socket, and wait until it is closed."""
        self._flush()
        if self.transport is not None:
            self.transport.close()
        await asyncio.shield(self.closed)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if not self._waiting:
            self._parse()

    def _parse(self) -> None:
        buffer = self._buffer
        header_size = HEADER.size
        offset = 0
        try:
            while not self._waiting and len(buffer) - offset >= header_size:
                size, kind, corr, target_len, sender_len = HEADER.unpack_from(buffer, offset)
                body = offset + header_size
                end = body + size
                if len(buffer) < end:
                    break
                start = body + target_len + sender_len
                target = buffer[body : body + target_len].decode()
                sender = buffer[body + target_len : start].decode()
                artifact = Artifact.from_bytes(bytes(buffer[start:end])) if end > start else None
                offset = end
                waiting = self._dispatch(Kind(kind), corr, target, sender, artifact)
                if waiting is not None:
                    self._wait_for(waiting)
        except (ArtifactError, ValueError) as exc:
            log.error("corrupt frame from pid %s (%s); closing the link", self.remote_pid, exc)
            if self.transport is not None:
                self.transport.abort()
        finally:
            del buffer[:offset]

    def _wait_for(self, waiting: Awaitable[None]) -> None:
        """Stop reading until ``waiting`` is done, then go on with the frames after it."""
        self._waiting = True
        if self.transport is not None:
            self.transport.pause_reading()

        async def finish() -> None:
            try:
                await waiting
            except Exception:
                log.exception("handling a frame from pid %s failed", self.remote_pid)
            finally:
                self._waiting = False
                if self.transport is not None and not self.transport.is_closing():
                    self.transport.resume_reading()
                self._parse()

        self.local.tasks.create_task(finish(), name="link:wait")

    def _dispatch(self, kind: Kind, corr: int, target: str, sender: str, artifact: Artifact | None) -> Awaitable[None] | None:
        if kind is Kind.REPLY:
            reply = self.pending.pop(corr, None)
            if reply is not None and artifact is not None:
                self.local.record(artifact)
                reply.resolve(artifact)
        elif kind is Kind.PART:
            reply = self.pending.get(corr)
            if reply is not None and artifact is not None:
                self.local.record(artifact)
                reply.emit(artifact)
        elif kind is Kind.SEND or kind is Kind.REQUEST:
            if artifact is None:
                return None
            reply = _LinkReply(self, corr) if kind is Kind.REQUEST else None
            if reply is not None:
                self.serving[corr] = reply
            envelope = Envelope(UnitRef(sender, self.address) if sender else None, artifact, reply)
            if not self.local.try_deliver(target, envelope):
                return self._deliver_later(target, envelope)
        elif kind is Kind.SUBSCRIBE:
            return self.local.subscribe(target, UnitRef(sender, self.address))
        elif kind is Kind.CANCEL:
            serving = self.serving.pop(corr, None)
            if serving is not None:
                serving.abandoned = serving.done = True
                self.local.abandon(target, serving)
        else:
            handler = self.handlers.get(kind)
            if handler is not None:
                return handler(target, sender, artifact)
        return None

    async def _deliver_later(self, target: str, envelope: Envelope) -> None:
        try:
            await self.local.deliver(target, envelope, timeout=config.REQUEST_TIMEOUT_S)
        except SmolError as exc:
            if envelope.reply is not None:
                envelope.reply.resolve(
                    Artifact.error(str(exc), kind=type(exc).__name__, origin="runtime", role="runtime")
                )


__all__ = ["HEADER", "Handler", "Kind", "Link", "encode"]
