"""Model workers under faults, in real worker processes (ballast units standing in for the
models): a worker killed mid-request, and a program that needs more than the memory budget."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Awaitable, Callable

import psutil

from smolcpu.artifact import Artifact
from smolcpu.lang import compile_source
from smolcpu.runtime import ActorSystem
from smolcpu.testing import Reply, ScriptedWorker
from smolcpu.vm import Executor, Lifecycle, RunResult, Status, WorkerSpec

BALLAST = "smolcpu.testing:Ballast"
MB = 1024**2
UNLIMITED = 8 * 1024**3

RETRY = """\
use w = embed
out <= switch <= (
  prep => next
  w => send | back
) <= in
"""

BIG = """\
use a = embed
use b = classify
use c = detect
out <= switch <= (
  a => next
  b => next
  c => send
) <= in
"""


def run(test: Callable[[Lifecycle], Awaitable[None]], specs: dict[str, WorkerSpec], budget: int = UNLIMITED) -> None:
    async def main() -> None:
        async with ActorSystem(record=False) as system:
            async with Lifecycle(system, specs=specs, shared={}, budget=budget, sample_every=0.2) as lifecycle:
                await test(lifecycle)

    asyncio.run(asyncio.wait_for(main(), timeout=120))


async def working(lifecycle: Lifecycle, name: str) -> int:
    """The pid of worker ``name`` once it holds a request."""
    while not any(worker.name == name and worker.busy for worker in lifecycle.workers):
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.3)  # the request is in the worker's hands
    return next(worker.pid for worker in lifecycle.workers if worker.name == name)


async def restarted(lifecycle: Lifecycle, kind: str, old: int) -> int:
    """The pid that answers ``kind`` once supervision has brought its worker back."""
    for _ in range(600):
        reply = await lifecycle.request(kind, Artifact.text("up?"))
        if not reply.is_error and reply.as_json()["pid"] != old:
            return reply.as_json()["pid"]
        await asyncio.sleep(0.05)
    raise AssertionError(f"{kind} did not come back")


def test_a_worker_killed_mid_request_answers_with_an_error_and_comes_back() -> None:
    async def test(lifecycle: Lifecycle) -> None:
        other = (await lifecycle.request("b", Artifact.text("hi"))).as_json()["pid"]
        asked = asyncio.ensure_future(lifecycle.request("a", Artifact.text("sleep 60"), timeout=60))
        pid = await working(lifecycle, "a")
        os.kill(pid, signal.SIGKILL)
        reply = await asyncio.wait_for(asked, 30)
        assert reply.is_error and "WorkerCrashed" in reply.as_text(), "the request got an error, not a hang"
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        assert (await lifecycle.request("b", Artifact.text("hi"))).as_json()["pid"] == other, "the rest stayed up"
        new = await restarted(lifecycle, "a", pid)
        assert new != pid
        lifecycle.sample(write=True)
        (worker,) = [w for w in lifecycle.workers if w.name == "a"]
        assert (worker.pid, worker.restarts) == (new, 1)

    run(test, {kind: WorkerSpec(kind, BALLAST) for kind in "ab"})


def test_a_step_whose_worker_is_killed_is_retried_by_the_programs_policy() -> None:
    graph = compile_source(RETRY).runnable()
    prep = ScriptedWorker("prep", [Reply(text="sleep 60"), Reply(text="again")])

    async def test(lifecycle: Lifecycle) -> None:
        async with Executor(graph, system=lifecycle.system, lifecycle=lifecycle, workers={"prep": prep}, record=False) as executor:
            running = executor.start("go")
            pid = await working(lifecycle, "embed")
            os.kill(pid, signal.SIGKILL)
            result = await asyncio.wait_for(running.result(), 60)
        assert result.status is Status.OK, result.reason
        assert [str(v) for v in result.path] == ["switch1.prep:next", "switch1.w:back!", "switch1.prep:next", "switch1.w:send"]
        assert result.output.as_json()["pid"] not in (pid, os.getpid()), "answered by the restarted worker"

    run(test, {"embed": WorkerSpec("embed", BALLAST)})


def test_a_program_past_the_memory_budget_evicts_then_fails_clearly_never_oom() -> None:
    graph = compile_source(BIG).runnable()
    specs = {
        "embed": WorkerSpec("embed", BALLAST, model="fake-a", footprint=300 * MB),
        "classify": WorkerSpec("classify", BALLAST, model="fake-b", footprint=450 * MB),
        "detect": WorkerSpec("detect", BALLAST, model="fake-c", footprint=100 * 1024 * MB),
    }  # the fake model names keep their measured footprints apart

    async def test(lifecycle: Lifecycle) -> RunResult:
        lifecycle.budget = lifecycle.measure().main + 500 * MB  # room for a or b, not both
        async with Executor(graph, system=lifecycle.system, lifecycle=lifecycle, record=False) as executor:
            result = await executor.run("hello")
        assert result.status is Status.ERROR
        assert "cannot start worker `c`" in result.reason and "memory budget" in result.reason
        assert "SMOL_MEMORY_BUDGET" in result.reason
        assert [str(v) for v in result.path] == ["switch1.a:next", "switch1.b:next"]
        assert lifecycle.evictions == ["embed"], "a was evicted to make room for b, and b kept: c would never fit"
        assert [w.name for w in lifecycle.workers] == ["classify"], "no process was started for c"
        assert "even with every idle worker evicted" in result.reason
        assert lifecycle.peak <= lifecycle.budget
        return result

    run(test, specs)


def test_a_shared_worker_whose_front_gave_up_is_replaced_whole() -> None:
    async def test(lifecycle: Lifecycle) -> None:
        first = (await lifecycle.request("a", Artifact.text("hi"))).as_json()["pid"]
        (worker,) = lifecycle.workers
        await worker.units["a"].stop()  # as supervision stops a front whose host died under it
        reply = await lifecycle.request("a", Artifact.text("hi again"))
        assert not reply.is_error, reply.as_text()
        assert reply.as_json()["pid"] != first, "a fresh worker, not the front that gave up"
        assert not psutil.pid_exists(first) or psutil.Process(first).status() == psutil.STATUS_ZOMBIE
        assert [w.name for w in lifecycle.workers] == ["pair"]

    async def main() -> None:
        async with ActorSystem(record=False) as system:
            specs = {kind: WorkerSpec(kind, BALLAST) for kind in "ab"}
            async with Lifecycle(system, specs=specs, shared={"pair": ("a", "b")}, budget=UNLIMITED) as lifecycle:
                await test(lifecycle)

    asyncio.run(asyncio.wait_for(main(), timeout=120))
