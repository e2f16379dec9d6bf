"""The in-process actor runtime: verbs, back-pressure, pub/sub, supervision, shutdown, recording."""

from __future__ import annotations

import asyncio
import pickle
from typing import Any

import pytest
from runtime_units import Echo, Upper, Words

from smolcpu.artifact import Artifact
from smolcpu.errors import RequestTimeout, UnitError, UnitNameExists, UnitStopped
from smolcpu.runtime import (
    ActorSystem,
    Ctx,
    Directive,
    OneForOne,
    SystemState,
    Unit,
    UnitRef,
    is_lifecycle_event,
)


class Gate(Unit):
    """Handles nothing until its gate opens; counts what it handled."""

    def __init__(self, gate: asyncio.Event, seen: list[str]) -> None:
        self.gate = gate
        self.seen = seen

    async def handle(self, ctx: Any, sender: Any, artifact: Artifact) -> Artifact:
        await self.gate.wait()
        self.seen.append(artifact.as_text())
        return artifact


class Flaky(Unit):
    """Fails on 'boom'; counts inits and handled artifacts (state a restart resets)."""

    inits = 0

    def __init__(self) -> None:
        self.handled = 0

    async def init(self, ctx: Ctx) -> None:
        Flaky.inits += 1

    async def handle(self, ctx: Any, sender: Any, artifact: Artifact) -> Artifact:
        if artifact.as_text() == "boom":
            raise ValueError("cannot handle boom")
        self.handled += 1
        return artifact.derive(str(self.handled).encode())


class Collector(Unit):
    """Subscribes to the unit named in its init argument and keeps what arrives."""

    def __init__(self, source: UnitRef, got: list[tuple[str, Artifact]]) -> None:
        self.source = source
        self.got = got

    async def init(self, ctx: Ctx) -> None:
        await ctx.subscribe(self.source)

    async def handle(self, ctx: Any, sender: Any, artifact: Artifact) -> None:
        self.got.append((sender.name, artifact))


async def test_request_reply_and_sender() -> None:
    seen: list[str] = []

    class Asker(Unit):
        async def handle(self, ctx: Ctx, sender: Any, artifact: Artifact) -> Artifact:
            return await ctx.units()[0].request(artifact)

    class Recorder(Unit):
        async def handle(self, ctx: Ctx, sender: Any, artifact: Artifact) -> Artifact:
            seen.append(sender.name if sender else "-")
            return artifact.derive(b"from " + ctx.self().name.encode())

    async with ActorSystem(record=False) as system:
        target = await system.spawn("target", Recorder)
        asker = await system.spawn("asker", Asker)
        reply = await asker.request(Artifact.text("hi"))
        direct = await target.request(Artifact.text("hi"))
    assert reply.as_text() == "from target" and direct.as_text() == "from target"
    assert seen == ["asker", "-"]
    assert system.state is SystemState.CLOSED


async def test_spawn_returns_after_init_and_refuses_duplicate_names() -> None:
    started: list[str] = []

    class Slow(Unit):
        async def init(self, ctx: Ctx) -> None:
            await asyncio.sleep(0.05)
            started.append(ctx.self().name)

    async with ActorSystem(record=False) as system:
        await system.spawn("a", Slow)
        assert started == ["a"]
        with pytest.raises(UnitNameExists, match="'a'"):
            await system.spawn("a", Slow)
        assert [ref.name for ref in system.units()] == ["a"]


async def test_init_failure_fails_spawn_and_frees_the_name() -> None:
    class Broken(Unit):
        async def init(self, ctx: Ctx) -> None:
            raise OSError("model file missing")

    async with ActorSystem(record=False) as system:
        with pytest.raises(UnitError, match="model file missing"):
            await system.spawn("b", Broken)
        await system.spawn("b", Echo)


async def test_full_mailbox_makes_senders_wait() -> None:
    gate, seen = asyncio.Event(), []
    async with ActorSystem(record=False) as system:
        ref = await system.spawn("gate", lambda: Gate(gate, seen), mailbox_size=2)
        for text in "abc":  # one in hand, two queued
            await ref.send(Artifact.text(text))
        blocked = asyncio.ensure_future(ref.send(Artifact.text("d")))
        await asyncio.sleep(0.05)
        assert not blocked.done()
        with pytest.raises(RequestTimeout, match="full"):
            await ref.send(Artifact.text("e"), timeout=0.05)
        gate.set()
        await blocked
    assert seen == ["a", "b", "c", "d"]


async def test_request_times_out() -> None:
    async with ActorSystem(record=False) as system:
        ref = await system.spawn("gate", lambda: Gate(asyncio.Event(), []))
        with pytest.raises(RequestTimeout, match="'gate' did not reply"):
            await ref.request(Artifact.text("x"), timeout=0.05)
        await ref.stop()


async def test_no_reply_and_non_artifact_reply_become_error_artifacts() -> None:
    class Silent(Unit):
        async def handle(self, ctx: Any, sender: Any, artifact: Artifact) -> None:
            return None

    async with ActorSystem(record=False) as system:
        reply = await (await system.spawn("silent", Silent)).request(Artifact.text("x"))
    assert reply.is_error and "NoneType, not an Artifact" in reply.error_message


async def test_stream_yields_parts_then_the_reply() -> None:
    async with ActorSystem(record=False) as system:
        ref = await system.spawn("words", Words)
        parts = [part.as_text() async for part in ref.stream(Artifact.text("one two three"))]
    assert parts == ["one", "two", "three", "3"]


async def test_publish_reaches_subscribers_after_lifecycle_events() -> None:
    got: list[tuple[str, Artifact]] = []

    class Announcer(Unit):
        async def handle(self, ctx: Ctx, sender: Any, artifact: Artifact) -> Artifact:
            await ctx.publish(artifact)
            return artifact

    async with ActorSystem(record=False) as system:
        source = await system.spawn("source", Announcer)
        await system.spawn("collector", lambda: Collector(source, got))
        await source.request(Artifact.text("news"))
        await source.stop()
        await asyncio.sleep(0.01)
    assert [(name, artifact.as_text()) for name, artifact in got if not is_lifecycle_event(artifact)] == [
        ("source", "news")
    ]
    events = [artifact.attr("event") for _, artifact in got if is_lifecycle_event(artifact)]
    assert events == ["stopped"]


async def test_failure_replies_with_error_artifact_and_restarts() -> None:
    Flaky.inits = 0
    async with ActorSystem(record=False) as system:
        ref = await system.spawn("flaky", Flaky)
        assert (await ref.request(Artifact.text("a"))).as_text() == "1"
        error = await ref.request(Artifact.text("boom"))
        assert error.is_error and "cannot handle boom" in error.error_message
        assert error.as_json()["error"] == "ValueError"
        assert (await ref.request(Artifact.text("a"))).as_text() == "1"  # a fresh unit
        assert Flaky.inits == 2
    events = [(e.attr("unit"), e.attr("event")) for e in system.events]
    assert ("flaky", "restarting") in events


async def test_resume_keeps_state_and_stop_stops() -> None:
    resume = OneForOne(decider=lambda failure: Directive.RESUME)
    stop = OneForOne(decider=lambda failure: Directive.STOP)
    async with ActorSystem(record=False) as system:
        kept = await system.spawn("kept", Flaky, supervisor=resume)
        await kept.request(Artifact.text("a"))
        await kept.request(Artifact.text("boom"))
        assert (await kept.request(Artifact.text("a"))).as_text() == "2"
        gone = await system.spawn("gone", Flaky, supervisor=stop)
        assert (await gone.request(Artifact.text("boom"))).is_error
        with pytest.raises(UnitStopped):
            await gone.request(Artifact.text("a"))


async def test_restarts_are_capped_then_escalated() -> None:
    async with ActorSystem(record=False) as system:
        ref = await system.spawn("flaky", Flaky, supervisor=OneForOne(max_restarts=2, window_s=60))
        for _ in range(3):
            assert (await ref.request(Artifact.text("boom"))).is_error
        with pytest.raises(UnitStopped):
            await ref.request(Artifact.text("a"))
        assert [failure.unit for failure in system.failures] == ["flaky"]


async def test_escalation_restarts_the_parent() -> None:
    parent_inits: list[int] = []

    class Parent(Unit):
        async def init(self, ctx: Ctx) -> None:
            parent_inits.append(1)
            if "child" not in [ref.name for ref in ctx.units()]:
                await ctx.spawn("child", Flaky, supervisor=OneForOne(max_restarts=0))

        async def handle(self, ctx: Any, sender: Any, artifact: Artifact) -> Artifact:
            return artifact

    async with ActorSystem(record=False) as system:
        await system.spawn("parent", Parent)
        child = system.ref("child")
        assert (await child.request(Artifact.text("boom"))).is_error
        await asyncio.sleep(0.05)
        assert len(parent_inits) == 2
        assert "child" in [ref.name for ref in system.units()]  # spawned again by the new init


async def test_poison_drains_and_stop_cancels() -> None:
    gate, seen = asyncio.Event(), []
    async with ActorSystem(record=False) as system:
        drained = await system.spawn("drained", lambda: Gate(gate, seen))
        for text in "abc":
            await drained.send(Artifact.text(text))
        gate.set()
        await drained.poison()
        assert seen == ["a", "b", "c"]

        stuck = await system.spawn("stuck", lambda: Gate(asyncio.Event(), []))
        pending = [asyncio.ensure_future(stuck.request(Artifact.text(str(i)))) for i in range(3)]
        await asyncio.sleep(0.01)
        await stuck.stop()
        replies = await asyncio.gather(*pending)
        assert all(reply.is_error and reply.as_json()["error"] == "UnitStopped" for reply in replies)

        await stuck.send(Artifact.text("late"))
        assert system.dead_letters == 1
        with pytest.raises(UnitStopped, match="'stuck' is not running"):
            await stuck.request(Artifact.text("late"))


async def test_leaving_drains_queued_mail() -> None:
    seen: list[str] = []
    gate = asyncio.Event()
    async with ActorSystem(record=False) as system:
        ref = await system.spawn("gate", lambda: Gate(gate, seen))
        for i in range(20):
            await ref.send(Artifact.text(str(i)))
        asyncio.get_running_loop().call_later(0.05, gate.set)
    assert seen == [str(i) for i in range(20)]


async def test_an_error_in_the_body_propagates_unwrapped_and_stops_units() -> None:
    with pytest.raises(KeyError):
        async with ActorSystem(record=False) as system:
            ref = await system.spawn("gate", lambda: Gate(asyncio.Event(), []))
            pending = asyncio.ensure_future(ref.request(Artifact.text("x")))
            await asyncio.sleep(0.01)
            raise KeyError("boom")
    assert (await pending).is_error
    assert system.units() == []


async def test_refs_are_plain_picklable_data() -> None:
    async with ActorSystem(record=False) as system:
        ref = await system.spawn("upper", Upper)
        copy = pickle.loads(pickle.dumps(ref))
        assert copy == ref and copy.pid == ref.pid
        assert (await copy.request(Artifact.text("ok"))).as_text() == "OK"


async def test_recording_stores_every_artifact_and_reply(store: Any) -> None:
    sent = [Artifact.text(str(i), attributes={"run": "r1"}) for i in range(50)]
    async with ActorSystem(store=store) as system:
        ref = await system.spawn("upper", Upper)
        replies = [await ref.request(artifact) for artifact in sent]
    ids = {artifact.id for artifact in sent + replies}
    assert ids <= set(store.artifacts)
    events = [a for a in store.artifacts.values() if is_lifecycle_event(a)]
    assert {e.attr("event") for e in events} == {"started", "stopped"}


async def test_recording_off_stores_nothing(store: Any) -> None:
    async with ActorSystem(store=store, record=False) as system:
        await (await system.spawn("upper", Upper)).request(Artifact.text("x"))
    assert store.artifacts == {}


async def test_recording_goes_to_the_configured_store_by_default() -> None:
    from smolcpu.artifact import open_store

    request = Artifact.text("to disk", attributes={"run": "r3"})
    async with ActorSystem() as system:
        reply = await (await system.spawn("upper", Upper)).request(request)
    with open_store() as store:
        assert store.get(reply.id).as_text() == "TO DISK"
        assert {record.id for record in store.index.artifacts("r3")} == {request.id, reply.id}


async def test_a_store_process_records_everything_before_close_returns(tmp_path: Any) -> None:
    from smolcpu.artifact import RunIndex, open_store
    from smolcpu.runtime import StoreProcess

    index_path = tmp_path / "index.sqlite"
    store = StoreProcess(str(tmp_path / "artifacts"), index_path=index_path)
    sent = [Artifact.text(str(i), attributes={"run": "r4"}) for i in range(300)]
    async with ActorSystem(store=store) as system:
        ref = await system.spawn("upper", Upper)
        for artifact in sent:
            await ref.send(artifact)
    await asyncio.to_thread(store.close)
    with RunIndex(index_path) as index, open_store(str(tmp_path / "artifacts"), index=index) as opened:
        assert {record.id for record in index.artifacts("r4")} == {a.id for a in sent}
        assert opened.get(sent[7].id).as_text() == "7"


def test_the_store_process_keeps_a_batch_when_one_artifact_cannot_be_stored(tmp_path: Any) -> None:
    from smolcpu.artifact import FileStore, RunIndex
    from smolcpu.runtime._recorder_main import _store

    batch = [Artifact.text(str(i), origin=f"o{i}", attributes={"run": "r5"}) for i in range(10)]
    with RunIndex(tmp_path / "index.sqlite") as index, FileStore(tmp_path / "artifacts", index=index) as store:
        (tmp_path / "artifacts" / "o3").write_text("a file where a folder must go")
        assert _store(store, batch) == 1
        assert {record.id for record in index.artifacts("r5")} == {a.id for a in batch} - {batch[3].id}
