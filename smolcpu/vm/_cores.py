"""Cores: who runs on which core while the LLM works, so llama.cpp never waits on a taken core.

llama.cpp's threads meet at a barrier after every operation of every token: when one of
them shares its core with another busy process, all of them wait for it. Measured on 2
cores with the 1.5B model and one core kept busy by another process: 2 spinning threads
1.2 tokens/s, 1 thread 10.2 (quiet, 2 threads: 16.3). Two things keep that collapse away:
the LLM worker's threads sleep instead of spinning while they wait
(:data:`~smolcpu.config.LLM_WAIT_POLICY`), and the Lifecycle gives each process its cores
through a :class:`CoreKeeper`:

- the LLM idle: every process may run on every core;
- the LLM working: every other process of Smol (this one, so every sandbox snippet it starts,
  the ONNX worker, the recorder) runs on the last core, the LLM still on all of them;
- the LLM working and another process busy beside it (it used more than
  :data:`BUSY_SHARE` of a core since the last look): the LLM runs on the other cores.

llama.cpp fixes its thread count when it loads, so an LLM moved to one core keeps its
threads; sleeping at the barrier, two threads on one core run at about one thread's speed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

BUSY_SHARE = 0.3
"""Share of one core a process must have used since the last look to count as busy."""

CpuReader = Callable[[int], float]
"""CPU seconds a process has used so far (raises ``OSError`` once it is gone)."""

Pinner = Callable[[int, frozenset[int]], None]
"""Put every thread of a process on the given cores."""


@dataclasses.dataclass(frozen=True, slots=True)
class CorePlan:
    """The cores the LLM workers run on, and those every other process of Smol runs on."""

    llm: frozenset[int]
    others: frozenset[int]

    def to_dict(self) -> dict[str, list[int]]:
        return {"llm": sorted(self.llm), "others": sorted(self.others)}


def plan_cores(cpus: Iterable[int], *, llm_busy: bool, contended: bool) -> CorePlan:
    """Where the LLM and the rest run (see the module's docstring); with one core, nowhere in particular."""
    every = frozenset(cpus)
    if len(every) < 2 or not llm_busy:
        return CorePlan(every, every)
    last = frozenset({max(every)})
    return CorePlan(every - last if contended else every, last)


def cpu_seconds(pid: int) -> float:
    """User and system CPU seconds of process ``pid`` (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pin(pid: int, cpus: frozenset[int]) -> None:
    """Put every thread of process ``pid`` on ``cpus`` (``sched_setaffinity`` moves one thread only).

    A process or thread that is gone, or that this process may not move, is left as it is.
    """
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):
                os.sched_setaffinity(int(task), cpus)


class CoreKeeper:
    """Decides, at each look, the :class:`CorePlan` and puts every process where the plan says.

    Args:
        cpus: the cores Smol may use (by default those this process may run on now).
        read_cpu: how CPU time is read (scripted in tests).
        move: how a process is put on cores (scripted in tests).
        clock: seconds, for the share of a core used between two looks.
        busy_share: share of a core another process must have used since the last look to
            count as busy (:data:`BUSY_SHARE`).
    """

    def __init__(
        self,
        cpus: Iterable[int] | None = None,
        *,
        read_cpu: CpuReader = cpu_seconds,
        move: Pinner = pin,
        clock: Callable[[], float] = time.monotonic,
        busy_share: float = BUSY_SHARE,
    ) -> None:
        self.cpus = frozenset(os.sched_getaffinity(0) if cpus is None else cpus)
        self.plan = CorePlan(self.cpus, self.cpus)
        self.busy: set[int] = set()
        self._read_cpu = read_cpu
        self._move = move
        self._clock = clock
        self.busy_share = busy_share
        self._seen: dict[int, float] = {}
        self._placed: dict[int, frozenset[int]] = {}
        self._last = clock()

    def __repr__(self) -> str:
        return f"<CoreKeeper cpus={sorted(self.cpus)} llm={sorted(self.plan.llm)} others={sorted(self.plan.others)}>"

    def look(self, *, llm: Iterable[int], others: Iterable[int], llm_busy: bool) -> CorePlan:
        """Measure the other processes, plan, and move those not yet where the plan puts them.

        Args:
            llm: pids of the LLM workers' processes.
            others: pids of every other process of Smol.
            llm_busy: whether an LLM worker has work in hand.
        """
        now = self._clock()
        elapsed = max(now - self._last, 1e-6)
        self._last = now
        placement = dict.fromkeys(llm, "llm") | dict.fromkeys(others, "others")
        self.busy = {pid for pid, role in placement.items() if role == "others" and self._used(pid, elapsed)}
        self._seen = {pid: seconds for pid, seconds in self._seen.items() if pid in placement}
        self.plan = plan_cores(self.cpus, llm_busy=llm_busy, contended=bool(self.busy))
        wanted = {pid: self.plan.llm if role == "llm" else self.plan.others for pid, role in placement.items()}
        self._place(wanted)
        return self.plan

    def release(self, pids: Iterable[int]) -> None:
        """Let ``pids`` run on every core again (when Smol stops keeping them)."""
        for pid in pids:
            self._move(pid, self.cpus)
        self._placed = {}
        self.plan = CorePlan(self.cpus, self.cpus)

    def _used(self, pid: int, elapsed: float) -> bool:
        """Whether ``pid`` used more than ``busy_share`` of a core since the last look."""
        try:
            seconds = self._read_cpu(pid)
        except OSError:
            return False
        before = self._seen.get(pid)
        self._seen[pid] = seconds
        return before is not None and (seconds - before) / elapsed > self.busy_share

    def _place(self, wanted: Mapping[int, frozenset[int]]) -> None:
        for pid, cpus in wanted.items():
            if self._placed.get(pid) != cpus:
                self._move(pid, cpus)
        self._placed = dict(wanted)


__all__ = ["BUSY_SHARE", "CoreKeeper", "CorePlan", "cpu_seconds", "pin", "plan_cores"]
