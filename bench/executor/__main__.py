"""Executor overhead per step: a flow program on no-op workers against plain loops calling them.

The program is a labelled loop of STEPS_PER_LAP no-op steps and a ``match`` that jumps
back until ``done`` (LAPS laps, so one run takes STEPS_PER_LAP * LAPS steps and LAPS match
decisions). Each no-op worker derives a new artifact from its input (so every step has a
fresh output to record). Measured side by side, in one process:

  plain loop          ``await unit.handle(...)`` in a Python for-loop (no runtime at all)
  runtime requests    ``await ref.request(...)`` to the same unit spawned in an ActorSystem
  executor, record off  the program run by the Executor
  executor, record on   every step's input and output also recorded, as shipped: into the
                      default store (a file store under a temporary SMOL_HOME) written by a
                      recorder process; and into a store object, written by a thread

Per-step figures are medians of RUNS runs; overhead is (executor - plain loop) / steps.
Target: executor overhead <= 50 µs per step with recording off.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._report import median_of, report
from smolcpu.artifact import Artifact, FileStore, RunIndex
from smolcpu.lang import compile_source
from smolcpu.runtime import ActorSystem, Unit
from smolcpu.vm import Executor, FirstChooser

RUNS = 5
LAPS = 100
STEPS_PER_LAP = 10
STEPS = LAPS * STEPS_PER_LAP
WORKERS = [f"s{i}" for i in range(STEPS_PER_LAP)]
PROGRAM = (
    f"out <= switch[loop]<{LAPS}> <= (\n"
    + "".join(f"    {name} => next\n" for name in WORKERS)
    + "    out <= match <= (\n        done => send\n        default => [loop.jump]\n    )\n) <= in\n"
)
INPUT = "a small input " * 4


class Noop(Unit):
    """Does nothing but make its output: the input's payload in a new artifact."""

    async def handle(self, ctx: Any, sender: Any, artifact: Artifact) -> Artifact:
        return artifact.derive(artifact.payload)


def per_step(seconds: float) -> float:
    return seconds / STEPS * 1e6


async def plain_loop() -> float:
    unit, artifact = Noop(), Artifact.text(INPUT)
    start = time.perf_counter()
    for _ in range(STEPS):
        artifact = await unit.handle(None, None, artifact)
    return time.perf_counter() - start


async def runtime_requests() -> float:
    async with ActorSystem(record=False) as system:
        ref = await system.spawn("noop", Noop)
        artifact = Artifact.text(INPUT)
        start = time.perf_counter()
        for _ in range(STEPS):
            artifact = await ref.request(artifact)
        return time.perf_counter() - start


async def executor_run(record: str, folder: Path) -> tuple[float, float]:
    """Seconds of one run, and seconds to finish storing after it; ``record``: off, process or thread."""
    graph = compile_source(PROGRAM).runnable()
    store = FileStore(folder / "store", index=RunIndex(folder / "index.sqlite")) if record == "thread" else None
    executor = Executor(
        graph,
        workers={name: Noop for name in WORKERS},
        chooser=FirstChooser(),
        record=record != "off",
        store=store,
        budget=STEPS + 1,
    )
    async with executor:
        await executor.run("warm-up")
        start = time.perf_counter()
        result = await executor.run(INPUT)
        took = time.perf_counter() - start
        assert result.ok and result.steps == STEPS, result
        flush_start = time.perf_counter()
    flush = time.perf_counter() - flush_start
    if store is not None:
        store.close()
        store.index.close()
    return took, flush


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="smol-bench-executor-"))
    os.environ["SMOL_HOME"] = str(folder / "home")
    os.environ.pop("SMOL_STORE", None)
    plain, plain_runs = median_of(RUNS, lambda: asyncio.run(plain_loop()))
    runtime, runtime_runs = median_of(RUNS, lambda: asyncio.run(runtime_requests()))
    flushes: dict[str, list[float]] = {"process": [], "thread": []}

    def measure(record: str) -> float:
        took, flush = asyncio.run(executor_run(record, folder))
        flushes.get(record, []).append(flush)
        return took

    off, off_runs = median_of(RUNS, lambda: measure("off"))
    on, on_runs = median_of(RUNS, lambda: measure("process"))
    thread, thread_runs = median_of(RUNS, lambda: measure("thread"))
    rows = [
        ("plain loop (handle called directly)", per_step(plain), 1.0, 0.0),
        ("runtime requests (ref.request)", per_step(runtime), runtime / plain, per_step(runtime - plain)),
        ("executor, recording off", per_step(off), off / plain, per_step(off - plain)),
        ("executor, recording on (default store)", per_step(on), on / plain, per_step(on - plain)),
        ("executor, recording on (store object)", per_step(thread), thread / plain, per_step(thread - plain)),
    ]
    report(
        "executor",
        f"Executor overhead: {STEPS} no-op steps per run ({LAPS} laps of {STEPS_PER_LAP}), median of {RUNS}",
        ["mode", "µs per step", "× plain loop", "overhead µs per step"],
        rows,
        program=PROGRAM,
        steps=STEPS,
        runs=RUNS,
        seconds={
            "plain": plain_runs,
            "runtime": runtime_runs,
            "record_off": off_runs,
            "record_on_default_store": on_runs,
            "record_on_store_object": thread_runs,
        },
        record_flush_s=flushes,
        target="executor overhead <= 50 µs per step with recording off",
        met=per_step(off - plain) <= 50,
    )


if __name__ == "__main__":
    main()
