"""Units in worker processes: the parent's side of a unit that lives in a child process.

A :class:`WorkerCell` starts ``python -m smolcpu.runtime._worker_main`` on one end of a
socketpair and talks to it through a :class:`~smolcpu.runtime._link.Link`. Its ref is an
ordinary :class:`UnitRef` of this system, so senders cannot tell it from a local unit. When
the child dies, every pending request gets a ``WorkerCrashed`` error artifact and the
supervisor decides: restart (a fresh process), stop, or escalate.

A request's deadline kills the work: when one passes unanswered (the requester already has
its ``RequestTimeout``), the worker is killed, since what hangs in it (a model, a decoder in
a loop, a thread) cannot be cancelled from outside, and a worker left at it would answer
every later request late. Supervision then restarts it like any crash.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import pickle
import socket
import sys
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from smolcpu import config
from smolcpu.artifact import Artifact
from smolcpu.errors import RequestTimeout, UnitError, UnitStopped, UsageError, WorkerCrashed
from smolcpu.runtime._link import Kind, Link
from smolcpu.runtime._mailbox import Envelope
from smolcpu.runtime._supervision import Directive, Failure, OneForOne
from smolcpu.runtime._system import CellBase, UnitState

if TYPE_CHECKING:
    from smolcpu.runtime._system import ActorSystem, Cell

log = logging.getLogger("smolcpu.runtime")


def factory_path(factory: Any) -> str:
    """``"module:qualname"`` of an importable factory, so a worker process can import it.

    Raises:
        UsageError: ``factory`` is a lambda, a local or a ``__main__`` object.
    """
    if isinstance(factory, str):
        import_factory(factory)
        return factory
    module = getattr(factory, "__module__", None)
    qualname = getattr(factory, "__qualname__", None)
    if not module or not qualname or "<" in qualname or module == "__main__":
        raise UsageError(
            f"a unit in a worker process needs an importable factory (a top-level class or function"
            f" of a module, or a 'module:name' string); {factory!r} is not one"
        )
    return f"{module}:{qualname}"


def import_factory(path: str) -> Any:
    """The object named by ``"module:qualname"``.

    Raises:
        UsageError: the module or the name cannot be found.
    """
    module_name, _, qualname = path.partition(":")
    if not module_name or not qualname:
        raise UsageError(f"unit factory {path!r} must look like 'package.module:Name'")
    try:
        found: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError) as exc:
        raise UsageError(f"cannot import unit factory {path!r}: {exc}") from exc
    return found


def pickle_kwargs(kwargs: dict[str, Any]) -> bytes:
    """The factory's keyword arguments as the bytes a worker reads from its stdin.

    Raises:
        UsageError: a value cannot be pickled.
    """
    try:
        return pickle.dumps(kwargs, protocol=pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, TypeError, AttributeError) as exc:
        raise UsageError(f"the factory arguments of a unit in a worker process must be picklable: {exc}") from exc


async def _send_kwargs(process: asyncio.subprocess.Process, data: bytes) -> None:
    """Write the pickled arguments to the worker's stdin (a pipe: any size fits, it reads as we write)."""
    assert process.stdin is not None
    try:
        process.stdin.write(data)
        await process.stdin.drain()
        process.stdin.close()
    except (BrokenPipeError, ConnectionResetError):
        pass  # it died before reading them; waiting for READY reports the exit


class WorkerCell(CellBase):
    """A unit living in a child process, seen from the parent."""

    def __init__(
        self,
        system: ActorSystem,
        name: str,
        factory: Any,
        *,
        kwargs: dict[str, Any],
        parent: Cell | None,
        supervisor: OneForOne,
        mailbox_size: int,
    ) -> None:
        super().__init__(system, name, address=system.address, parent=parent, supervisor=supervisor)
        self.factory = factory_path(factory)
        self.kwargs = pickle_kwargs(kwargs)
        self.mailbox_size = mailbox_size
        self.process: asyncio.subprocess.Process | None = None
        self.link: Link | None = None
        self.task: asyncio.Task[None] | None = None
        self.stopping = False
        self.killed_for = ""
        self._live = asyncio.Event()

    @property
    def pid(self) -> int:
        if self.process is None:
            raise UnitStopped(f"unit {self.name!r} has no worker process right now")
        return self.process.pid

    @property
    def idle(self) -> bool:
        return self.link is None or self.link.is_idle(self.name)

    def __repr__(self) -> str:
        pid = self.process.pid if self.process is not None else None
        return f"<WorkerCell {self.name!r} {self.state.value} pid={pid} link={self.link!r}>"

    async def start(self) -> None:
        """Start the worker process; return once the unit's ``init`` has run in it."""
        started: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.task = self.system.tasks.create_task(self._run(started), name=f"worker:{self.name}")
        await started

    async def _launch(self) -> None:
        """Start a child process and wait for READY (or FAILED)."""
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def on_ready(target: str, sender: str, artifact: Artifact | None) -> None:
            if not ready.done():
                ready.set_result(None)

        def on_failed(target: str, sender: str, artifact: Artifact | None) -> None:
            message = artifact.error_message if artifact is not None else "unknown error"
            if not ready.done():
                ready.set_exception(UnitError(f"unit {self.name!r} failed to start in its worker: {message}"))

        def on_publish(target: str, sender: str, artifact: Artifact | None) -> Awaitable[None] | None:
            if artifact is None:
                return None
            return self.system.fan_out(self.ref, self.subscribers, artifact)

        ours, theirs = socket.socketpair()
        # What this process can import, the worker can: '' (the current directory) included.
        environment = {**os.environ, "PYTHONPATH": os.pathsep.join(p or os.getcwd() for p in sys.path)}
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "smolcpu.runtime._worker_main",
                "--fd", str(theirs.fileno()), "--name", self.name, "--factory", self.factory,
                "--address", self.system.address, "--mailbox-size", str(self.mailbox_size),
                pass_fds=(theirs.fileno(),), env=environment, stdin=asyncio.subprocess.PIPE,
            )  # fmt: skip
        finally:
            theirs.close()
        self.process = process
        await _send_kwargs(process, self.kwargs)
        handlers = {Kind.READY: on_ready, Kind.FAILED: on_failed, Kind.PUBLISH: on_publish}
        link = await Link.connect(
            ours,
            local=self.system,
            address=self.system.address,
            handlers=handlers,
            remote_pid=process.pid,
            on_expired=self._expired,
        )
        self.link = link
        try:
            async with asyncio.timeout(config.WORKER_START_TIMEOUT_S):
                await asyncio.wait([ready, link.closed], return_when=asyncio.FIRST_COMPLETED)
        except TimeoutError:
            process.kill()
            raise UnitError(
                f"worker of unit {self.name!r} did not start within {config.WORKER_START_TIMEOUT_S}s"
                " (raise SMOL_WORKER_START_TIMEOUT if its init loads a large model)"
            ) from None
        if not ready.done():
            code = await process.wait()
            raise WorkerCrashed(f"worker of unit {self.name!r} exited with code {code} before it was ready")
        ready.result()
        self._live.set()

    def _expired(self, target: str) -> None:
        """A request to unit ``target`` passed its deadline unanswered: kill the worker at it."""
        process = self.process
        if process is None or process.returncode is not None or self.stopping:
            return
        self.killed_for = f"killed: a request to unit {target!r} passed its deadline"
        log.warning("worker process %s of unit %r %s", process.pid, self.name, self.killed_for)
        process.kill()

    async def _run(self, started: asyncio.Future[None]) -> None:
        reason = "stopped"
        try:
            try:
                await self._launch()
            except Exception as exc:
                reason = f"start failed: {exc}"
                if self.process is not None and self.process.returncode is None:
                    self.process.kill()
                started.set_exception(exc)
                return
            self.state = UnitState.RUNNING
            started.set_result(None)
            self.system.emit_event(self, "started", pid=self.pid)
            reason = await self._supervise()
        except asyncio.CancelledError:
            if not started.done():
                started.set_exception(UnitStopped(f"unit {self.name!r} was stopped while starting"))
            raise
        finally:
            self._close(reason)

    async def _supervise(self) -> str:
        """Wait for the worker to exit; restart it by policy. Returns why it finally stopped."""
        while True:
            assert self.link is not None and self.process is not None
            await asyncio.shield(self.link.closed)
            self._live.clear()
            code = await self.process.wait()
            if self.stopping:
                return "stopped"
            why, self.killed_for = (f" ({self.killed_for})" if self.killed_for else ""), ""
            error: Exception = WorkerCrashed(
                f"worker process {self.process.pid} of unit {self.name!r} exited with code {code}{why}"
            )
            self.link.fail_pending(str(error), kind="WorkerCrashed")
            while True:
                failure = Failure(self.name, error)
                directive = self.supervisor.decide(failure)
                log.warning("%s: %s", error, directive.value)
                if directive is Directive.ESCALATE:
                    self.system.escalate(self, failure)
                if directive in (Directive.ESCALATE, Directive.STOP):
                    return f"{directive.value} after {error}"
                # RESTART, or RESUME: a dead process cannot go on as it was, so it restarts.
                self.system.emit_event(self, "restarting", error=str(error))
                try:
                    await self._launch()
                except Exception as exc:
                    error = exc
                    continue
                self.system.emit_event(self, "started", pid=self.pid)
                break

    def try_put(self, envelope: Envelope) -> bool:
        link = self.link
        return self._live.is_set() and link is not None and link.try_deliver(self.name, envelope)

    async def put(self, envelope: Envelope, *, timeout: float) -> None:
        if not self._live.is_set():
            if self.state is UnitState.STOPPED or self.stopping:
                raise UnitStopped(f"unit {self.name!r} is stopped")
            try:
                async with asyncio.timeout(timeout):
                    await self._live.wait()
            except TimeoutError:
                raise RequestTimeout(f"the worker of unit {self.name!r} was not back within {timeout}s") from None
        if self.link is None:
            raise UnitStopped(f"unit {self.name!r} never started")
        await self.link.deliver(self.name, envelope, timeout=timeout)

    def put_system(self, envelope: Envelope) -> None:
        if self._live.is_set() and self.link is not None:
            sender = envelope.sender.name if envelope.sender is not None else ""
            self.link.write(Kind.SEND, target=self.name, sender=sender, artifact=envelope.artifact)

    def terminate(self) -> None:
        """Kill the worker now (used when a parent stops or a stop times out)."""
        self.stopping = True
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
        if self.task is not None and not self.task.done():
            self.task.cancel()

    async def stop(self, *, drain: bool) -> None:
        """Ask the worker to stop (after its mailbox drains, with ``drain``); kill it if it lingers."""
        if self.state is UnitState.STOPPED:
            return
        self.stopping = True
        if self.link is not None:
            await self.link.stop_unit(self.name, drain=drain)
        try:
            async with asyncio.timeout(config.SHUTDOWN_TIMEOUT_S):
                await asyncio.shield(self.stopped)
        except TimeoutError:
            log.warning("worker of unit %r did not stop within %ss; killing it", self.name, config.SHUTDOWN_TIMEOUT_S)
            self.terminate()
            await asyncio.shield(self.stopped)

    def _close(self, reason: str) -> None:
        self.state = UnitState.STOPPED
        self._live.set()  # wakes senders waiting for a restart: the closed link refuses them
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
        if self.link is not None:
            self.link.fail_pending(f"unit {self.name!r} stopped ({reason}) before answering", kind="UnitStopped")
            if self.link.transport is not None:
                self.link.transport.close()
        self.system.forget(self)
        self.system.emit_event(self, "stopped", reason=reason)
        if not self.stopped.done():
            self.stopped.set_result(None)


__all__ = ["WorkerCell", "factory_path", "import_factory", "pickle_kwargs"]
