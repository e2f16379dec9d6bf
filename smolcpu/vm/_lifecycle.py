"""Lifecycle: model workers started on first use and kept, all together, under the memory budget.

``async with Lifecycle(system) as lifecycle:`` owns the units that hold a neural net (the
kinds ``llm``, ``classify``, ``detect``, ``embed``, or any :class:`WorkerSpec` given), each
kind with given parameters a unit of its own, in worker processes::

    reply = await lifecycle.request("embed", Artifact.text("hello"))
    async with lifecycle.acquire("llm", params={"model": "smollm2"}) as llm:  # held: never evicted meanwhile
        answer = await llm.request(question)
    ref = await lifecycle.ref("classify")             # started if need be, marked used

A worker process hosts one unit, or a group of small ones: the kinds of a group in
``shared`` (by default ``classify``, ``detect`` and ``embed``, the ``onnx`` worker), asked
for without parameters, are loaded together in one process by a
:class:`~smolcpu.units._host.UnitHost`, which saves each of them a Python of its own; each
is reached through a small front unit in this process. Lifecycle accounts, evicts and
reports per process: evicting the group's worker stops all of its units.

Before a worker starts, Lifecycle estimates what it will hold (its model files plus
``config.WORKER_OVERHEAD_BYTES``, or what the same worker measured last time) and stops the
least recently used idle workers until the estimate fits under the budget; when it cannot
fit even then, :class:`~smolcpu.errors.BudgetError` says so and no process is started. A
worker is busy while a lease (``acquire`` or ``request``) is held or one of its units has
work in hand (the runtime's idle check): busy workers are never evicted. A ref kept from
``ref()`` may find its unit evicted later (``UnitStopped``), and ``ref()`` again restarts it.

A crashed worker is restarted by the runtime's supervision; Lifecycle sees the new process
(its pid, the ``restarting`` events) and accounts for it. Memory is measured, every page
counted once (see :mod:`smolcpu.vm._lifecycle_status`), every ``config.MEMORY_SAMPLE_S``
seconds and after every change; the peak is kept, and the state is written to the status
file that ``smol status`` reads.

Lifecycle also owns the cores: while an LLM worker works, a :class:`~smolcpu.vm._cores.CoreKeeper`
looks every ``config.CORES_SAMPLE_S`` seconds and keeps every other process of Smol (this
one and the sandbox snippets it starts, the ONNX worker) off the LLM's cores when they are
busy beside it (see :mod:`smolcpu.vm._cores` for why and how).
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
from smolcpu.runtime import ActorSystem, Unit, UnitRef
from smolcpu.vm._cores import CoreKeeper
from smolcpu.vm._lifecycle_status import (
    load_footprints,
    process_parents,
    process_tree,
    resident,
    save_footprints,
    started_at,
    status_dir,
    subtree,
    write_json,
)

log = logging.getLogger("smolcpu.vm")

NEURAL_KINDS = ("llm", "classify", "detect", "embed")
"""The unit kinds Lifecycle knows without being told: those that hold a neural net."""

SHARED_WORKERS: dict[str, tuple[str, ...]] = {"onnx": ("classify", "detect", "embed")}
"""Kinds that share one worker process (named by the key) when asked for without parameters."""

HOST = "smolcpu.units._host:UnitHost"
"""The unit that hosts a shared worker's units in its process."""

MODEL_PARAMETERS = ("model", "model_path")
"""Parameters that name the model a unit loads (what its estimate is made from)."""

PROCESSES_KEPT_S = 2.0
"""How long the background looks (memory, cores) keep using one lookup of Smol's processes.
A lookup reads every process of the machine, several times a second it held the GIL long
enough to delay requests; a process started since inherits its parent's cores, and is
measured at the next lookup."""

MB = 1024**2

Params = tuple[tuple[str, Any], ...]
"""A unit's parameters, sorted by name (so the same parameters make the same unit)."""


def megabytes(size: int) -> str:
    """``size`` bytes as a short figure for messages and tables."""
    return f"{size / MB:,.0f} MB"


def unit_name(kind: str, params: Params = ()) -> str:
    """What Lifecycle calls the unit of ``kind`` with ``params``: ``llm``, ``llm(model='smollm2')``."""
    if not params:
        return kind
    return f"{kind}({','.join(f'{key}={value!r}' for key, value in params)})"


@dataclasses.dataclass(frozen=True, slots=True)
class WorkerSpec:
    """How to start the unit of one kind (with its parameters), and what it is expected to hold.

    Args:
        kind: the name Lifecycle is asked for (``"llm"``).
        factory: the unit's importable factory, ``"module:Name"`` (it runs in a worker process).
        model: the registry name or file of its model, for the estimate and ``smol status``.
        footprint: bytes it holds once loaded, if known; else estimated from the model file.
        params: keyword arguments of ``factory``, sorted by name.
    """

    kind: str
    factory: str
    model: str | None = None
    footprint: int | None = None
    params: Params = ()

    @property
    def name(self) -> str:
        """The unit's name among Lifecycle's: its kind, with its parameters if any."""
        return unit_name(self.kind, self.params)

    @property
    def key(self) -> str:
        """What measured footprints are remembered by: the same factory, model and parameters weigh the same."""
        return f"{self.factory}@{self.model or ''}{repr(self.params) if self.params else ''}"

    def with_params(self, params: Mapping[str, Any]) -> WorkerSpec:
        """This spec for the unit made with ``params`` (a model among them replaces the default).

        The parameters are the factory's to check, in the worker: a unit that does not take
        them fails to start (``UnitError``).
        """
        if not params:
            return self
        model = next((str(params[name]) for name in MODEL_PARAMETERS if params.get(name)), None)
        changes: dict[str, Any] = {"params": tuple(sorted(params.items()))}
        if model is not None:
            changes |= {"model": model, "footprint": None}
        return dataclasses.replace(self, **changes)


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


def footprint_key(specs: tuple[WorkerSpec, ...]) -> str:
    """What the measured footprint of a worker hosting ``specs`` is remembered by."""
    return "+".join(spec.key for spec in specs)


def _busy(ref: UnitRef) -> bool:
    try:
        return ref.busy
    except UnitStopped:
        return False


class Front(Unit):
    """In this process, the face of one unit hosted in a shared worker: it forwards each request.

    The host tells its units apart by who sends: this front's name is ``<host name>.<kind>``.
    """

    def __init__(self, *, host: UnitRef) -> None:
        self.host = host

    async def handle(self, ctx: Any, sender: Any, artifact: Artifact) -> Artifact:
        return await self.host.request(artifact, timeout=config.STEP_TIMEOUT_S)


@dataclasses.dataclass(slots=True)
class ModelWorker:
    """One running worker process as Lifecycle accounts for it, with the units it hosts.

    ``ref`` is the unit of the process (the host of a shared worker); ``units`` what callers
    get, by unit name (for a worker of one unit, ``ref`` itself).
    """

    name: str
    specs: tuple[WorkerSpec, ...]
    ref: UnitRef
    units: dict[str, UnitRef]
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
    def key(self) -> str:
        return footprint_key(self.specs)

    @property
    def busy(self) -> bool:
        """Held by a lease, or one of its units has work in hand (then evicting it would lose that work)."""
        return self.leases > 0 or any(_busy(ref) for ref in {self.ref, *self.units.values()})

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.name,
            "unit": self.ref.name,
            "units": sorted(self.units),
            "model": ", ".join(spec.model for spec in self.specs if spec.model) or None,
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
    """One measurement: resident bytes of the main process, of each worker (by name), and in all."""

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
        shared: kinds that share one worker process, by its name (:data:`SHARED_WORKERS`;
            ``{}`` gives every unit a process of its own).
        sample_every: seconds between measurements (``config.MEMORY_SAMPLE_S``).
        status: write the state for ``smol status`` (to ``<SMOL_HOME>/lifecycle/<pid>.json``).
        cores: who decides which process runs on which core while an LLM works: by default a
            :class:`CoreKeeper` on the cores this process may use; ``False``: nobody, every
            process runs on every core.
    """

    def __init__(
        self,
        system: ActorSystem,
        *,
        budget: int | None = None,
        specs: Mapping[str, WorkerSpec] | None = None,
        shared: Mapping[str, tuple[str, ...]] | None = None,
        sample_every: float | None = None,
        status: bool = True,
        cores: CoreKeeper | bool = True,
    ) -> None:
        self.system = system
        self.budget = config.MEMORY_BUDGET_BYTES if budget is None else budget
        self.specs = dict(specs or {})
        self.shared = dict(SHARED_WORKERS if shared is None else shared)
        self.sample_every = config.MEMORY_SAMPLE_S if sample_every is None else sample_every
        self._parents: tuple[float, dict[int, int]] = (float("-inf"), {})  # (when looked up, what was found)
        self.status_file: Path | None = status_dir() / f"{os.getpid()}.json" if status else None
        self.state = LifecycleState.NEW
        self.peak = 0
        self.evictions: list[str] = []
        self._workers: dict[str, ModelWorker] = {}
        self._hosted: dict[str, str] = {}
        self._retired: list[UnitRef] = []
        self._footprints = load_footprints()
        self._unsaved: dict[str, int] = {}
        self._start_lock = asyncio.Lock()
        self._tasks = asyncio.TaskGroup()
        self._sampling: asyncio.Task[None] | None = None
        self.cores = cores if isinstance(cores, CoreKeeper) else CoreKeeper() if cores else None
        self._core_task: asyncio.Task[None] | None = None
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
        if self.cores is not None and len(self.cores.cpus) > 1:
            self._core_task = self._tasks.create_task(self._keep_cores(), name="lifecycle:cores")
        self.sample()
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, traceback: Any) -> None:
        self.state = LifecycleState.CLOSED
        try:
            await asyncio.gather(*(self._stop(name) for name in list(self._workers)), return_exceptions=True)
            await self._stop_retired()
        finally:
            for task in (self._sampling, self._core_task):
                if task is not None:
                    task.cancel()
            await self._tasks.__aexit__(None, None, None)
            if self.cores is not None:
                self.cores.release(process_tree(os.getpid()))
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

    def estimate(self, *specs: WorkerSpec) -> int:
        """Bytes a worker hosting ``specs`` is expected to hold: measured before (unless that
        measure is past the whole budget), or given footprints and model files plus one
        ``config.WORKER_OVERHEAD_BYTES``.

        Raises:
            UsageError: a model is not installed.
        """
        measured = self._footprints.get(footprint_key(specs))
        if measured is not None and measured <= self.budget:
            return measured  # a measure past the budget (an older Smol's) would refuse the worker for good
        given = sum(spec.footprint for spec in specs if spec.footprint is not None)
        unknown = [spec for spec in specs if spec.footprint is None]
        overhead = config.WORKER_OVERHEAD_BYTES if unknown else 0
        return given + sum(model_bytes(spec.model) for spec in unknown) + overhead

    async def ref(self, kind: str, *, params: Mapping[str, Any] | None = None) -> UnitRef:
        """The unit of ``kind`` made with ``params``, started now if it is not running; marks it used.

        Raises:
            BudgetError: it cannot fit under the budget even with every idle worker evicted.
            UsageError: unknown kind, parameters it does not take, or its model is not installed.
            UnitError: its worker failed to start.
        """
        worker, ref = await self._ensure(kind, params)
        worker.last_used = time.time()
        return ref

    @contextlib.asynccontextmanager
    async def acquire(self, kind: str, *, params: Mapping[str, Any] | None = None) -> AsyncIterator[UnitRef]:
        """Hold the unit of ``kind`` with ``params`` (started if need be): never evicted until the block ends.

        Raises:
            BudgetError, UsageError, UnitError: as :meth:`ref`.
        """
        worker, ref = await self._ensure(kind, params, lease=True)
        worker.last_used = time.time()
        try:
            yield ref
        finally:
            worker.leases -= 1
            worker.last_used = time.time()

    async def request(
        self,
        kind: str,
        artifact: Artifact,
        *,
        params: Mapping[str, Any] | None = None,
        timeout: float | None = None,
    ) -> Artifact:
        """Send ``artifact`` to the unit of ``kind`` with ``params`` (held for the request); its reply.

        Raises:
            BudgetError, UsageError, UnitError: as :meth:`ref`.
            RequestTimeout: no reply within ``timeout``.
        """
        async with self.acquire(kind, params=params) as ref:
            return await ref.request(artifact, timeout=timeout)

    async def evict(self, name: str) -> None:
        """Stop worker ``name`` (or the one hosting unit ``name``) now, if it runs and is idle.

        Raises:
            UsageError: it is busy.
        """
        name = name if name in self._workers else self._hosted.get(name, name)
        worker = self._workers.get(name)
        if worker is None:
            return
        if worker.busy:
            raise UsageError(f"cannot evict {name!r}: it is busy with a request")
        await self._stop(name)
        self.evictions.append(name)
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
        """Each worker's name and pid, oldest first (the order their shared pages are counted in)."""
        return [(name, worker.pid) for name, worker in sorted(self._workers.items(), key=lambda item: item[1].started)]

    def _record(self, report: MemoryReport, *, write: bool) -> MemoryReport:
        """Take a measurement in: figures of the workers still running, the peak, what they taught."""
        self.peak = max(self.peak, report.total)
        for name, memory in report.workers.items():
            worker = self._workers.get(name)
            if worker is None:
                continue
            worker.memory = memory
            if memory > worker.peak:
                worker.peak = self._footprints[worker.key] = self._unsaved[worker.key] = memory
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
            "cores": self.cores.plan.to_dict() if self.cores is not None else None,
        }

    async def _ensure(
        self, kind: str, params: Mapping[str, Any] | None, *, lease: bool = False
    ) -> tuple[ModelWorker, UnitRef]:
        """The running worker hosting ``kind`` with ``params`` (started if need be) and the unit's ref,
        leased if asked, before any await can evict it."""
        if self.state is not LifecycleState.RUNNING:
            raise UsageError(f"this Lifecycle is {self.state.value}; use it inside 'async with Lifecycle(...)'")
        given = tuple(sorted((params or {}).items()))
        name = unit_name(kind, given)
        worker = self._hosting(name)
        if worker is None:
            async with self._start_lock:
                worker = self._hosting(name) or await self._start(kind, dict(given))
        if lease:
            worker.leases += 1
        return worker, worker.units[name]

    def _hosting(self, unit: str) -> ModelWorker | None:
        """The live worker that hosts ``unit``, if any."""
        worker = self._live(self._hosted.get(unit, ""))
        return worker if worker is not None and unit in worker.units else None

    def _live(self, name: str) -> ModelWorker | None:
        """Worker ``name`` if its process unit and every unit reaching it still run; forget it
        (and stop what is left of it) once supervision stopped any of them: a front that gave
        up when its host died can linger a moment after the host is restarted or stopped."""
        worker = self._workers.get(name)
        if worker is None:
            return None
        try:
            for ref in (worker.ref, *worker.units.values()):
                ref.pid  # noqa: B018  (raises once the unit has stopped)
        except UnitStopped:
            self._forget(worker)
            self._retired += [ref for ref in worker.units.values() if ref != worker.ref] + [worker.ref]
            return None
        return worker

    def _forget(self, worker: ModelWorker) -> None:
        del self._workers[worker.name]
        for unit in worker.units:
            if self._hosted.get(unit) == worker.name:
                del self._hosted[unit]

    def _plan(self, kind: str, params: dict[str, Any]) -> tuple[str, tuple[WorkerSpec, ...]]:
        """The worker to start for ``kind`` with ``params``: its name and the specs of what it hosts.

        A kind of a shared group goes into the group's worker with every other kind of the
        group whose model is installed, unless it has parameters or the group's worker runs
        already (without it: its model came later); then, as any other, into a worker of its own.
        """
        group = next((group for group, kinds in self.shared.items() if kind in kinds), None)
        if group is None or params or group in self._workers:
            spec = self.spec(kind).with_params(params)
            return spec.name, (spec,)
        self.spec(kind)
        return group, tuple(self.spec(other) for other in self.shared[group] if other == kind or self._free(other))

    def _free(self, kind: str) -> bool:
        """Whether ``kind`` may join a shared worker: not running elsewhere, its model installed."""
        if kind in self._hosted:
            return False
        try:
            model_bytes(self.spec(kind).model)
        except UsageError:
            return False
        return True

    async def _start(self, kind: str, params: dict[str, Any]) -> ModelWorker:
        await self._stop_retired()
        name, specs = self._plan(kind, params)
        need = self.estimate(*specs)
        await self._make_room(kind, need)
        if name in self.shared:
            units = {spec.kind: (spec.factory, dict(spec.params)) for spec in specs}
            ref = await self.system.spawn(f"lifecycle.{name}", HOST, kwargs={"units": units}, process=True)
            try:
                fronts = {
                    spec.name: await self.system.spawn(f"{ref.name}.{spec.kind}", Front, kwargs={"host": ref})
                    for spec in specs
                }
            except BaseException:
                await ref.stop()
                raise
        else:
            (spec,) = specs
            ref = await self.system.spawn(f"lifecycle.{name}", spec.factory, kwargs=dict(spec.params), process=True)
            fronts = {name: ref}
        now = time.time()
        worker = ModelWorker(
            name, specs, ref, fronts, ref.pid, started_at(ref.pid), expected=need, started=now, last_used=now
        )
        self._workers[name] = worker
        self._hosted |= dict.fromkeys(fronts, name)
        report = self.sample(write=True)
        log.info(
            "started %s (pid %d, hosting %s): %s measured, %s estimated",
            name, worker.pid, ", ".join(fronts), megabytes(worker.memory), megabytes(need),
        )  # fmt: skip
        if report.total > self.budget:
            await self._shed(keep=name)
        return worker

    async def _make_room(self, kind: str, need: int) -> None:
        """Evict least recently used idle workers until ``need`` more bytes fit, or raise, and
        raise before evicting any when it would not fit even with every idle one gone."""
        while True:
            report = self.measure()
            held = self._held(report)
            used = report.main + sum(held.values())
            if used + need <= self.budget:
                return
            idle = [worker for worker in self.workers if not worker.busy]
            if not idle or used - sum(held.get(worker.name, 0) for worker in idle) + need > self.budget:
                busy = ", ".join(worker.name for worker in self.workers if worker.busy) or "none"
                model = self.spec(kind).model
                smaller = " (e.g. SMOL_LLM_MODEL=qwen2.5-coder-0.5b)" if kind == "llm" else ""
                left = "even with every idle worker evicted" if idle else "with no idle worker left to evict"
                raise BudgetError(
                    f"cannot start unit {kind!r}{f' with model {model}' if model else ''}: it needs about"
                    f" {megabytes(need)} and Smol already uses {megabytes(used)} of its"
                    f" {megabytes(self.budget)} memory budget, {left} (busy: {busy});"
                    f" use a smaller model{smaller}, or a bigger budget (SMOL_MEMORY_BUDGET=<bytes>)"
                )
            await self.evict(idle[0].name)

    def _held(self, report: MemoryReport) -> dict[str, int]:
        """What each worker holds, counted at least at its footprint: a worker between two
        requests holds less than while it computes, and will again."""
        held = {}
        for name, memory in report.workers.items():
            worker = self._workers[name]
            held[name] = max(memory, self._footprints.get(worker.key, worker.expected))
        return held

    async def _shed(self, *, keep: str) -> None:
        """After a worker measured bigger than estimated: evict idle others until back under the budget."""
        while self.measure().total > self.budget:
            idle = [worker for worker in self.workers if not worker.busy and worker.name != keep]
            if not idle:
                log.warning("over the memory budget (%s) with nothing idle to evict", megabytes(self.budget))
                return
            await self.evict(idle[0].name)

    async def _stop(self, name: str) -> None:
        worker = self._workers.get(name)
        if worker is None:
            return
        self._forget(worker)
        await worker.ref.poison()
        await asyncio.gather(*(ref.stop() for ref in worker.units.values() if ref != worker.ref))
        log.info("stopped %s (pid %d, %s)", name, worker.pid, megabytes(worker.memory))

    async def _stop_retired(self) -> None:
        """Stop what is left of workers that supervision stopped in part (their names are wanted again)."""
        retired, self._retired = self._retired, []
        await asyncio.gather(*(ref.stop() for ref in retired))

    def _follow_restarts(self) -> None:
        """Account for workers that supervision restarted (new process) or stopped (gone)."""
        for name in list(self._workers):
            worker = self._live(name)
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
            report = _report(await asyncio.to_thread(_measure_pids, self._pids(), self._known_parents()))
            self._record(report, write=False)


    async def _keep_cores(self) -> None:
        """While an LLM worker works, place every process of Smol on its cores (see ``_cores``)."""
        assert self.cores is not None
        every = self.cores.cpus
        while True:
            await asyncio.sleep(config.CORES_SAMPLE_S)
            llm = [worker for worker in self._workers.values() if any(spec.kind == "llm" for spec in worker.specs)]
            llm_busy = any(worker.busy for worker in llm)
            if llm_busy or self.cores.plan.others != every:
                await asyncio.to_thread(self._place_cores, [worker.pid for worker in llm], llm_busy)

    def _place_cores(self, llm_pids: list[int], llm_busy: bool) -> None:
        assert self.cores is not None
        parents = self._known_parents()
        llm = {pid for worker in llm_pids for pid in subtree(parents, worker)}
        others = [pid for pid in subtree(parents, os.getpid()) if pid not in llm]
        self.cores.look(llm=llm, others=others, llm_busy=llm_busy)

    def _known_parents(self) -> dict[int, int]:
        """Smol's processes and their parents, looked up again once :data:`PROCESSES_KEPT_S` have passed."""
        looked, parents = self._parents
        now = time.monotonic()
        if now - looked > PROCESSES_KEPT_S:
            parents = process_parents(os.getpid())
            self._parents = (now, parents)
        return parents


def _measure_pids(workers: list[tuple[str, int]], parents: dict[int, int] | None = None) -> dict[str, int]:
    """Resident bytes of each worker's process tree by name, and of the rest of this process's
    under ``""``; the trees as ``parents`` has them (by default as they are now)."""
    parents = process_parents(os.getpid()) if parents is None else parents
    trees = {name: subtree(parents, pid) for name, pid in workers}
    owned = {pid for tree in trees.values() for pid in tree}
    main = [pid for pid in subtree(parents, os.getpid()) if pid not in owned]
    return resident({"": main, **trees})


def _report(sizes: dict[str, int]) -> MemoryReport:
    main = sizes.pop("")
    return MemoryReport(main=main, workers=sizes, total=main + sum(sizes.values()))


__all__ = [
    "NEURAL_KINDS",
    "PROCESSES_KEPT_S",
    "SHARED_WORKERS",
    "Front",
    "Lifecycle",
    "LifecycleState",
    "MemoryReport",
    "ModelWorker",
    "WorkerSpec",
    "footprint_key",
    "megabytes",
    "model_bytes",
    "neural_spec",
    "unit_name",
]
