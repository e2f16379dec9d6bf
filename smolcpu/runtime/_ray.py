"""The Ray backend: a unit placed on Ray actors, seen from the actor system that spawned it.

A :class:`RayCell` stands where a :class:`~smolcpu.runtime._system.Cell` or a
:class:`~smolcpu.runtime._worker.WorkerCell` would: its ref is an ordinary
:class:`UnitRef` of this system, so the executor and the programs cannot tell it from a
local unit. Behind it run the kind's replicas, each a Ray actor (:class:`RayHost`) that
hosts the unit in a small actor system of its own, one artifact at a time, so a unit
written for one process runs unchanged. Artifacts cross as Cap'n Proto bytes; this side
records every request and reply, so a run's trace is complete wherever its steps ran.

Faults: Ray restarts a lost actor (``max_restarts``). A request in flight on it is sent
again (``retries``, to the restarted actor or another replica) or answered with a
``WorkerCrashed`` error artifact; a requester that gives up (its deadline passed, or it was
cancelled) cancels the actor's task. A replica Ray gave up on is dropped; the unit stops
when none is left. Nothing waits on a lost actor for ever.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import urllib.parse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from smolcpu import config
from smolcpu.artifact import Artifact
from smolcpu.errors import RequestTimeout, UnitError, UnitStopped, UsageError
from smolcpu.runtime._mailbox import Envelope, FutureReply, Reply, StreamReply
from smolcpu.runtime._placement import LOCAL_OBJECT_STORE_BYTES, KindPlacement, Placement
from smolcpu.runtime._ref import UnitRef
from smolcpu.runtime._supervision import Directive, Failure, OneForOne
from smolcpu.runtime._system import CellBase, UnitState, error_reply

if TYPE_CHECKING:
    from smolcpu.runtime._system import ActorSystem, Cell

log = logging.getLogger("smolcpu.runtime")

RESTART_POLL_S = 0.05
"""First pause between looks at a lost actor that Ray is restarting (it doubles, up to a second)."""

CONNECT_TIMEOUT_S = 5.0
"""How long the cluster's address may take to accept a connection before joining is given up."""

HOST_TIMEOUT_S = 24 * 3600.0
"""How long an actor waits for its unit's reply: the requester's own deadline, on this side,
is what ends a request (it cancels the actor's task), so this only bounds a forgotten one."""


def import_ray() -> Any:
    """The ``ray`` module.

    Raises:
        UsageError: Ray is not installed (the message names the install command).
    """
    try:
        import ray
    except ImportError as exc:
        raise UsageError(
            "the cluster backend needs Ray, which is not installed: pip install 'smolcpu[ray]'"
        ) from exc
    return ray


def connect(placement: Placement) -> bool:
    """Join the Ray cluster of ``placement`` (or start a local one); True if this call did.

    A process already connected to Ray (``ray.init`` by its caller) is left as it is.

    Raises:
        UsageError: Ray is missing or the cluster cannot be reached.
    """
    ray = import_ray()
    if ray.is_initialized():
        return False
    options: dict[str, Any] = {"log_to_driver": False, "configure_logging": False}
    if placement.is_local:
        # "local": a Ray of its own, even where ray start left the address of another.
        options |= {"address": "local", "include_dashboard": False, "object_store_memory": LOCAL_OBJECT_STORE_BYTES}
    else:
        options["address"] = placement.address
        _check_reachable(placement.address)
    try:
        ray.init(**options)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise UsageError(
            f"cannot reach the Ray cluster at {placement.address}: {exc}"
            " (start one with `ray start --head`, or use --cluster local to try it on this machine)"
        ) from exc
    return True


def _check_reachable(address: str) -> None:
    """Fail fast on a cluster nobody answers at (Ray itself retries for minutes).

    Raises:
        UsageError: nothing accepts a connection at ``address``'s host and port.
    """
    if address == "auto":
        return
    parsed = urllib.parse.urlsplit(address if "://" in address else f"ray://{address}")
    try:
        socket.create_connection((parsed.hostname, parsed.port), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise UsageError(
            f"cannot reach the Ray cluster at {address}: {exc.strerror or exc}"
            " (start one with `ray start --head`, or use --cluster local to try it on this machine)"
        ) from exc


def disconnect() -> None:
    """Leave the Ray cluster (a local one stops; the actors of this driver end with it)."""
    import_ray().shutdown()


class RayHost:
    """The Ray actor of one replica: hosts the unit in an actor system of its own.

    The unit starts on the first call, after each restart too (Ray builds the actor afresh,
    so the unit's ``init`` runs again, as after a worker process restart).
    """

    def __init__(self, name: str, factory: Callable[[], Any]) -> None:
        self.name = name
        self.factory = factory
        self.system: ActorSystem | None = None
        self.lock: asyncio.Lock | None = None
        self.host: asyncio.Task[None] | None = None

    async def start(self) -> dict[str, Any]:
        """Start the unit (if not yet); where it runs: pid and Ray node."""
        await self._ready()
        import ray

        return {"pid": os.getpid(), "node": ray.get_runtime_context().get_node_id()}

    async def handle(self, data: bytes, sender: str, origin: str) -> bytes:
        """The unit's reply to the artifact in ``data``, as bytes."""
        future: asyncio.Future[Artifact] = asyncio.get_running_loop().create_future()
        reply = FutureReply(future)
        await self._deliver(Envelope(_sender(sender, origin), Artifact.from_bytes(data), reply))
        try:
            async with asyncio.timeout(HOST_TIMEOUT_S):
                return (await future).to_bytes()
        except asyncio.CancelledError:
            self._abandon(reply)
            raise

    async def stream(self, data: bytes, sender: str, origin: str) -> Any:
        """Each part the unit emits for the artifact in ``data``, then its final reply (as bytes)."""
        reply = StreamReply()
        await self._deliver(Envelope(_sender(sender, origin), Artifact.from_bytes(data), reply))
        try:
            while True:
                async with asyncio.timeout(HOST_TIMEOUT_S):
                    part, final = await reply.queue.get()
                yield part.to_bytes()
                if final:
                    return
        finally:
            if not reply.finished:
                self._abandon(reply)

    async def send(self, data: bytes, sender: str, origin: str) -> None:
        """Put the artifact in ``data`` in the unit's mailbox (fire and forget)."""
        await self._deliver(Envelope(_sender(sender, origin), Artifact.from_bytes(data)))

    async def _deliver(self, envelope: Envelope) -> None:
        system = await self._ready()
        await system.deliver(self.name, envelope, timeout=HOST_TIMEOUT_S)

    def _abandon(self, reply: Reply) -> None:
        """The requester on the other side gave up: the unit stops working on it."""
        if self.system is not None:
            self.system.abandon(self.name, reply)

    async def _ready(self) -> ActorSystem:
        if self.lock is None:
            self.lock = asyncio.Lock()
        async with self.lock:
            if self.system is None or self.host is None or self.host.done():
                started: asyncio.Future[ActorSystem] = asyncio.get_running_loop().create_future()
                # The actor owns this task: it lives as long as the actor's process.
                self.host = asyncio.ensure_future(self._serve(started))
                self.system = await started
        return self.system

    async def _serve(self, started: asyncio.Future[ActorSystem]) -> None:
        from smolcpu.runtime._system import ActorSystem

        async with ActorSystem(record=False, cluster=None) as system:
            try:
                await system.spawn(self.name, self.factory)
            except Exception as exc:
                started.set_exception(exc)
                return
            started.set_result(system)
            await asyncio.Event().wait()


def _sender(name: str, origin: str) -> UnitRef | None:
    """The requester's ref, as the unit sees it (reachable only from the system it lives in)."""
    return UnitRef(name, origin) if name else None


class _Replica:
    """One actor of a :class:`RayCell`, and what this side knows of it."""

    __slots__ = ("actor", "pid", "node", "inflight", "recovery")

    def __init__(self, actor: Any) -> None:
        self.actor = actor
        self.pid = 0
        self.node = ""
        self.inflight = 0
        self.recovery: asyncio.Task[None] | None = None
        """Waiting for Ray to restart this actor after a loss; no request goes to it meanwhile."""

    @property
    def live(self) -> bool:
        return self.recovery is None

    def where(self, info: dict[str, Any]) -> None:
        self.pid, self.node = int(info["pid"]), str(info["node"])


class RayCell(CellBase):
    """A unit whose replicas are Ray actors, seen from the actor system that spawned it."""

    def __init__(
        self,
        system: ActorSystem,
        name: str,
        factory: Callable[[], Any],
        *,
        kind: str,
        placement: KindPlacement,
        parent: Cell | None,
        supervisor: OneForOne,
        mailbox_size: int,
    ) -> None:
        super().__init__(system, name, address=system.address, parent=parent, supervisor=supervisor)
        self.factory = factory
        self.kind = kind
        self.placement = placement
        self.mailbox_size = mailbox_size
        self.replicas: list[_Replica] = []
        self.calls: set[asyncio.Task[None]] = set()
        self.losses = 0
        self.served: dict[str, int] = {}
        """Requests answered, by Ray node: where the unit's work ran (the ``stopped`` event says)."""
        self._turn = 0

    @property
    def pid(self) -> int:
        """The process of the first replica (on whichever node it runs)."""
        if not self.replicas:
            raise UnitStopped(f"unit {self.name!r} has no actor right now")
        return self.replicas[0].pid

    @property
    def idle(self) -> bool:
        return not self.calls

    def __repr__(self) -> str:
        return f"<RayCell {self.name!r} {self.state.value} replicas={len(self.replicas)} calls={len(self.calls)}>"

    async def start(self) -> None:
        """Create the replicas; return once the unit's ``init`` has run in each.

        Raises:
            UnitError: an actor could not be placed, or the unit's ``init`` failed in it.
        """
        ray = import_ray()
        options: dict[str, Any] = {
            "num_cpus": self.placement.cpus,
            "max_restarts": self.placement.max_restarts,
            "max_task_retries": 0,  # retries are this side's policy: it knows which requests may be repeated
            "max_concurrency": self.mailbox_size + 8,
        }
        if self.placement.labels:
            options["label_selector"] = dict(self.placement.labels)
        remote = ray.remote(RayHost)
        self.replicas = [
            _Replica(remote.options(**options).remote(self.name, self.factory)) for _ in range(self.placement.replicas)
        ]
        try:
            async with asyncio.timeout(config.WORKER_START_TIMEOUT_S):
                infos = await asyncio.gather(*(replica.actor.start.remote() for replica in self.replicas))
        except TimeoutError:
            self._kill()
            raise UnitError(
                f"unit {self.name!r} was not placed on the cluster within {config.WORKER_START_TIMEOUT_S}s:"
                f" no node has {self.placement.cpus} CPU free{_labelled(self.placement)} for each of its"
                f" {self.placement.replicas} replica(s) (see `ray status`; SMOL_WORKER_START_TIMEOUT waits longer)"
            ) from None
        except Exception as exc:
            self._kill()
            raise UnitError(f"unit {self.name!r} failed to start on the cluster: {describe_failure(exc)}") from None
        for replica, info in zip(self.replicas, infos, strict=True):
            replica.where(info)
        self.state = UnitState.RUNNING
        self.system.emit_event(self, "started", pids=[r.pid for r in self.replicas], nodes=self.nodes())

    def nodes(self) -> list[str]:
        """The Ray node of each replica."""
        return [replica.node for replica in self.replicas]

    def try_put(self, envelope: Envelope) -> bool:
        if self.state is not UnitState.RUNNING or len(self.calls) >= self.mailbox_size:
            return False
        self._dispatch(envelope)
        return True

    async def put(self, envelope: Envelope, *, timeout: float) -> None:
        """Send ``envelope`` on, waiting while ``mailbox_size`` calls are in flight (back-pressure).

        Raises:
            UnitStopped: the unit is stopped.
            RequestTimeout: no call ended within ``timeout``.
        """
        try:
            async with asyncio.timeout(timeout):
                while self.state is UnitState.RUNNING and len(self.calls) >= self.mailbox_size:
                    await asyncio.wait(list(self.calls), return_when=asyncio.FIRST_COMPLETED)
        except TimeoutError:
            raise RequestTimeout(
                f"unit {self.name!r} had {self.mailbox_size} requests in flight for {timeout}s; it is too slow"
            ) from None
        if self.state is not UnitState.RUNNING:
            raise UnitStopped(f"unit {self.name!r} is {self.state.value}")
        self._dispatch(envelope)

    def put_system(self, envelope: Envelope) -> None:
        if self.state is UnitState.RUNNING:
            self._dispatch(Envelope(envelope.sender, envelope.artifact))

    def abandon(self, reply: Reply) -> None:
        """The requester gave up on ``reply``: the call for it is cancelled (with the actor's task)."""
        for task in list(self.calls):
            if task.smol_envelope.reply is reply:  # type: ignore[attr-defined]
                task.cancel()

    def _dispatch(self, envelope: Envelope) -> None:
        task = self.system.tasks.create_task(self._call(envelope), name=f"ray:{self.name}")
        task.smol_envelope = envelope  # type: ignore[attr-defined]
        self.calls.add(task)
        task.add_done_callback(self.calls.discard)
        reply = envelope.reply
        if isinstance(reply, FutureReply):
            reply.future.add_done_callback(lambda future: task.cancel())
        elif isinstance(reply, StreamReply):
            reply.on_abandon = task.cancel

    async def _next(self) -> _Replica | None:
        """The replica for the next attempt; while every one is being restarted, the first back."""
        await self._recovered(asyncio.FIRST_COMPLETED)
        return self._pick()

    async def _recovered(self, when: str) -> None:
        """While no replica is live, wait until the first (or all) of their restarts have ended."""
        recoveries = [replica.recovery for replica in self.replicas if replica.recovery is not None]
        if recoveries and len(recoveries) == len(self.replicas):
            await asyncio.wait(recoveries, return_when=when)

    def _pick(self) -> _Replica | None:
        """The least busy live replica (in turn among equals)."""
        live = [replica for replica in self.replicas if replica.live]
        if not live:
            return None
        self._turn = (self._turn + 1) % len(live)
        return min(live[self._turn :] + live[: self._turn], key=lambda replica: replica.inflight)

    async def _call(self, envelope: Envelope) -> None:
        """Carry ``envelope`` to a replica and its reply back; retry a lost actor by policy."""
        ray = import_ray()
        reply = envelope.reply
        args = (
            envelope.artifact.to_bytes(),
            envelope.sender.name if envelope.sender is not None else "",
            self.system.address,
        )
        lost = ""
        for _ in range(self.placement.retries + 1):
            replica = await self._next()
            if replica is None:
                break
            replica.inflight += 1
            pending: Any = None
            streamed = False
            try:
                if reply is None:
                    await replica.actor.send.remote(*args)
                elif isinstance(reply, StreamReply):
                    pending = replica.actor.stream.options(num_returns="streaming").remote(*args)
                    part: Artifact | None = None
                    async for part_ref in pending:
                        if part is not None:
                            self._emit(reply, part)
                            streamed = True
                        part = Artifact.from_bytes(await part_ref)
                    if part is not None:
                        self._resolve(reply, part)
                else:
                    pending = replica.actor.handle.remote(*args)
                    self._resolve(reply, Artifact.from_bytes(await pending))
                self.served[replica.node] = self.served.get(replica.node, 0) + 1
                return
            except asyncio.CancelledError:
                if pending is not None:
                    ray.cancel(pending)
                raise
            except ray.exceptions.RayActorError as exc:
                lost = f"{type(exc).__name__}: {describe_failure(exc)}"
                self._recovering(replica, exc)  # meanwhile, the next attempt goes to another replica
                if streamed or not self.replicas:
                    break  # parts already went out (sending it again would repeat them), or no actor is left
            except ray.exceptions.RayError as exc:
                self._resolve(
                    reply,
                    error_reply(
                        f"unit {self.name!r} failed on the cluster on artifact {envelope.artifact.id}:"
                        f" {describe_failure(exc)}",
                        kind="UnitError",
                        unit=self.name,
                        artifact=envelope.artifact,
                    ),
                )
                return
            finally:
                replica.inflight -= 1
        message = f"unit {self.name!r} lost its actor under artifact {envelope.artifact.id}"
        self._resolve(
            reply,
            error_reply(
                f"{message} ({lost or 'no replica left'}; retries allowed: {self.placement.retries})",
                kind="WorkerCrashed",
                unit=self.name,
                artifact=envelope.artifact,
            ),
        )
        await self._recovered(asyncio.ALL_COMPLETED)
        if not self.replicas and self.state is UnitState.RUNNING:
            self._give_up(lost)

    def _emit(self, reply: Reply, part: Artifact) -> None:
        self.system.record(part)
        reply.emit(part)

    def _resolve(self, reply: Reply | None, artifact: Artifact) -> None:
        if reply is None:
            if artifact.is_error:
                log.warning("unit %r: a send failed: %s", self.name, artifact.error_message)
            return
        self.system.record(artifact)
        reply.resolve(artifact)

    def _recovering(self, replica: _Replica, exc: Exception) -> None:
        """The task that brings ``replica`` back after a loss (started by the first call that saw it)."""
        self.losses += 1
        if replica.recovery is None:
            recovery = self._recover(replica, exc)
            replica.recovery = self.system.tasks.create_task(recovery, name=f"ray:{self.name}:recover")

    async def _recover(self, replica: _Replica, exc: Exception) -> None:
        """An actor was lost: wait until Ray has restarted it (its unit started again), or drop
        the replica when Ray gave up on it or it is not back within the worker start timeout.
        Meanwhile the other replicas take the requests."""
        ray = import_ray()
        if replica not in self.replicas:
            return  # dropped already
        lost = f"actor of unit {self.name!r} (pid {replica.pid}) was lost: {describe_failure(exc)}"
        self.system.emit_event(self, "restarting", error=lost)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + config.WORKER_START_TIMEOUT_S
        pause = RESTART_POLL_S
        while not isinstance(exc, ray.exceptions.ActorDiedError) and loop.time() < deadline:
            try:
                # A restart no node can take (its node gone, no CPU free elsewhere) waits in Ray for ever.
                async with asyncio.timeout_at(deadline):
                    replica.where(await replica.actor.start.remote())
            except TimeoutError:
                exc = TimeoutError(f"not restarted within {config.WORKER_START_TIMEOUT_S}s")
                break
            except ray.exceptions.ActorUnavailableError as again:
                exc = again
                await asyncio.sleep(pause)
                pause = min(pause * 2, 1.0)
                continue
            except ray.exceptions.RayError as failed:
                exc = failed
                break
            replica.recovery = None
            self.system.emit_event(self, "started", pids=[r.pid for r in self.replicas], nodes=self.nodes())
            return
        log.warning("unit %r: an actor is gone for good (%s)", self.name, describe_failure(exc))
        if replica in self.replicas:
            self.replicas.remove(replica)
            end_actor(replica.actor, self.name)

    def _give_up(self, why: str) -> None:
        """No actor is left: the supervisor hears of it, and the unit stops."""
        error = UnitError(f"every actor of unit {self.name!r} was lost ({why})")
        failure = Failure(self.name, error)
        if self.supervisor.decide(failure) is Directive.ESCALATE:
            self.system.escalate(self, failure)
        self._close(str(error))

    def terminate(self) -> None:
        """Kill the actors and cancel the calls now."""
        self._close("stopped")

    async def stop(self, *, drain: bool) -> None:
        """Stop after the calls in flight end (with ``drain``), or now."""
        if self.state is UnitState.STOPPED:
            return
        self.state = UnitState.STOPPED  # refuse new mail; what is in flight may finish
        if drain and self.calls:
            await asyncio.wait(list(self.calls), timeout=config.SHUTDOWN_TIMEOUT_S)
        self._close("poisoned" if drain else "stopped")
        await asyncio.shield(self.stopped)

    def _kill(self) -> None:
        for replica in self.replicas:
            end_actor(replica.actor, self.name)
        self.replicas = []

    def _close(self, reason: str) -> None:
        if self.stopped.done():
            return
        self.state = UnitState.STOPPED
        for replica in self.replicas:
            if replica.recovery is not None:
                replica.recovery.cancel()
        for task in list(self.calls):
            task.cancel()
            envelope: Envelope = task.smol_envelope  # type: ignore[attr-defined]
            if envelope.reply is not None:
                message = f"unit {self.name!r} stopped ({reason}) before answering artifact {envelope.artifact.id}"
                self._resolve(
                    envelope.reply, error_reply(message, kind="UnitStopped", unit=self.name, artifact=envelope.artifact)
                )
        self._kill()
        self.system.forget(self)
        self.system.emit_event(self, "stopped", reason=reason, served=dict(self.served))
        self.stopped.set_result(None)


def end_actor(actor: Any, name: str) -> None:
    """Kill ``actor`` of unit ``name`` for good (Ray restarts it no more)."""
    try:
        import_ray().kill(actor, no_restart=True)
    except Exception as exc:  # an actor already gone: nothing left to kill
        log.debug("killing an actor of %r: %s", name, exc)


def _labelled(placement: KindPlacement) -> str:
    labels = ", ".join(f"{key}={value}" for key, value in placement.labels.items())
    return f" with labels {labels}" if labels else ""


def describe_failure(exc: BaseException) -> str:
    """The first line of what went wrong on the cluster (Ray's errors carry whole tracebacks)."""
    cause = getattr(exc, "cause", None)
    text = f"{type(cause).__name__}: {cause}" if isinstance(cause, BaseException) else str(exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__


__all__ = [
    "HOST_TIMEOUT_S",
    "RayCell",
    "RayHost",
    "connect",
    "describe_failure",
    "disconnect",
    "end_actor",
    "import_ray",
]
