"""Units in worker processes: the same UnitRef, framed Cap'n Proto, crash and restart."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path
from typing import Any

import psutil
import pytest
from runtime_units import Appender, AskOracle, Broken, Hang, Patient, Pid, Publisher, Upper, Words

from smolcpu.artifact import Artifact
from smolcpu.errors import RequestTimeout, UnitError, UnitStopped, UsageError
from smolcpu.runtime import ActorSystem, Ctx, OneForOne, Unit, UnitRef, is_lifecycle_event
from smolcpu.runtime._link import HEADER, Kind, Link, encode


class Forwarder(Unit):
    """Asks the unit named by the text of each artifact and replies with its answer."""

    async def handle(self, ctx: Ctx, sender: Any, artifact: Artifact) -> Artifact:
        target = next(ref for ref in ctx.units() if ref.name == artifact.as_text())
        return await target.request(artifact.derive(b"via forwarder"))


def test_frame_layout() -> None:
    artifact = Artifact.text("hello")
    frame = encode(Kind.REQUEST, corr=7, target="llm", sender="exec", artifact=artifact)
    size, kind, corr, target_len, sender_len = HEADER.unpack_from(frame)
    assert (kind, corr, target_len, sender_len) == (Kind.REQUEST, 7, 3, 4)
    assert size == len(frame) - HEADER.size
    assert Artifact.from_bytes(frame[HEADER.size + 7 :]) == artifact


async def test_a_corrupt_frame_closes_the_link_not_the_system() -> None:
    async with ActorSystem(record=False) as system:
        upper = await system.spawn("upper", Upper)
        ours, theirs = socket.socketpair()
        link = await Link.connect(ours, local=system, address=system.address, handlers={}, remote_pid=0)
        theirs.sendall(HEADER.pack(3, Kind.SEND, 0, 0, 0) + b"bad")
        await asyncio.wait_for(link.closed, 5)
        assert theirs.recv(16) == b""  # closed from our side
        theirs.close()
        assert (await upper.request(Artifact.text("still here"))).as_text() == "STILL HERE"


async def test_request_to_a_worker_unit() -> None:
    async with ActorSystem(record=False) as system:
        ref = await system.spawn("upper", Upper, process=True)
        assert ref.pid != os.getpid() and psutil.pid_exists(ref.pid)
        reply = await ref.request(Artifact.text("hello"))
        assert reply.as_text() == "HELLO" and reply.origin == "upper"
        forwarder = await system.spawn("forwarder", Forwarder)
        assert (await forwarder.request(Artifact.text("upper"))).as_text() == "VIA FORWARDER"
        many = await asyncio.gather(*(ref.request(Artifact.text(f"n{i}")) for i in range(200)))
        assert [a.as_text() for a in many] == [f"N{i}" for i in range(200)]
        pid = ref.pid
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


async def test_a_worker_streams_parts_of_its_reply() -> None:
    async with ActorSystem(record=False) as system:
        ref = await system.spawn("words", Words, process=True)
        parts = [part.as_text() async for part in ref.stream(Artifact.text("tokens come one by one"))]
    assert parts == ["tokens", "come", "one", "by", "one", "5"]


@pytest.mark.timeout(60)
async def test_a_request_given_up_stops_the_work_in_the_worker() -> None:
    """A cancelled request (or a stream closed early) sends CANCEL: the unit's handling of it
    is cancelled, a queued one is dropped, and the same worker goes on with the next."""
    async with ActorSystem(record=False) as system:
        ref = await system.spawn("patient", Patient, process=True)
        pid = ref.pid
        working = asyncio.ensure_future(ref.request(Artifact.text("wait"), timeout=3600))
        queued = asyncio.ensure_future(ref.request(Artifact.text("wait"), timeout=3600))
        await asyncio.sleep(0.5)
        queued.cancel()
        working.cancel()
        assert (await ref.request(Artifact.text("count?"), timeout=10)).as_text() == "1 1"
        parts = ref.stream(Artifact.text("wait"), timeout=3600)
        assert (await anext(parts)).as_text() == "tick"
        await parts.aclose()
        assert (await ref.request(Artifact.text("count?"), timeout=10)).as_text() == "2 2"
        assert ref.pid == pid and not ref.busy


async def test_a_crashed_worker_answers_with_an_error_and_is_restarted() -> None:
    async with ActorSystem(record=False) as system:
        ref = await system.spawn("pid", Pid, process=True)
        first = ref.pid
        pending = [asyncio.ensure_future(ref.request(Artifact.text("die")))]
        reply = await pending[0]
        assert reply.is_error and reply.as_json()["error"] == "WorkerCrashed"
        assert "exited with code 9" in reply.error_message
        again = await ref.request(Artifact.text("pid?"))
        assert int(again.as_text()) == ref.pid != first
    events = [(e.attr("unit"), e.attr("event")) for e in system.events]
    assert events.count(("pid", "restarting")) == 1 and events[-1] == ("pid", "stopped")


@pytest.mark.timeout(60)
async def test_a_request_past_its_deadline_kills_the_work_and_the_worker_comes_back() -> None:
    """A unit that hangs (a thread no cancellation reaches) is stopped: the request fails
    at its deadline, the worker at it is killed, others waiting on it hear why, and a fresh
    worker answers the next request."""
    async with ActorSystem(record=False) as system:
        ref = await system.spawn("hang", Hang, process=True)
        hung = ref.pid
        behind = asyncio.ensure_future(ref.request(Artifact.text("queued behind it"), timeout=30))
        with pytest.raises(RequestTimeout, match="'hang' did not reply"):
            await ref.request(Artifact.text("hang"), timeout=1)
        reply = await behind
        assert reply.is_error and "killed: a request to unit 'hang' passed its deadline" in reply.error_message
        assert not psutil.pid_exists(hung) or psutil.Process(hung).status() == psutil.STATUS_ZOMBIE
        fresh = await ref.request(Artifact.text("pid?"), timeout=30)
        assert int(fresh.as_text()) == ref.pid != hung
    events = [(e.attr("unit"), e.attr("event")) for e in system.events]
    assert events.count(("hang", "restarting")) == 1


async def test_a_worker_that_keeps_crashing_is_stopped() -> None:
    async with ActorSystem(record=False) as system:
        ref = await system.spawn("pid", Pid, process=True, supervisor=OneForOne(max_restarts=0))
        assert (await ref.request(Artifact.text("die"))).is_error
        await asyncio.sleep(0.1)
        with pytest.raises(UnitStopped):
            await ref.request(Artifact.text("pid?"))
        assert [failure.unit for failure in system.failures] == ["pid"]


async def test_worker_start_failures_are_clear() -> None:
    async with ActorSystem(record=False) as system:
        with pytest.raises(UnitError, match="failed to start in its worker: RuntimeError: no model file"):
            await system.spawn("broken", Broken, process=True)
        with pytest.raises(UsageError, match="importable factory"):
            await system.spawn("lambda", lambda: Upper(), process=True)
        with pytest.raises(UsageError, match="cannot import"):
            await system.spawn("missing", "runtime_units:Nope", process=True)
        assert system.units() == []


async def test_subscribers_get_what_a_worker_publishes() -> None:
    got: list[tuple[str, str]] = []

    class Listener(Unit):
        def __init__(self, source: UnitRef) -> None:
            self.source = source

        async def init(self, ctx: Ctx) -> None:
            await ctx.subscribe(self.source)

        async def handle(self, ctx: Any, sender: Any, artifact: Artifact) -> None:
            if not is_lifecycle_event(artifact):
                got.append((sender.name, artifact.as_text()))

    async with ActorSystem(record=False) as system:
        source = await system.spawn("publisher", Publisher, process=True)
        await system.spawn("listener", lambda: Listener(source))
        assert (await source.request(Artifact.text("news"))).as_text() == "ok"
        await asyncio.sleep(0.05)
    assert got == [("publisher", "news")]


async def test_stop_and_poison_end_the_worker_process() -> None:
    async with ActorSystem(record=False) as system:
        stopped = await system.spawn("a", Upper, process=True)
        poisoned = await system.spawn("b", Upper, process=True)
        pids = [stopped.pid, poisoned.pid]
        await stopped.stop()
        await poisoned.send(Artifact.text("last"))
        await poisoned.poison()
        with pytest.raises(UnitStopped):
            await stopped.request(Artifact.text("x"))
        assert system.units() == []
    for pid in pids:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


async def test_recording_covers_what_crosses_the_process_boundary(store: Any) -> None:
    async with ActorSystem(store=store) as system:
        ref = await system.spawn("words", Words, process=True)
        request = Artifact.text("a b", attributes={"run": "r2"})
        parts = [part async for part in ref.stream(request)]
    assert {request.id, *(part.id for part in parts)} <= set(store.artifacts)
    assert all(part.attr("run") == "r2" for part in parts)


async def test_a_worker_unit_reaches_units_of_the_parent() -> None:
    heard: list[tuple[str, str]] = []

    class Oracle(Unit):
        async def handle(self, ctx: Any, sender: Any, artifact: Artifact) -> Artifact:
            heard.append((sender.name, artifact.as_text()))
            return artifact.derive(b"42")

    async with ActorSystem(record=False) as system:
        await system.spawn("oracle", Oracle)
        asker = await system.spawn("asker", AskOracle, process=True)
        reply = await asker.request(Artifact.text("meaning?"))
        await asyncio.sleep(0.05)
    assert reply.as_text() == "oracle said 42"
    assert heard == [("asker", "question"), ("asker", "thanks")]


async def test_sending_faster_than_a_worker_handles_is_held_back_not_lost() -> None:
    async with ActorSystem(record=False) as system:
        ref = await system.spawn("upper", Upper, process=True, mailbox_size=8)
        big = Artifact.text("x" * 20_000)
        for _ in range(400):  # ~8 MB: more than the socket and the link buffer hold
            await ref.send(big)
        reply = await ref.request(Artifact.text("last"))
    assert reply.as_text() == "LAST"
    assert system.dead_letters == 0


async def test_leaving_drains_what_was_sent_to_a_worker(tmp_path: Path) -> None:
    path = tmp_path / "lines.txt"
    async with ActorSystem(record=False) as system:
        ref = await system.spawn("appender", Appender, process=True)
        for i in range(50):
            await ref.send(Artifact.text(str(i), attributes={"path": str(path)}))
    assert path.read_text().split() == [str(i) for i in range(50)]
