"""The units a program's workers run on: resolved from the bindings, spawned on first use.

A worker name is bound (``use``) to a unit kind of the registry, or is undeclared and runs
on the default neural worker. One unit is spawned per kind and parameters, the first time
a step needs it, so a program whose LLM step never runs needs no model. Tools run in this
process; neural nets (``NEURAL_KINDS``, even those written as tools) and other units in
worker processes: through the :class:`~smolcpu.vm.Lifecycle` when one is given, parameters
and all (held for each step, so it is never evicted mid-step, and kept under the memory
budget), else spawned here.
``overrides`` replaces what a worker name stands for (tests give scripted workers so).

A step on an ``llm`` unit is a conversation: the binding's instruction (or, undeclared,
its role told by its name) is the system message, the input the user message. When the
step lists more than one outcome the LLM then picks one of exactly those (LANGUAGE.md §2).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from smolcpu import config
from smolcpu.artifact import Artifact
from smolcpu.lang import DEFAULT_UNIT, Binding, Step
from smolcpu.runtime import ActorSystem, Unit, UnitRef
from smolcpu.units import Tool, unit_kind

from smolcpu.vm._lifecycle import NEURAL_KINDS, Lifecycle

UnitSource = Unit | Callable[[], Unit]
"""What an override gives for a worker name: a unit, or a factory of one."""


@dataclass(frozen=True, slots=True)
class Route:
    """How a step reaches its unit.

    ``key`` names the unit among this executor's (one per kind and parameters); ``make``
    gives its factory, the factory's keyword arguments and whether it runs in a worker process; ``managed``: the Lifecycle
    runs it (reach it through :meth:`Workers.hold`); ``converse``: an LLM conversation;
    ``memo``: its outputs may be reused for the same input (its kind says it is deterministic).
    """

    key: str
    make: Callable[[], tuple[Any, dict[str, Any], bool]]
    managed: bool = False
    converse: bool = False
    memo: bool = False


def _key(binding: Binding) -> str:
    params = ",".join(f"{k}={v!r}" for k, v in sorted(binding.params.items()))
    return f"{binding.unit}({params})"


class Workers:
    """Spawns and reaches the units of one executor; stops them with it."""

    def __init__(
        self,
        system: ActorSystem,
        *,
        overrides: Mapping[str, UnitSource] | None = None,
        lifecycle: Lifecycle | None = None,
    ) -> None:
        self.system = system
        self.lifecycle = lifecycle
        self.overrides = dict(overrides or {})
        self.prefix = f"vm-{uuid.uuid4().hex[:6]}"
        self.refs: dict[str, UnitRef] = {}
        self._routes: dict[str, Route] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def route(self, step: Step) -> Route:
        """How ``step`` reaches its unit (worked out once per step).

        Raises:
            SmolError: its unit kind is unknown.
        """
        route = self._routes.get(step.id)
        if route is None:
            route = self._routes[step.id] = self._route(step)
        return route

    def _route(self, step: Step) -> Route:
        override = self.overrides.get(step.worker)
        if override is not None:
            return Route(f"override.{step.worker}", lambda: (_factory(override), {}, False))
        binding = step.binding or Binding(step.worker, DEFAULT_UNIT, declared=False)
        return Route(
            _key(binding),
            lambda: _spawnable(binding),
            managed=self.lifecycle is not None and _in_worker(binding.unit),
            converse=binding.unit == DEFAULT_UNIT,
            memo=step.deterministic,
        )

    async def ref(self, route: Route) -> UnitRef:
        """The unit of ``route``, spawned the first time (not for a managed route: see :meth:`hold`).

        Raises:
            SmolError: the unit cannot be made (unknown kind, bad parameters, missing model).
        """
        ref = self.refs.get(route.key)
        if ref is not None:
            return ref
        lock = self._locks.setdefault(route.key, asyncio.Lock())
        async with lock:
            if route.key not in self.refs:
                factory, kwargs, process = route.make()
                self.refs[route.key] = await self.system.spawn(
                    f"{self.prefix}.{route.key}", factory, kwargs=kwargs, process=process
                )
        return self.refs[route.key]

    @contextlib.asynccontextmanager
    async def hold(self, route: Route, binding: Binding) -> AsyncIterator[UnitRef]:
        """The Lifecycle's unit of a managed route, held (never evicted) until the block ends.

        Raises:
            SmolError: the unit cannot be made (missing model, no room under the memory budget).
        """
        assert self.lifecycle is not None
        unit_kind(binding.unit).create(**binding.params)  # bad parameters: a clear message, no process
        async with self.lifecycle.acquire(binding.unit, params=binding.params) as ref:
            yield ref

    async def ask_llm(self, artifact: Artifact, *, timeout: float) -> Artifact:
        """A request to the default neural worker (the LLM chooser asks through this)."""
        if self.lifecycle is not None:
            return await self.lifecycle.request(DEFAULT_UNIT, artifact, timeout=timeout)
        binding = Binding("chooser", DEFAULT_UNIT, declared=False)
        ref = await self.ref(Route(_key(binding), lambda: _spawnable(binding)))
        return await ref.request(artifact, timeout=timeout)

    async def call(self, step: Step, route: Route, ref: UnitRef, artifact: Artifact, *, timeout: float) -> Artifact:
        """Run ``step``'s worker (``ref``) on ``artifact``; the reply."""
        if not route.converse:
            return await ref.request(artifact, timeout=timeout)
        binding = step.binding or Binding(step.worker, DEFAULT_UNIT, declared=False)
        return await _converse(ref, step, binding, artifact, timeout=timeout)

    async def close(self) -> None:
        """Stop every unit this executor spawned."""
        refs, self.refs = list(self.refs.values()), {}
        await asyncio.gather(*(ref.stop() for ref in refs), return_exceptions=True)

    def __repr__(self) -> str:
        return f"<Workers {self.prefix} units={sorted(self.refs)}>"


def _factory(source: UnitSource) -> Callable[[], Unit]:
    return (lambda: source) if isinstance(source, Unit) else source


def _spawnable(binding: Binding) -> tuple[Any, dict[str, Any], bool]:
    """How to spawn the unit of ``binding``: a factory, its keyword arguments, whether in a worker process.

    Raises:
        SmolError: unknown kind, bad parameters, or a model that is not installed.
    """
    kind = unit_kind(binding.unit)
    params = dict(binding.params)
    if binding.unit == DEFAULT_UNIT:
        from smolcpu.models import model_path

        model_path(params.get("model") or config.LLM_MODEL)  # names `smol models install` when missing
    kind.create(**params)  # checks the parameters now, with a clear message (units load in init)
    if not _in_worker(binding.unit):
        return (lambda: kind.create(**params)), {}, False
    return kind.factory, params, True


def _in_worker(name: str) -> bool:
    """Whether units of kind ``name`` run in a worker process: neural nets (even those written as
    tools) and any unit that is not a tool; tools run in this process."""
    factory = unit_kind(name).factory
    return name in NEURAL_KINDS or not (isinstance(factory, type) and issubclass(factory, Tool))


async def _converse(ref: UnitRef, step: Step, binding: Binding, artifact: Artifact, *, timeout: float) -> Artifact:
    """Ask the LLM for the step's output, then (if it has a choice) for its outcome."""
    role = binding.instruction or (
        f"You are the `{step.worker}` step of a workflow. Do what a step called {step.worker!r}"
        " does with the input, and answer with its result only."
    )
    run = {"run": artifact.attr("run")} if artifact.attr("run") else None
    messages = [{"role": "system", "content": role}, {"role": "user", "content": artifact.as_text()}]
    chat = Artifact.json(
        {"op": "chat", "messages": messages},
        origin=step.id,
        role="request",
        attributes=run,
        parents=(artifact.id,),
    )
    reply = (await ref.request(chat, timeout=timeout)).replace(parents=(artifact.id,))
    options = list(dict.fromkeys(o.written for o in step.outcomes if o.kind != "timeout"))
    if reply.is_error or len(options) < 2:
        return reply
    question = Artifact.json(
        {
            "op": "choose",
            "prompt": f"The step `{step.worker}` answered:\n{reply.as_text()[:2000]}\n"
            f"Which outcome should the workflow take? ({', '.join(options)}; {options[0]} if all is well)",
            "options": options,
        },
        origin=step.id,
        role="request",
        attributes=run,
        parents=(reply.id,),
    )
    decided = await ref.request(question, timeout=timeout)
    if decided.is_error:
        return decided
    return reply.replace(parents=(artifact.id,), attributes=(*reply.attributes, ("outcome", decided.as_text().strip())))


__all__ = ["Route", "UnitSource", "Workers"]
