"""The units a program's workers run on: resolved from the bindings, spawned on first use.

A worker name is bound (``use``) to a unit kind of the registry, or is undeclared and runs
on the default neural worker. One unit is spawned per kind and parameters, the first time
a step needs it, so a program whose LLM step never runs needs no model. Tools run in this
process; other kinds (neural nets) in a worker process of their own. ``overrides`` replaces
what a worker name stands for (tests give scripted workers so).

A step on an ``llm`` unit is a conversation: the binding's instruction (or, undeclared,
its role told by its name) is the system message, the input the user message. When the
step lists more than one outcome the LLM then picks one of exactly those (LANGUAGE.md §2).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from smolcpu import config
from smolcpu.artifact import Artifact
from smolcpu.lang import DEFAULT_UNIT, Binding, Step
from smolcpu.runtime import ActorSystem, Unit, UnitRef
from smolcpu.units import Tool, unit_kind

UnitSource = Unit | Callable[[], Unit]
"""What an override gives for a worker name: a unit, or a factory of one."""


def _key(binding: Binding) -> str:
    params = ",".join(f"{k}={v!r}" for k, v in sorted(binding.params.items()))
    return f"{binding.unit}({params})"


class Workers:
    """Spawns and reaches the units of one executor; stops them with it."""

    def __init__(self, system: ActorSystem, *, overrides: Mapping[str, UnitSource] | None = None) -> None:
        self.system = system
        self.overrides = dict(overrides or {})
        self.prefix = f"vm-{uuid.uuid4().hex[:6]}"
        self.refs: dict[str, UnitRef] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def memoisable(self, step: Step) -> bool:
        """Whether outputs of ``step`` may be reused for the same input: a deterministic kind
        whose class does not say otherwise (``deterministic = False`` on a tool with side effects)."""
        if step.worker in self.overrides or not step.deterministic or step.binding is None:
            return False
        return bool(getattr(unit_kind(step.binding.unit).factory, "deterministic", True))

    async def unit(self, key: str, make: Callable[[], Any]) -> UnitRef:
        """The ref of the unit ``key``, spawning it with ``make()`` (``(factory, process)``) once."""
        ref = self.refs.get(key)
        if ref is not None:
            return ref
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            if key not in self.refs:
                factory, process = make()
                self.refs[key] = await self.system.spawn(f"{self.prefix}.{key}", factory, process=process)
        return self.refs[key]

    async def ref_for(self, step: Step) -> UnitRef:
        """The unit ``step`` runs on.

        Raises:
            SmolError: the unit cannot be made (unknown kind, bad parameters, missing model).
        """
        override = self.overrides.get(step.worker)
        if override is not None:
            source = override
            return await self.unit(f"override.{step.worker}", lambda: (_factory(source), False))
        binding = step.binding or Binding(step.worker, DEFAULT_UNIT, declared=False)
        return await self.unit(_key(binding), lambda: _spawnable(binding))

    async def llm(self) -> UnitRef:
        """The default neural worker (for the LLM chooser)."""
        binding = Binding("chooser", DEFAULT_UNIT, declared=False)
        return await self.unit(_key(binding), lambda: _spawnable(binding))

    async def call(self, step: Step, ref: UnitRef, artifact: Artifact, *, timeout: float) -> Artifact:
        """Run ``step``'s worker (``ref``, from :meth:`ref_for`) on ``artifact``; the reply."""
        binding = step.binding
        if step.worker in self.overrides or binding is None or binding.unit != DEFAULT_UNIT:
            return await ref.request(artifact, timeout=timeout)
        return await _converse(ref, step, binding, artifact, timeout=timeout)

    async def close(self) -> None:
        """Stop every unit this executor spawned."""
        refs, self.refs = list(self.refs.values()), {}
        await asyncio.gather(*(ref.stop() for ref in refs), return_exceptions=True)

    def __repr__(self) -> str:
        return f"<Workers {self.prefix} units={sorted(self.refs)}>"


def _factory(source: UnitSource) -> Callable[[], Unit]:
    return (lambda: source) if isinstance(source, Unit) else source


def _spawnable(binding: Binding) -> tuple[Any, bool]:
    """How to spawn the unit of ``binding``: a factory and whether in a worker process.

    Raises:
        SmolError: unknown kind, bad parameters, or a model that is not installed.
    """
    kind = unit_kind(binding.unit)
    params = dict(binding.params)
    if binding.unit == DEFAULT_UNIT:
        from smolcpu.models import model_path

        model_path(params.get("model") or config.LLM_MODEL)  # names `smol models install` when missing
    is_tool = isinstance(kind.factory, type) and issubclass(kind.factory, Tool)
    if params or is_tool:
        kind.create(**params)  # checks the parameters now, with a clear message
        return (lambda: kind.create(**params)), False
    return kind.factory, True


async def _converse(ref: UnitRef, step: Step, binding: Binding, artifact: Artifact, *, timeout: float) -> Artifact:
    """Ask the LLM for the step's output, then (if it has a choice) for its outcome."""
    role = binding.instruction or (
        f"You are the `{step.worker}` step of a workflow. Do what a step called {step.worker!r}"
        " does with the input, and answer with its result only."
    )
    run = {"run": artifact.attr("run")} if artifact.attr("run") else None
    chat = Artifact.json(
        {"op": "chat", "messages": [{"role": "system", "content": role}, {"role": "user", "content": artifact.as_text()}]},
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


__all__ = ["UnitSource", "Workers"]
