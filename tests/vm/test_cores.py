"""Who runs on which core: the plan, the keeper on scripted processes, and the Lifecycle on real ones."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest

from smolcpu.runtime import ActorSystem
from smolcpu.vm import CoreKeeper, CorePlan, Lifecycle, WorkerSpec, cpu_seconds, plan_cores

BOTH = frozenset({0, 1})
FIRST, LAST = frozenset({0}), frozenset({1})


def test_the_plan_keeps_the_llm_on_every_core_unless_another_process_is_busy_beside_it() -> None:
    assert plan_cores({0, 1}, llm_busy=False, contended=True) == CorePlan(BOTH, BOTH)
    assert plan_cores({0, 1}, llm_busy=True, contended=False) == CorePlan(BOTH, LAST)
    assert plan_cores({0, 1}, llm_busy=True, contended=True) == CorePlan(FIRST, LAST)
    assert plan_cores({0, 1, 2, 3}, llm_busy=True, contended=True) == CorePlan(frozenset({0, 1, 2}), frozenset({3}))
    assert plan_cores({5}, llm_busy=True, contended=True) == CorePlan(frozenset({5}), frozenset({5}))


class Scripted:
    """CPU seconds set by the test, a clock it advances, and a log of every move."""

    def __init__(self) -> None:
        self.seconds: dict[int, float] = {}
        self.now = 0.0
        self.moves: list[tuple[int, frozenset[int]]] = []

    def keeper(self) -> CoreKeeper:
        return CoreKeeper(BOTH, read_cpu=self.read, move=lambda pid, cpus: self.moves.append((pid, cpus)), clock=lambda: self.now)

    def read(self, pid: int) -> float:
        if pid not in self.seconds:
            raise ProcessLookupError(pid)
        return self.seconds[pid]

    def tick(self, **used: float) -> None:
        """A quarter of a second passes; each named process (``p20=0.2``) used that many CPU seconds."""
        self.now += 0.25
        for name, seconds in used.items():
            pid = int(name[1:])
            self.seconds[pid] = self.seconds.get(pid, 0.0) + seconds


def test_the_keeper_moves_the_llm_off_the_core_a_busy_process_takes_and_back() -> None:
    script = Scripted()
    keeper = script.keeper()
    script.tick(p20=0.0, p21=0.0)
    look = {"llm": [10], "others": [20, 21]}
    assert keeper.look(**look, llm_busy=False) == CorePlan(BOTH, BOTH)
    assert sorted(script.moves) == [(10, BOTH), (20, BOTH), (21, BOTH)]

    script.moves.clear()
    script.tick(p20=0.01, p21=0.0)
    assert keeper.look(**look, llm_busy=True) == CorePlan(BOTH, LAST), "idle others: the LLM keeps both cores"
    assert sorted(script.moves) == [(20, LAST), (21, LAST)]

    script.moves.clear()
    script.tick(p20=0.01, p21=0.24)  # a snippet spins
    assert keeper.look(**look, llm_busy=True) == CorePlan(FIRST, LAST)
    assert keeper.busy == {21}
    assert script.moves == [(10, FIRST)], "only what changes is moved"

    script.moves.clear()
    script.tick(p20=0.01, p21=0.24)
    keeper.look(**look, llm_busy=True)
    assert script.moves == []

    script.moves.clear()
    script.tick(p20=0.01)  # the snippet ended (its pid is gone)
    del script.seconds[21]
    assert keeper.look(llm=[10], others=[20], llm_busy=True) == CorePlan(BOTH, LAST)
    assert script.moves == [(10, BOTH)]

    script.moves.clear()
    script.tick(p20=0.01)
    assert keeper.look(llm=[10], others=[20], llm_busy=False) == CorePlan(BOTH, BOTH)
    assert script.moves == [(20, BOTH)], "the LLM already had both cores"
    keeper.release([10, 20])
    assert keeper.plan == CorePlan(BOTH, BOTH)


def test_cpu_seconds_grow_while_a_process_computes() -> None:
    before = cpu_seconds(os.getpid())
    sum(range(3_000_000))
    assert cpu_seconds(os.getpid()) > before


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="core placement needs two cores")
def test_lifecycle_keeps_a_busy_process_off_the_core_of_a_working_llm() -> None:
    every = os.sched_getaffinity(0)
    first, last = every - {max(every)}, {max(every)}

    async def main() -> None:
        async with ActorSystem(record=False) as system:
            specs = {"llm": WorkerSpec("llm", "smolcpu.testing:Ballast")}
            keeper = CoreKeeper(busy_share=0.01)  # the spinner shares a loaded machine at nice 19
            async with Lifecycle(system, specs=specs, budget=8 * 1024**3, status=False, cores=keeper) as lifecycle:
                spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
                try:
                    async with lifecycle.acquire("llm") as llm:
                        await asyncio.sleep(1.0)
                        assert os.sched_getaffinity(spinner.pid) == last, "the busy process runs on the last core"
                        assert os.sched_getaffinity(0) == last, "so does this process (and what it starts)"
                        assert os.sched_getaffinity(llm.pid) == first, "the LLM keeps the others"
                        assert lifecycle.snapshot()["cores"] == {"llm": sorted(first), "others": sorted(last)}
                    await asyncio.sleep(1.0)
                    assert os.sched_getaffinity(llm.pid) == every, "an idle LLM holds no core"
                    assert os.sched_getaffinity(spinner.pid) == every
                finally:
                    spinner.kill()
                    spinner.wait()

    asyncio.run(asyncio.wait_for(main(), timeout=60))
    assert os.sched_getaffinity(0) == every
