"""The actor system: where units are spawned, run one artifact at a time, and are supervised.

``async with ActorSystem() as system:`` owns one TaskGroup; every unit's loop, every worker
link and every watcher is a task in it, so nothing outlives the ``async with``. Leaving it
normally drains (waits until every mailbox is empty and every unit idle, up to
``config.SHUTDOWN_TIMEOUT_S``) and then stops everything; leaving it on an exception stops at
once. Pending requesters always get an answer: a reply, an error artifact, or an exception.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import logging
import os
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from smolcpu import config
from smolcpu.artifact import Artifact, open_store
from smolcpu.errors import UnitError, UnitNameExists, UnitStopped, UsageError
from smolcpu.runtime._mailbox import POISON, Envelope, Mailbox, Reply
from smolcpu.runtime._placement import Placement, configured_placement
from smolcpu.runtime._recorder import Recorder, Store
from smolcpu.runtime._ref import CURRENT, ROUTERS, UnitRef
from smolcpu.runtime._supervision import Directive, Failure, OneForOne
from smolcpu.runtime._unit import Unit

log = logging.getLogger("smolcpu.runtime")

EVENTS_KEPT = 1000
"""Lifecycle events an ActorSystem keeps in ``events`` (the store keeps all when recording)."""

_IDLE_POLL_S = 0.002

UnitFactory = Callable[[], Unit]

USE_CONFIG: Any = object()
"""The default of ``ActorSystem(cluster=...)``: the cluster ``SMOL_CLUSTER`` names, if any."""


def lifecycle_event(event: str, unit: str, **details: Any) -> Artifact:
    """A system artifact saying that ``unit`` has ``event`` (started, restarting, stopped...)."""
    return Artifact.json(
        {"event": event, "unit": unit, **details},
        origin="runtime",
        role="system",
        attributes={"event": event, "unit": unit},
    )


def is_lifecycle_event(artifact: Artifact) -> bool:
    """Whether ``artifact`` is a lifecycle event rather than ordinary mail."""
    return artifact.role == "system" and artifact.attr("event") is not None


def error_reply(message: str, *, kind: str, unit: str, artifact: Artifact | None) -> Artifact:
    """The error artifact a requester gets instead of a reply; it keeps the request's run."""
    attributes = {}
    parents: tuple[str, ...] = ()
    if artifact is not None:
        parents = (artifact.id,)
        run = artifact.attr("run")
        if run is not None:
            attributes["run"] = run
    return Artifact.error(
        message, kind=kind, origin=unit, role="runtime", parents=parents, attributes=attributes
    )


class _Escalation:
    """System mail to a parent: a child gave up, so the parent is deemed to have failed."""

    __slots__ = ("failure",)

    def __init__(self, failure: Failure) -> None:
        self.failure = failure


class UnitState(enum.Enum):
    STARTING = "starting"
    RUNNING = "running"
    STOPPED = "stopped"


class Ctx:
    """What a unit's ``init`` and ``handle`` get: its own ref, its peers, spawn and pub/sub."""

    __slots__ = ("_system", "_cell")

    def __init__(self, system: ActorSystem, cell: Cell) -> None:
        self._system = system
        self._cell = cell

    def self(self) -> UnitRef:
        """This unit's ref."""
        return self._cell.ref

    def units(self) -> list[UnitRef]:
        """Every unit running in this actor system."""
        return self._system.units()

    async def spawn(self, name: str, factory: UnitFactory | str, **options: Any) -> UnitRef:
        """Start a child unit (same options as :meth:`ActorSystem.spawn`); it stops with this one."""
        return await self._system.spawn(name, factory, parent=self._cell, **options)

    async def subscribe(self, other: UnitRef) -> None:
        """From now on receive what ``other`` publishes (and its lifecycle events)."""
        router = ROUTERS.get(other.address)
        if router is None:
            raise UnitStopped(f"cannot subscribe to {other.name!r}: its actor system is gone")
        await router.subscribe(other.name, self._cell.ref)

    async def publish(self, artifact: Artifact) -> None:
        """Send ``artifact`` to every subscriber of this unit."""
        await self._cell.publish(artifact)

    def emit(self, artifact: Artifact) -> None:
        """Stream one part of the reply to the request being handled (before the final reply)."""
        envelope = self._cell.current
        if envelope is not None and envelope.reply is not None:
            self._system.record(artifact)
            envelope.reply.emit(artifact)

    def __repr__(self) -> str:
        return f"<Ctx of {self._cell.ref.name!r}>"


class CellBase:
    """What every kind of cell is to its actor system, wherever its unit lives: a name and a
    ref, a place in the supervision tree, the refs watching it, and a future of its end."""

    def __init__(
        self, system: ActorSystem, name: str, *, address: str, parent: Cell | None, supervisor: OneForOne
    ) -> None:
        self.system = system
        self.name = name
        self.parent = parent
        self.supervisor = supervisor
        self.ref = UnitRef(name, address)
        self.subscribers: dict[UnitRef, None] = {}
        self.children: dict[str, Any] = {}
        self.state = UnitState.STARTING
        self.stopped: asyncio.Future[None] = asyncio.get_running_loop().create_future()


class Cell(CellBase):
    """A unit living in this process: its mailbox, its loop task and its supervision."""

    def __init__(
        self,
        system: ActorSystem,
        name: str,
        factory: UnitFactory,
        *,
        parent: Cell | None,
        supervisor: OneForOne,
        mailbox_size: int,
        address: str,
    ) -> None:
        super().__init__(system, name, address=address, parent=parent, supervisor=supervisor)
        self.factory = factory
        self.mailbox = Mailbox(mailbox_size)
        self.ctx = Ctx(system, self)
        self.current: Envelope | None = None
        self._abandoning = False
        self.unit: Unit | None = None
        self.task: asyncio.Task[None] | None = None
        self.uplink: Any = None

    @property
    def pid(self) -> int:
        return os.getpid()

    @property
    def idle(self) -> bool:
        return self.current is None and not len(self.mailbox)

    def __repr__(self) -> str:
        return f"<Cell {self.name!r} {self.state.value} {self.mailbox!r}>"

    async def start(self) -> None:
        """Run the unit's loop; return once ``init`` has run (raise if it failed)."""
        started: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.task = self.system.tasks.create_task(self._run(started), name=f"unit:{self.name}")
        await started

    def try_put(self, envelope: Envelope) -> bool:
        mailbox = self.mailbox
        return not mailbox.closed and mailbox.try_put(envelope)

    async def put(self, envelope: Envelope, *, timeout: float) -> None:
        if not self.mailbox.try_put(envelope):
            await self.mailbox.put(envelope, timeout=timeout)

    def put_system(self, envelope: Any) -> None:
        self.mailbox.put_system(envelope)

    async def publish(self, artifact: Artifact) -> None:
        if self.uplink is not None:
            await self.uplink.publish(self.name, artifact)
        else:
            await self.system.fan_out(self.ref, self.subscribers, artifact)

    def abandon(self, reply: Reply) -> None:
        """Stop working on the request ``reply`` answers (its requester gave up): cancel
        ``handle`` if it is the one in hand; a queued one is skipped when its turn comes."""
        current = self.current
        if current is not None and current.reply is reply and self.task is not None and not self._abandoning:
            self._abandoning = True
            self.task.cancel()

    def terminate(self) -> None:
        """Cancel the loop without waiting (used when a parent stops)."""
        if self.task is not None and not self.task.done():
            self.task.cancel()

    async def stop(self, *, drain: bool) -> None:
        """Stop now (cancel) or, with ``drain``, after the queued mail; wait until stopped."""
        if self.state is UnitState.STOPPED:
            return
        own = asyncio.current_task() is self.task
        if drain:
            try:
                await self.mailbox.put(POISON, timeout=config.SHUTDOWN_TIMEOUT_S)
            except UnitStopped:
                return
            if own:
                return
            try:
                async with asyncio.timeout(config.SHUTDOWN_TIMEOUT_S):
                    await asyncio.shield(self.stopped)
                return
            except TimeoutError:
                log.warning("unit %r did not drain within %ss; cancelling it", self.name, config.SHUTDOWN_TIMEOUT_S)
        self.terminate()
        if not own:
            await asyncio.shield(self.stopped)

    async def _run(self, started: asyncio.Future[None]) -> None:
        CURRENT.set(self.ref)
        reason = "poisoned"
        try:
            try:
                self.unit = self.factory()
                await self.unit.init(self.ctx)
            except Exception as exc:
                reason = f"init failed: {exc}"
                if not started.done():  # the spawner may have been cancelled meanwhile
                    started.set_exception(exc)
                return
            self.state = UnitState.RUNNING
            if not started.done():
                started.set_result(None)
            self.system.emit_event(self, "started")
            await self._loop()
        except asyncio.CancelledError:
            reason = "stopped"
            if not started.done():
                started.set_exception(UnitStopped(f"unit {self.name!r} was stopped while starting"))
            raise
        except _GaveUp as given_up:
            reason = str(given_up)
        finally:
            self._close(reason)

    async def _loop(self) -> None:
        mailbox = self.mailbox
        ctx = self.ctx
        record = self.system.record
        while True:
            envelope = await mailbox.get()
            if envelope.__class__ is not Envelope:
                if envelope is POISON:
                    return
                await self._recover(UnitError(f"child {envelope.failure.unit!r} escalated: {envelope.failure.error}"), None)
                continue
            if envelope.reply is not None and envelope.reply.abandoned:
                continue
            self.current = envelope
            try:
                result = await self.unit.handle(ctx, envelope.sender, envelope.artifact)
            except asyncio.CancelledError:
                if not self._give_up_abandoned():
                    raise
                continue
            except Exception as exc:
                if envelope.reply is not None:
                    reply = error_reply(
                        f"unit {self.name!r} failed on artifact {envelope.artifact.id}: {type(exc).__name__}: {exc}",
                        kind=type(exc).__name__,
                        unit=self.name,
                        artifact=envelope.artifact,
                    )
                    record(reply)
                    envelope.reply.resolve(reply)
                self.current = None
                await self._recover(exc, envelope.artifact)
                continue
            self.current = None
            if self._abandoning:  # cancelled as it finished: the cancellation is not for the loop
                self._give_up_abandoned()
            if envelope.reply is not None:
                if not isinstance(result, Artifact):
                    result = error_reply(
                        f"unit {self.name!r} answered artifact {envelope.artifact.id} with"
                        f" {type(result).__name__}, not an Artifact",
                        kind="NoReply",
                        unit=self.name,
                        artifact=envelope.artifact,
                    )
                record(result)
                envelope.reply.resolve(result)

    def _give_up_abandoned(self) -> bool:
        """After ``handle`` was cancelled or returned: whether an abandoned request's
        cancellation was pending (now withdrawn), so the loop goes on."""
        if not self._abandoning:
            return False
        self._abandoning = False
        self.current = None
        task = asyncio.current_task()
        return task is None or task.uncancel() == 0  # more than ours: the unit is being stopped too

    async def _recover(self, error: Exception, artifact: Artifact | None) -> None:
        """Apply the supervisor's directive; raise :class:`_GaveUp` when the unit must stop."""
        while True:
            failure = Failure(self.name, error, artifact)
            directive = self.supervisor.decide(failure)
            log.warning("unit %r failed (%s: %s): %s", self.name, type(error).__name__, error, directive.value)
            if directive is Directive.RESUME:
                return
            if directive is Directive.RESTART:
                self.system.emit_event(self, "restarting", error=f"{type(error).__name__}: {error}")
                try:
                    self.unit = self.factory()
                    await self.unit.init(self.ctx)
                except Exception as exc:
                    error, artifact = exc, None
                    continue
                self.system.emit_event(self, "started")
                return
            if directive is Directive.ESCALATE:
                self.system.escalate(self, failure)
            raise _GaveUp(f"{directive.value} after {type(error).__name__}: {error}")

    def _close(self, reason: str) -> None:
        self.state = UnitState.STOPPED
        left = self.mailbox.close()
        if self.current is not None:
            left.insert(0, self.current)
            self.current = None
        for envelope in left:
            if envelope.__class__ is not Envelope:
                continue
            if envelope.reply is None:
                self.system.dead_letter(self.name, envelope)
                continue
            reply = error_reply(
                f"unit {self.name!r} stopped ({reason}) before answering artifact {envelope.artifact.id}",
                kind="UnitStopped",
                unit=self.name,
                artifact=envelope.artifact,
            )
            self.system.record(reply)
            envelope.reply.resolve(reply)
        for child in list(self.children.values()):
            child.terminate()
        self.system.forget(self)
        self.system.emit_event(self, "stopped", reason=reason)
        if not self.stopped.done():
            self.stopped.set_result(None)


def _callable(factory: UnitFactory | str, kwargs: Mapping[str, Any] | None) -> UnitFactory:
    """``factory`` (imported if named by ``"module:name"``) with ``kwargs`` applied."""
    if isinstance(factory, str):
        from smolcpu.runtime._worker import import_factory

        factory = import_factory(factory)
    return functools.partial(factory, **kwargs) if kwargs else factory


class _GaveUp(Exception):
    """Raised inside a unit's loop when supervision decided that it stops."""


class SystemState(enum.Enum):
    NEW = "new"
    RUNNING = "running"
    STOPPING = "stopping"
    CLOSED = "closed"


class ActorSystem:
    """Spawns and supervises units; ``async with ActorSystem() as system: ...``.

    Args:
        store: where recorded artifacts go (anything with ``put(artifact)``); by default the
            artifact store of ``config.store_url()``, which the system opens and closes.
        record: record every artifact that crosses the runtime (off for benchmarks).
        supervisor: the default supervision of units spawned without one.
        mailbox_size: the default mailbox capacity.
        cluster: where units are placed past this machine (a :class:`Placement` on a Ray
            cluster); by default the one ``SMOL_CLUSTER`` and ``SMOL_PLACEMENT`` give, if
            any; None: every unit runs on this machine.
    """

    def __init__(
        self,
        *,
        store: Store | None = None,
        record: bool = True,
        supervisor: OneForOne | None = None,
        mailbox_size: int = config.MAILBOX_SIZE,
        cluster: Placement | None = USE_CONFIG,
    ) -> None:
        self.address = f"smol-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.state = SystemState.NEW
        self.supervisor = supervisor or OneForOne()
        self.mailbox_size = mailbox_size
        self.dead_letters = 0
        self.events: deque[Artifact] = deque(maxlen=EVENTS_KEPT)
        self.failures: list[Failure] = []
        self.recorder: Recorder | None = None
        self.tasks = asyncio.TaskGroup()
        self._store = store
        self._record = record
        self._cells: dict[str, Any] = {}
        self.cluster: Placement | None = configured_placement() if cluster is USE_CONFIG else cluster
        self._joined_cluster = False
        self._shared: dict[str, Any] = {}
        self._sharing = asyncio.Lock()
        self._lasting = asyncio.Lock()

    def __repr__(self) -> str:
        return f"<ActorSystem {self.address} {self.state.value} units={len(self._cells)}>"

    async def __aenter__(self) -> ActorSystem:
        if self.state is not SystemState.NEW:
            raise UsageError(f"this ActorSystem is {self.state.value}; an ActorSystem runs once, make a new one")
        if self.cluster is not None:
            from smolcpu.runtime._ray import connect

            self._joined_cluster = connect(self.cluster)
        await self.tasks.__aenter__()
        if self._record:
            if self._store is None:
                self.recorder = Recorder(open_store(), close_store=True)
            else:
                self.recorder = Recorder(self._store)
        ROUTERS[self.address] = self
        self.state = SystemState.RUNNING
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, traceback: Any) -> bool | None:
        try:
            await self.shutdown(drain=exc_type is None)
        finally:
            # Every task has ended by now; the body's own exception propagates unwrapped.
            await self.tasks.__aexit__(None, None, None)
        return None

    async def shutdown(self, *, drain: bool = True) -> None:
        """Stop every unit: after the mailboxes drain (up to the shutdown timeout) or at once."""
        if self.state is not SystemState.RUNNING:
            return
        self.state = SystemState.STOPPING
        try:
            # After a calm, poison: a worker may still hold sends the parent cannot see.
            calm = drain and await self._quiesce()
            await asyncio.gather(*(cell.stop(drain=calm) for cell in list(self._cells.values())))
        finally:
            if self.recorder is not None:
                await self.recorder.close()
            ROUTERS.pop(self.address, None)
            self.state = SystemState.CLOSED
            for shared in self._shared.values():
                shared.kill()
            self._shared.clear()
            if self._joined_cluster:
                from smolcpu.runtime._ray import disconnect

                disconnect()

    async def _quiesce(self) -> bool:
        """Wait until every unit is idle with an empty mailbox; False if that took too long."""
        deadline = time.monotonic() + config.SHUTDOWN_TIMEOUT_S
        calm = 0
        while calm < 2:
            calm = calm + 1 if all(cell.idle for cell in self._cells.values()) else 0
            if time.monotonic() > deadline:
                log.warning("units still busy after %ss; stopping them anyway", config.SHUTDOWN_TIMEOUT_S)
                return False
            await asyncio.sleep(_IDLE_POLL_S)
        return True

    async def spawn(
        self,
        name: str,
        factory: UnitFactory | str,
        *,
        kwargs: Mapping[str, Any] | None = None,
        process: bool = False,
        supervisor: OneForOne | None = None,
        mailbox_size: int | None = None,
        parent: Cell | None = None,
        kind: str | None = None,
    ) -> UnitRef:
        """Start a unit named ``name`` made by ``factory(**kwargs)``; return its ref once ``init`` has run.

        The full signature: ``spawn(name, factory, *, kwargs=None, process=False,
        supervisor=None, mailbox_size=None, parent=None, kind=None)``.

        Args:
            factory: a callable returning a :class:`Unit`. With ``process=True`` it must be
                importable (a top-level class or function, or a ``"module:name"`` string).
            kwargs: keyword arguments for ``factory``, applied at start and after every
                restart (e.g. ``{"model": "qwen", "instruction": "..."}``). With
                ``process=True`` they are pickled to the worker, so they must be picklable.
            process: run the unit in its own worker process.
            supervisor: how failures of this unit are handled (default: the system's).
            mailbox_size: capacity of its mailbox (default: the system's).
            parent: the unit it is a child of (what ``ctx.spawn`` passes); it stops with it
                and its escalations go to it.
            kind: the unit's kind (``"math"``); a kind the system's cluster places runs on
                Ray actors there (see :meth:`placed`), whatever ``process`` says.

        Raises:
            UnitNameExists: a running unit already has this name.
            UnitError: the unit's ``init`` (or its worker process) failed to start.
            UsageError: ``kwargs`` cannot be pickled for a worker process.
        """
        if self.state is not SystemState.RUNNING:
            raise UsageError(f"cannot spawn {name!r}: the actor system is {self.state.value}")
        if name in self._cells:
            raise UnitNameExists(f"a unit named {name!r} is already running; stop it first or pick another name")
        options = {
            "parent": parent,
            "supervisor": supervisor or self.supervisor,
            "mailbox_size": mailbox_size or self.mailbox_size,
        }
        placement = self.cluster.of(kind) if self.cluster is not None else None
        if placement is not None:
            from smolcpu.runtime._ray import RayCell

            made = _callable(factory, kwargs)
            cell: Any = RayCell(self, name, made, kind=str(kind), placement=placement, **options)
        elif process:
            from smolcpu.runtime._worker import WorkerCell

            cell = WorkerCell(self, name, factory, kwargs=dict(kwargs or {}), **options)
        else:
            cell = Cell(self, name, _callable(factory, kwargs), address=self.address, **options)
        return await self.adopt(cell)

    async def adopt(self, cell: Any) -> UnitRef:
        """Register ``cell`` under its name and start it (the worker entry point hosts one so)."""
        self._cells[cell.name] = cell
        if cell.parent is not None:
            cell.parent.children[cell.name] = cell
        try:
            await cell.start()
        except Exception as exc:
            self.forget(cell)
            if isinstance(exc, UnitError):
                raise
            raise UnitError(f"unit {cell.name!r} failed to start: {type(exc).__name__}: {exc}") from exc
        return cell.ref

    async def lasting(
        self, name: str, make: Callable[[], tuple[UnitFactory | str, Mapping[str, Any]]], *, kind: str
    ) -> UnitRef:
        """The unit ``name``, spawned by the first caller and shared by every later one until
        the system shuts down (or the unit stops: the next caller starts it again). ``make``
        gives its factory and keyword arguments; it is called only to spawn it.

        Raises:
            UnitError: the unit could not start.
        """
        async with self._lasting:
            cell = self._cells.get(name)  # a cell that stops forgets itself
            if cell is not None:
                return cell.ref
            factory, kwargs = make()
            return await self.spawn(name, factory, kwargs=kwargs, kind=kind)

    def placed(self, kind: str) -> bool:
        """Whether units of ``kind`` run on this system's cluster (spawned with ``kind=``)."""
        return self.cluster is not None and self.cluster.of(kind) is not None

    async def share(
        self,
        name: str,
        factory: Callable[[], Any],
        handler: Callable[[Any, str, dict[str, Any]], Any],
        *,
        api: Iterable[str],
    ) -> Any:
        """One object, made by ``factory``, that units on every node of the cluster share: a
        proxy whose methods in ``api`` run ``handler(object, method, arguments)`` where it lives
        (on this driver's node, in one Ray actor; see ``smolcpu.runtime._shared``). The same
        ``name`` gives the same object until the system shuts down.

        Raises:
            UsageError: the system has no cluster.
            UnitError: the object could not be made on the cluster.
        """
        if self.cluster is None:
            raise UsageError(f"cannot share {name!r}: this actor system has no cluster (all its units share a process)")
        async with self._sharing:
            if name not in self._shared:
                from smolcpu.runtime._shared import host

                self._shared[name] = await host(name, factory, handler, api=api)
        return self._shared[name]

    def units(self) -> list[UnitRef]:
        """The refs of all running units, in spawn order."""
        return [cell.ref for cell in self._cells.values()]

    def ref(self, name: str) -> UnitRef:
        """The ref of the running unit ``name``.

        Raises:
            UnitStopped: no running unit has that name.
        """
        return self._cell(name).ref

    def _cell(self, name: str) -> Any:
        cell = self._cells.get(name)
        if cell is None:
            raise UnitStopped(f"no unit named {name!r} is running (running: {', '.join(self._cells) or 'none'})")
        return cell

    async def deliver(self, name: str, envelope: Envelope, *, timeout: float) -> None:
        """Put ``envelope`` into the mailbox of unit ``name`` (the router side of ``UnitRef``)."""
        cell = self._cells.get(name)
        if cell is not None:
            if self.recorder is not None:
                self.recorder.record(envelope.artifact)
            try:
                await cell.put(envelope, timeout=timeout)
                return
            except UnitStopped:
                pass
        if envelope.reply is not None:
            raise UnitStopped(f"unit {name!r} is not running; spawn it (again) before sending requests to it")
        self.dead_letter(name, envelope)

    def abandon(self, name: str, reply: Reply) -> None:
        """The requester gave up on ``reply``: unit ``name`` stops working on it (if it runs here)."""
        cell = self._cells.get(name)
        if cell is not None and hasattr(cell, "abandon"):
            cell.abandon(reply)

    def try_deliver(self, name: str, envelope: Envelope) -> bool:
        """Deliver without waiting if unit ``name`` has room (or its worker's socket does).

        False means "use :meth:`deliver`", which waits for room, or reports a stopped unit.
        """
        cell = self._cells.get(name)
        if cell is None or not cell.try_put(envelope):
            return False
        if self.recorder is not None:
            self.recorder.record(envelope.artifact)
        return True

    async def stop_unit(self, name: str, *, drain: bool) -> None:
        cell = self._cells.get(name)
        if cell is not None:
            await cell.stop(drain=drain)

    async def subscribe(self, name: str, subscriber: UnitRef) -> None:
        self._cell(name).subscribers[subscriber] = None

    def pid_of(self, name: str) -> int:
        return self._cell(name).pid

    def is_idle(self, unit: UnitRef | str) -> bool:
        """Whether ``unit`` has nothing to do: no artifact in hand, no queued mail, no pending request.

        For a unit in a worker process this is what the parent can see: requests not yet
        answered and frames not yet written (mail already sent to the worker is its own).

        Raises:
            UnitStopped: no running unit has that name.
        """
        return self._cell(unit if isinstance(unit, str) else unit.name).idle

    async def fan_out(self, publisher: UnitRef, subscribers: Iterable[UnitRef], artifact: Artifact) -> None:
        """Deliver ``artifact`` from ``publisher`` to each subscriber (the publish path)."""
        for subscriber in list(subscribers):
            router = ROUTERS.get(subscriber.address)
            if router is None:
                self.dead_letter(subscriber.name, Envelope(publisher, artifact))
                continue
            await router.deliver(
                subscriber.name, Envelope(publisher, artifact), timeout=config.REQUEST_TIMEOUT_S
            )

    def record(self, artifact: Artifact) -> None:
        """Record ``artifact`` if this system records (replies, stream parts, events)."""
        if self.recorder is not None:
            self.recorder.record(artifact)

    def dead_letter(self, name: str, envelope: Envelope) -> None:
        """Count and log mail that no unit will handle."""
        self.dead_letters += 1
        log.info("dead letter: artifact %s to %r, which is not running", envelope.artifact.id, name)

    def emit_event(self, cell: Any, event: str, **details: Any) -> None:
        """Make a lifecycle event; keep it, record it, deliver it first to the unit's subscribers."""
        artifact = lifecycle_event(event, cell.name, **details)
        self.events.append(artifact)
        self.record(artifact)
        for subscriber in list(cell.subscribers):
            target = self._cells.get(subscriber.name) if subscriber.address == self.address else None
            if target is not None and target.state is not UnitState.STOPPED:
                target.put_system(Envelope(cell.ref, artifact))

    def escalate(self, cell: Any, failure: Failure) -> None:
        """Hand a failure up to the parent of ``cell``; at the top, keep it in ``failures``."""
        parent = cell.parent
        if parent is not None and parent.state is not UnitState.STOPPED:
            parent.put_system(_Escalation(failure))
            return
        self.failures.append(failure)
        log.error("unit %r gave up after %s: %s", cell.name, type(failure.error).__name__, failure.error)

    def forget(self, cell: Any) -> None:
        """Drop a stopped cell from the registry, its parent and every subscription."""
        if self._cells.get(cell.name) is cell:
            del self._cells[cell.name]
        if cell.parent is not None and cell.parent.children.get(cell.name) is cell:
            del cell.parent.children[cell.name]
        for other in self._cells.values():
            other.subscribers.pop(cell.ref, None)


__all__ = [
    "ActorSystem",
    "Cell",
    "Ctx",
    "SystemState",
    "UnitFactory",
    "UnitState",
    "error_reply",
    "is_lifecycle_event",
    "lifecycle_event",
]
