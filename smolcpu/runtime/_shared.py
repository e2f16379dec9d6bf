"""One object shared by every node of a Ray cluster: hosted by one actor, called from any node.

A unit placed on the cluster runs as replicas on several nodes. A unit that keeps state (the
vector and graph stores) would keep one copy per replica, and a write on one node would never
be found from another. So the state is hosted once: a :class:`SharedHost` actor on the
driver's node holds the object, and each replica holds a :class:`Shared`, a picklable proxy
whose method calls run on that actor, one at a time (the actor serialises writes, as the HTTP
store service does with its lock).

Restarts: the actor is pinned to the driver's node, so the files it opens are the ones the
driver names, and Ray restarts it there when its process dies (``max_restarts``); a call in
flight then runs again on the restarted actor (``max_task_retries``), so a shared object's
operations must be safe to repeat. What the object keeps on disk survives a restart; what it
kept only in memory does not. Losing the driver's node loses the driver too: the run ends.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from smolcpu import config
from smolcpu.errors import RequestTimeout, SmolError, UnitError
from smolcpu.runtime._ray import describe_failure, end_actor, import_ray

Handler = Callable[[Any, str, dict[str, Any]], Any]
"""How the host calls its object: ``handler(target, method, arguments)`` (a check of ``method`` included)."""


class SharedHost:
    """The Ray actor that holds the shared object, built by ``factory`` (again after a restart)."""

    def __init__(self, factory: Callable[[], Any], handler: Handler) -> None:
        self.target = factory()
        self.handler = handler

    def call(self, method: str, arguments: dict[str, Any]) -> Any:
        """``handler(target, method, arguments)``: what the proxy's call returns."""
        return self.handler(self.target, method, arguments)

    def where(self) -> dict[str, Any]:
        """Where the object lives: pid and Ray node."""
        ray = import_ray()
        return {"pid": os.getpid(), "node": ray.get_runtime_context().get_node_id()}


class Shared:
    """A proxy of the object a :class:`SharedHost` holds: ``shared.search(text="x")`` runs there.

    It is plain data (a name, the actor's handle, the method names), so it travels to actors
    on any node inside a unit's factory.
    """

    def __init__(self, name: str, actor: Any, *, api: Iterable[str], timeout: float) -> None:
        self.name = name
        self.actor = actor
        self.API = frozenset(api)
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"<Shared {self.name!r} on the cluster>"

    def __getattr__(self, method: str) -> Any:
        if method.startswith("_") or method not in self.__dict__.get("API", ()):
            raise AttributeError(method)

        def call(**arguments: Any) -> Any:
            return self.call(method, arguments)

        return call

    def call(self, method: str, arguments: dict[str, Any]) -> Any:
        """Run ``method(**arguments)`` on the shared object; its result.

        Raises:
            SmolError: the object's own error (a bad argument, a failed database), as raised there.
            RequestTimeout: no answer within ``timeout`` seconds.
            UnitError: the host is gone for good (its restarts used up).
        """
        ray = import_ray()
        try:
            return ray.get(self.actor.call.remote(method, arguments), timeout=self.timeout)
        except ray.exceptions.RayTaskError as exc:
            if isinstance(exc.cause, SmolError):
                raise exc.cause from None
            raise UnitError(f"shared {self.name!r} failed in {method}: {describe_failure(exc)}") from None
        except ray.exceptions.GetTimeoutError:
            raise RequestTimeout(f"shared {self.name!r} did not answer {method} within {self.timeout}s") from None
        except ray.exceptions.RayActorError as exc:
            raise UnitError(f"shared {self.name!r} is gone from the cluster: {describe_failure(exc)}") from None

    def where(self) -> Any:
        """An awaitable of where the object lives (pid and node), once the host has built it."""
        return self.actor.where.remote()

    def kill(self) -> None:
        """End the host (for good: no restart). The object's files stay."""
        end_actor(self.actor, self.name)


async def host(name: str, factory: Callable[[], Any], handler: Handler, *, api: Iterable[str]) -> Shared:
    """Start a host of ``factory()`` on this driver's node; its proxy, once the object is built.

    Raises:
        UnitError: the object could not be built there.
    """
    ray = import_ray()
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    here = ray.get_runtime_context().get_node_id()
    actor = (
        ray.remote(SharedHost)
        .options(
            num_cpus=0,
            max_restarts=config.MAX_RESTARTS,
            max_task_retries=config.MAX_RESTARTS,
            scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=False),
        )
        .remote(factory, handler)
    )
    shared = Shared(name, actor, api=api, timeout=config.STORE_SERVICE_TIMEOUT_S)
    try:
        await shared.where()
    except ray.exceptions.RayError as exc:
        shared.kill()
        raise UnitError(f"shared {name!r} could not start on the cluster: {describe_failure(exc)}") from None
    return shared


__all__ = ["Shared", "SharedHost", "host"]
