"""Factories with keyword arguments (in process and in a worker, kept across restarts), and the idle check."""

from __future__ import annotations

import asyncio
import os
import threading

import pytest
from runtime_units import Prefixed, Sleeper

from smolcpu.artifact import Artifact
from smolcpu.errors import UnitError, UnitStopped, UsageError
from smolcpu.runtime import ActorSystem


def _reply(reply: Artifact) -> tuple[str, int, int]:
    text, size, pid = reply.as_text().split()
    return text, int(size), int(pid)


async def test_a_factory_gets_its_keyword_arguments_in_process() -> None:
    async with ActorSystem(record=False) as system:
        ref = await system.spawn("p", Prefixed, kwargs={"prefix": "a:", "instruction": "be brief"})
        assert _reply(await ref.request(Artifact.text("x"))) == ("a:x", 8, os.getpid())
        named = await system.spawn("q", "runtime_units:Prefixed", kwargs={"prefix": "b:"})
        assert _reply(await named.request(Artifact.text("y")))[0] == "b:y"


async def test_a_worker_gets_its_keyword_arguments_and_keeps_them_after_a_restart() -> None:
    instruction = "x" * 300_000  # well past one command-line argument or a socket buffer
    async with ActorSystem(record=False) as system:
        ref = await system.spawn("p", Prefixed, process=True, kwargs={"prefix": "w:", "instruction": instruction})
        text, size, pid = _reply(await ref.request(Artifact.text("hi")))
        assert (text, size, pid) == ("w:hi", len(instruction), ref.pid) and pid != os.getpid()
        assert (await ref.request(Artifact.text("die"))).is_error
        text, size, again = _reply(await ref.request(Artifact.text("hi")))
        assert (text, size) == ("w:hi", len(instruction)) and again == ref.pid != pid


async def test_bad_keyword_arguments_are_clear() -> None:
    async with ActorSystem(record=False) as system:
        with pytest.raises(UsageError, match="must be picklable"):
            await system.spawn("lock", Prefixed, process=True, kwargs={"prefix": threading.Lock()})
        with pytest.raises(UnitError, match="TypeError"):
            await system.spawn("wrong", Prefixed, process=True, kwargs={"nope": 1})
        with pytest.raises(UnitError, match="TypeError"):
            await system.spawn("wrong", Prefixed, kwargs={"nope": 1})
        assert system.units() == []


@pytest.mark.parametrize("process", [False, True], ids=["in-process", "worker"])
async def test_a_unit_is_busy_while_a_request_is_pending(process: bool) -> None:
    async with ActorSystem(record=False) as system:
        ref = await system.spawn("sleeper", Sleeper, process=process)
        assert not ref.busy and system.is_idle(ref) and system.is_idle("sleeper")
        pending = asyncio.ensure_future(ref.request(Artifact.text("0.3")))
        await asyncio.sleep(0.1)
        assert ref.busy and not system.is_idle(ref)
        assert (await pending).as_text() == "awake"
        assert not ref.busy and system.is_idle(ref)
        await ref.stop()
        with pytest.raises(UnitStopped):
            system.is_idle(ref)
        with pytest.raises(UnitStopped):
            _ = ref.busy
