"""Lifecycle: model workers started on first use and kept, all together, under the memory budget.

``async with Lifecycle(system) as lifecycle:`` owns the units that hold a neural net (the
kinds ``llm``, ``classify``, ``detect``, ``embed``, or any :class:`WorkerSpec` given), each in
a worker process of its own::

    reply = await lifecycle.request("embed", Artifact.text("hello"))
    async with lifecycle.acquire("llm") as llm:      # held: never evicted meanwhile
        answer = await llm.request(question)
    ref = await lifecycle.ref("classify")             # started if need be, marked used

Before a worker starts, Lifecycle estimates what it will hold (its model file plus
``config.WORKER_OVERHEAD_BYTES``, or what the same model measured last time) and stops the
least recently used idle workers until the estimate fits under the budget; when it cannot
fit even then, :class:`~smolcpu.errors.BudgetError` says so and no process is started. A
worker is busy while a lease (``acquire`` or ``request``) is held: busy workers are never
evicted, so reach units through those two when memory is tight; a ref kept from ``ref()``
may find its unit evicted later (``UnitStopped``), and ``ref()`` again restarts it.

A crashed worker is restarted by the runtime's supervision; Lifecycle sees the new process
(its pid, the ``restarting`` events) and accounts for it. Memory is measured, every page
counted once (see :mod:`smolcpu.vm._lifecycle_status`), every ``config.MEMORY_SAMPLE_S``
seconds and after every change; the peak is kept, and the state is written to the status
file that ``smol status`` reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import logging
import os
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from smolcpu import config
from smolcpu.artifact import Artifact
from smolcpu.errors import BudgetError, UnitStopped, UsageError
from smolcpu.runtime import ActorSystem, UnitRef
from smolcpu.vm._lifecycle_status import (
    load_footprints,
    process_tree,
    resident,
    save_footprints,
    started_at,
    status_dir,
    write_json,
)

log = logging.getLogger("smolcpu.vm")

NEURAL_KINDS = ("llm", "classify", "detect", "embed")
"""The unit kinds Lifecycle knows without being told: those that hold a neural net."""

MB = 1024**2


def megabytes(size: int) -> str:
    """``size`` bytes as a short figure for messages and tables."""
    return f"{size / MB:,.0f} MB"


@dataclasses.dataclass(frozen=True, slots=True)
class WorkerSpec:
    """How to start the worker of one unit kind, and what it is expected to hold.

    Args:
        kind: the name Lifecycle is asked for (``"llm"``).
        factory: the unit's importable factory, ``"module:Name"`` (it runs in a worker process).
        model: the registry name or file of its model, for the estimate and ``smol status``.
        footprint: bytes it holds once loaded, if known; else estimated from the model file.
    """

    kind: str
    factory: str
    model: str | None = None
    footprint: int | None = None

    @property
    def key(self) -> str:
        """What measured footprints are remembered by: the same factory and model weigh the same."""
        return f"{self.factory}@{self.model or ''}"


def neural_spec(kind: str) -> WorkerSpec:
    """The spec of a registered unit kind (meant for the neural ones): its class, and the model it loads.

    Raises:
        UsageError: ``kind`` is not a registered unit kind.
    """
    from smolcpu.units import unit_kind

    factory = unit_kind(kind).factory
    model = config.LLM_MODEL if kind == "llm" else getattr(factory, "model_name", None)
    return WorkerSpec(kind, f"{factory.__module__}:{factory.__qualname__}", model=model)


def model_bytes(model: str | None) -> int:
    """Size of the model file (0 without a model).

    Raises:
        UsageError: the model is not installed (the message names the install command).
    """
    if model is None:
        return 0
    from smolcpu.models import model_path

    return model_path(model).stat().st_size


@dataclasses.dataclass(slots=True)
class ModelWorker:
    """One running model worker as Lifecycle accounts for it."""

    spec: WorkerSpec
    ref: UnitRef
    pid: int
    pid_started: float | None
    expected: int
    started: float
    last_used: float
    leases: int = 0
    restarts: int = 0
    memory: int = 0
    peak: int = 0

    @property
    def busy(self) -> bool:
        return self.leases > 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.spec.kind,
            "unit": self.ref.name,
            "model": self.spec.model,
            "pid": self.pid,
            "pid_started": self.pid_started,
            "memory": self.memory,
            "peak": self.peak,
            "busy": self.busy,
            "last_used": self.last_used,
            "restarts": self.restarts,
        }


@dataclasses.dataclass(frozen=True, slots=True)
class MemoryReport:
    """One measurement: resident bytes of the main process, of each worker, and in all."""

    main: int
    workers: dict[str, int]
    total: int


class LifecycleState(enum.Enum):
    NEW = "new"
    RUNNING = "running"
    CLOSED = "closed"


class Lifecycle:
    """Starts, accounts for, evicts and reports the model workers of one actor system.

    Args:
        system: the running actor system the workers are spawned in.
        budget: resident bytes all of Smol's processes may use (``config.MEMORY_BUDGET_BYTES``).
        specs: workers by kind, beside (or instead of) the registered neural kinds.
        sample_every: seconds between measurements (``config.MEMORY_SAMPLE_S``).
        status: write the state for ``smol status`` (to ``<SMOL_HOME>/lifecycle/<pid>.json``).
    """

    def __init__(
        self,
        system: ActorSystem,
        *,
        budget: int | None = None,
        specs: Mapping[str, WorkerSpec] | None = None,
        sample_every: float | None = None,
        status: bool = True,
    ) -> None:
        self.system = system
        self.budget = config.MEMORY_BUDGET_BYTES if budget is None else budget
        self.specs = dict(specs or {})
        self.sample_every = config.MEMORY_SAMPLE_S if sample_every is None else sample_every
        self.status_file: Path | None = status_dir() / f"{os.getpid()}.json" if status else None
        self.state = LifecycleState.NEW
        self.peak = 0
        self.evictions: list[str] = []
        self._workers: dict[str, ModelWorker] = {}
        self._footprints = load_footprints()
        self._unsaved: dict[str, int] = {}
        self._start_lock = asyncio.Lock()
        self._tasks = asyncio.TaskGroup()
        self._sampling: asyncio.Task[None] | None = None
        self._last_written = 0.0

    def __repr__(self) -> str:
        return (
            f"<Lifecycle {self.state.value} workers={sorted(self._workers)}"
            f" budget={megabytes(self.budget)} peak={megabytes(self.peak)}>"
        )

    async def __aenter__(self) -> Lifecycle:
        if self.state is not LifecycleState.NEW:
            raise UsageError(f"this Lifecycle is {self.state.value}; a Lifecycle runs once, make a new one")
        await self._tasks.__aenter__()
        self.state = LifecycleState.RUNNING
        self._sampling = self._tasks.create_task(self._sampler(), name="lifecycle:sampler")
        self.sample()
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, traceback: Any) -> None:
        self.state = LifecycleState.CLOSED
        try:
            await asyncio.gather(*(self._stop(kind) for kind in list(self._workers)), return_exceptions=True)
        finally:
            if self._sampling is not None:
                self._sampling.cancel()
            await self._tasks.__aexit__(None, None, None)
            if self.status_file is not None:
                self.status_file.unlink(missing_ok=True)

    @property
    def workers(self) -> list[ModelWorker]:
        """The running model workers, least recently used first."""
        return sorted(self._workers.values(), key=lambda worker: worker.last_used)

    def spec(self, kind: str) -> WorkerSpec:
        """The spec of ``kind``: given to this Lifecycle, or a registered neural unit kind.

        Raises:
            UsageError: ``kind`` is neither.
        """
        spec = self.specs.get(kind)
        if spec is None:
            spec = self.specs[kind] = neural_spec(kind)
        return spec

    def estimate(self, spec: WorkerSpec) -> int:
        """Bytes the worker of ``spec`` is expected to hold: measured before, given, or model + overhead.

        Raises:
            UsageError: its model is not installed.
        """
        measured = self._footprints.get(spec.key)
        if measured is not None:
            return measured
        if spec.footprint is not None:
            return spec.footprint
        return model_bytes(spec.model) + config.WORKER_OVERHEAD_BYTES

    async def ref(self, kind: str) -> UnitRef:
        """The unit of ``kind``, started now if it is not running; marks it used.

        Raises:
            BudgetError: it cannot fit under the budget even with every idle worker evicted.
            UsageError: unknown kind, or its model is not installed.
            UnitError: its worker failed to start.
        """
        worker = await self._ensure(kind)
        worker.last_used = time.time()
        return worker.ref

    @contextlib.asynccontextmanager
    async def acquire(self, kind: str) -> AsyncIterator[UnitRef]:
        """Hold the unit of ``kind`` (starting it if need be): it is busy, never evicted, until the block ends.

        Raises:
            BudgetError, UsageError, UnitError: as :meth:`ref`.
        """
        worker = await self._ensure(kind, lease=True)
        worker.last_used = time.time()
        try:
            yield worker.ref
        finally:
            worker.leases -= 1
            worker.last_used = time.time()

    async def request(self, kind: str, artifact: Artifact, *, timeout: float | None = None) -> Artifact:
        """Send ``artifact`` to the unit of ``kind`` (held for the request) and return its reply.

        Raises:
            BudgetError, UsageError, UnitError: as :meth:`ref`.
            RequestTimeout: no reply within ``timeout``.
        """
        async with self.acquire(kind) as ref:
            return await ref.request(artifact, timeout=timeout)

    async def evict(self, kind: str) -> None:
        """Stop the worker of ``kind`` now, if it runs and is idle (to free its memory).

        Raises:
            UsageError: it is busy.
        """
        worker = self._workers.get(kind)
        if worker is None:
            return
        if worker.busy:
            raise UsageError(f"cannot evict {kind!r}: it is busy with a request")
        await self._stop(kind)
        self.evictions.append(kind)
        self.sample(write=True)

    def measure(self) -> MemoryReport:
        """Resident bytes of this process (with any other children), of each worker, and in all, now.

        Every page counts once: see :func:`~smolcpu.vm._lifecycle_status.resident`.
        """
        return _report(_measure_pids(self._pids()))

    def sample(self, *, write: bool = False) -> MemoryReport:
        """Measure now: follow restarts, update each worker's figures and the peak, write the status.

        The status file is written at most once a second unless ``write``.
        """
        self._follow_restarts()
        return self._record(self.measure(), write=write)

    def _pids(self) -> list[tuple[str, int]]:
        """Each worker's kind and pid, oldest first (the order their shared pages are counted in)."""
        return [(kind, worker.pid) for kind, worker in sorted(self._workers.items(), key=lambda item: item[1].started)]

    def _record(self, report: MemoryReport, *, write: bool) -> MemoryReport:
        """Take a measurement in: figures of the workers still running, the peak, what they taught."""
        self.peak = max(self.peak, report.total)
        for kind, memory in report.workers.items():
            worker = self._workers.get(kind)
            if worker is None:
                continue
            worker.memory = memory
            if memory > worker.peak:
                worker.peak = self._footprints[worker.spec.key] = self._unsaved[worker.spec.key] = memory
        now = time.monotonic()
        if self.status_file is not None and (write or now - self._last_written >= 1.0):
            self._last_written = now
            if self._unsaved:
                save_footprints(self._unsaved)
                self._unsaved = {}
            write_json(self.status_file, self.snapshot(report))
        return report

    def snapshot(self, report: MemoryReport | None = None) -> dict[str, Any]:
        """What the status file holds: owner, budget, memory, units and model workers."""
        report = report or self.measure()
        units = []
        for ref in self.system.units():
            with contextlib.suppress(UnitStopped):
                units.append({"name": ref.name, "pid": ref.pid})
        return {
            "owner": os.getpid(),
            "owner_started": started_at(os.getpid()),
            "address": self.system.address,
            "updated": time.time(),
            "budget": self.budget,
            "main": report.main,
            "total": report.total,
            "peak": self.peak,
            "units": units,
            "workers": [worker.to_dict() for worker in self.workers],
        }

    async def _ensure(self, kind: str, *, lease: bool = False) -> ModelWorker:
        """The running worker of ``kind`` (started if need be), leased if asked, before any await can evict it."""
        if self.state is not LifecycleState.RUNNING:
            raise UsageError(f"this Lifecycle is {self.state.value}; use it inside 'async with Lifecycle(...)'")
        worker = self._live(kind)
        if worker is None:
            async with self._start_lock:
                worker = self._live(kind) or await self._start(kind)
        if lease:
            worker.leases += 1
        return worker

    def _live(self, kind: str) -> ModelWorker | None:
        """The worker of ``kind`` if its unit still runs; forget it if supervision stopped it."""
        worker = self._workers.get(kind)
        if worker is None:
            return None
        try:
            worker.ref.pid  # noqa: B018  (raises once the unit has stopped)
        except UnitStopped:
            del self._workers[kind]
            return None
        return worker

    async def _start(self, kind: str) -> ModelWorker:
        spec = self.spec(kind)
        need = self.estimate(spec)
        await self._make_room(kind, need)
        ref = await self.system.spawn(f"lifecycle.{kind}", spec.factory, process=True)
        now = time.time()
        worker = ModelWorker(spec, ref, ref.pid, started_at(ref.pid), expected=need, started=now, last_used=now)
        self._workers[kind] = worker
        report = self.sample(write=True)
        log.info(
            "started %s (pid %d): %s measured, %s estimated",
            kind, worker.pid, megabytes(worker.memory), megabytes(need),
        )
        if report.total > self.budget:
            await self._shed(keep=kind)
        return worker

    async def _make_room(self, kind: str, need: int) -> None:
        """Evict least recently used idle workers until ``need`` more bytes fit, or raise."""
        while True:
            used = self._reserved(self.measure())
            if used + need <= self.budget:
                return
            idle = [worker for worker in self.workers if not worker.busy]
            if not idle:
                busy = ", ".join(worker.spec.kind for worker in self._workers.values()) or "none"
                model = self.spec(kind).model
                smaller = " (e.g. SMOL_LLM_MODEL=qwen2.5-coder-0.5b)" if kind == "llm" else ""
                raise BudgetError(
                    f"cannot start unit {kind!r}{f' with model {model}' if model else ''}: it needs about"
                    f" {megabytes(need)} and Smol already uses {megabytes(used)} of its"
                    f" {megabytes(self.budget)} memory budget, with no idle worker left to evict (busy:"
                    f" {busy}); use a smaller model{smaller}, or a bigger budget (SMOL_MEMORY_BUDGET=<bytes>)"
                )
            await self.evict(idle[0].spec.kind)

    def _reserved(self, report: MemoryReport) -> int:
        """What is in use, each worker counted at least at its footprint: a worker between two
        requests holds less than while it computes, and will again."""
        reserved = report.main
        for kind, memory in report.workers.items():
            worker = self._workers[kind]
            reserved += max(memory, self._footprints.get(worker.spec.key, worker.expected))
        return reserved

    async def _shed(self, *, keep: str) -> None:
        """After a worker measured bigger than estimated: evict idle others until back under the budget."""
        while self.measure().total > self.budget:
            idle = [worker for worker in self.workers if not worker.busy and worker.spec.kind != keep]
            if not idle:
                log.warning("over the memory budget (%s) with nothing idle to evict", megabytes(self.budget))
                return
            await self.evict(idle[0].spec.kind)

    async def _stop(self, kind: str) -> None:
        worker = self._workers.pop(kind, None)
        if worker is not None:
            await worker.ref.poison()
            log.info("stopped %s (pid %d, %s)", kind, worker.pid, megabytes(worker.memory))

    def _follow_restarts(self) -> None:
        """Account for workers that supervision restarted (new process) or stopped (gone)."""
        for kind in list(self._workers):
            worker = self._live(kind)
            if worker is None:
                continue
            pid = worker.ref.pid
            if pid != worker.pid:
                worker.pid, worker.pid_started, worker.memory = pid, started_at(pid), 0
            started_ns = int(worker.started * 1e9)
            worker.restarts = sum(
                1
                for event in list(self.system.events)
                if event.attr("unit") == worker.ref.name
                and event.attr("event") == "restarting"
                and event.timestamp >= started_ns
            )

    async def _sampler(self) -> None:
        """Sample every ``sample_every`` seconds; reading ``smaps`` takes a while, so off the loop."""
        while True:
            await asyncio.sleep(self.sample_every)
            self._follow_restarts()
            report = _report(await asyncio.to_thread(_measure_pids, self._pids()))
            self._record(report, write=False)


def _measure_pids(workers: list[tuple[str, int]]) -> dict[str, int]:
    """Resident bytes of each worker's process tree by kind, and of the rest of this process's under ``""``."""
    trees = {kind: process_tree(pid) for kind, pid in workers}
    owned = {pid for tree in trees.values() for pid in tree}
    main = [pid for pid in process_tree(os.getpid()) if pid not in owned]
    return resident({"": main, **trees})


def _report(sizes: dict[str, int]) -> MemoryReport:
    main = sizes.pop("")
    return MemoryReport(main=main, workers=sizes, total=main + sum(sizes.values()))


__all__ = [
    "NEURAL_KINDS",
    "Lifecycle",
    "LifecycleState",
    "MemoryReport",
    "ModelWorker",
    "WorkerSpec",
    "megabytes",
    "model_bytes",
    "neural_spec",
]
