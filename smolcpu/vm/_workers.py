"""The units a program's workers run on: resolved from the bindings, spawned on first use.

A worker name is bound (``use``) to a unit kind of the registry, or is undeclared and runs
on the default neural worker. One unit is spawned per kind and parameters, the first time
a step needs it, so a program whose LLM step never runs needs no model. Tools run in this
process; neural nets (``NEURAL_KINDS``, even those written as tools) and other units in
worker processes: through the :class:`~smolcpu.vm.Lifecycle` when one is given, parameters
and all (held for each step, so it is never evicted mid-step, and kept under the memory
budget), else spawned here.
``overrides`` replaces what a worker name stands for (tests give scripted workers so);
``units`` stands a unit in for a whole kind, the routing kept (a scripted LLM is still
asked as a conversation). A store kind (vectors, graph) the cluster places gets the one store
the cluster hosts, so its replicas on every node read and write the same entries.

A step on an ``llm`` unit is a conversation: the binding's instruction (or, undeclared,
its role told by its name) is the system message, the input (with the run's task in view,
when the input is not the task itself) the user message. A step re-entered by ``back`` is
asked again in the same conversation: its first input, its previous answer, and what the
later step sent back, so it can repair its own work. When the step lists more than one
outcome, the system message says how to name another: in brackets at the start of the
reply, in the same generation as the answer (``[cancel] the question has no answer``); a
reply that names none takes the first (LANGUAGE.md §2).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import re
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from smolcpu import config
from smolcpu.artifact import Artifact
from smolcpu.errors import UnitError
from smolcpu.lang import DEFAULT_UNIT, Binding, Policy, Step
from smolcpu.runtime import ActorSystem, Unit, UnitRef
from smolcpu.units import Tool, question_of, text_for_model, tools_of, unit_kind
from smolcpu.units.stores import StoreTool, dispatch

from smolcpu.vm._lifecycle import NEURAL_KINDS, Lifecycle
from smolcpu.vm._policing import check_memory

UnitSource = Unit | Callable[[], Unit]
"""What an override gives for a worker name: a unit, or a factory of one."""


@dataclass(frozen=True, slots=True)
class Route:
    """How a step reaches its unit.

    ``key`` names the unit among this executor's (one per kind and parameters); ``make``
    gives its factory, the factory's keyword arguments and whether it runs in a worker process; ``managed``: the Lifecycle
    runs it (reach it through :meth:`Workers.hold`); ``converse``: an LLM conversation;
    ``memo``: its outputs may be reused for the same input (its kind says it is deterministic);
    ``binding``: what the unit is, with the executor's defaults for its kind filled in;
    ``kind``: the registered kind it is made from (a cluster may place it), None for stand-ins.
    """

    key: str
    make: Callable[[], tuple[Any, dict[str, Any], bool]]
    binding: Binding | None = None
    kind: str | None = None
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
        defaults: Mapping[str, Mapping[str, Any]] | None = None,
        units: Mapping[str, UnitSource] | None = None,
        forced: Mapping[str, Mapping[str, Any]] | None = None,
        policy: Policy | None = None,
    ) -> None:
        self.system = system
        self.forced = {kind: dict(params) for kind, params in (forced or {}).items()}
        self.policy = policy or Policy()
        self.lifecycle = lifecycle
        self.overrides = dict(overrides or {})
        self.defaults = {kind: dict(params) for kind, params in (defaults or {}).items()}
        self.units = dict(units or {})
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
        binding = self.completed(step.binding or Binding(step.worker, DEFAULT_UNIT, declared=False))
        stand_in = self.units.get(binding.unit)
        if stand_in is not None:
            return Route(
                f"stand-in.{binding.unit}",
                lambda: (_factory(stand_in), {}, False),
                binding=binding,
                converse=binding.unit == DEFAULT_UNIT,
                memo=step.deterministic,
            )
        return Route(
            _key(binding),
            lambda: _spawnable(binding),
            binding=binding,
            kind=binding.unit,
            managed=self.lifecycle is not None and _in_worker(binding.unit) and not self.system.placed(binding.unit),
            converse=binding.unit == DEFAULT_UNIT,
            memo=step.deterministic,
        )

    def completed(self, binding: Binding) -> Binding:
        """``binding`` with this executor's default parameters for its kind (its own win):
        ``defaults={"llm": {"model": "smollm2"}}`` runs every LLM step on that model; then the
        parameters the policy forces (``forced``) over both (a memory cap: the lower one)."""
        given = self.defaults.get(binding.unit)
        forced = self.forced.get(binding.unit)
        if not given and not forced:
            return binding
        params = {**(given or {}), **binding.params}
        for name, value in (forced or {}).items():
            mine = params.get(name)
            lower = name.endswith("_bytes") and isinstance(mine, int | float) and mine < value
            params[name] = mine if lower else value
        return dataclasses.replace(binding, params=params)

    async def ref(self, route: Route) -> UnitRef:
        """The unit of ``route``, spawned the first time (not for a managed route: see :meth:`hold`).

        Raises:
            SmolError: the unit cannot be made (unknown kind, bad parameters, missing model).
        """
        ref = self.refs.get(route.key)
        if ref is not None:
            return ref
        if route.kind is not None and self.system.placed(route.kind) and _in_worker(route.kind):
            # A model on the cluster serves every run of the session, as the Lifecycle's worker
            # does on one machine: each run starting its own actors would load the model each time.
            return await self.system.lasting(f"cluster.{route.key}", lambda: route.make()[:2], kind=route.kind)
        lock = self._locks.setdefault(route.key, asyncio.Lock())
        async with lock:
            if route.key not in self.refs:
                make = route.make
                if route.binding is not None and self.system.placed(route.kind):
                    make = functools.partial(_spawnable, await self._shared(route.binding))
                factory, kwargs, process = make()
                self.refs[route.key] = await self.system.spawn(
                    f"{self.prefix}.{route.key}", factory, kwargs=kwargs, process=process, kind=route.kind
                )
        return self.refs[route.key]

    async def _shared(self, binding: Binding) -> Binding:
        """``binding`` of a unit placed on the cluster, its state shared by every replica: a
        store kind (vectors, graph) gets the one store all its replicas call, on every node,
        hosted by the cluster (``ActorSystem.share``); other kinds are left as they are."""
        tool = unit_kind(binding.unit).factory
        shared = tool.shared_store(binding.params) if isinstance(tool, type) and issubclass(tool, StoreTool) else None
        if shared is None:
            return binding
        name, opener = shared
        store = await self.system.share(name, opener, dispatch, api=tool.kind.API)
        params = {key: value for key, value in binding.params.items() if key != "path"}
        return dataclasses.replace(binding, params={**params, "store": store})

    @contextlib.asynccontextmanager
    async def hold(self, route: Route, binding: Binding) -> AsyncIterator[UnitRef]:
        """The Lifecycle's unit of a managed route, held (never evicted) until the block ends.

        Raises:
            SmolError: the unit cannot be made (missing model, no room under the memory budget).
        """
        assert self.lifecycle is not None
        unit_kind(binding.unit).create(**binding.params)  # bad parameters: a clear message, no process
        if self.policy.memory_mb is not None:
            need = self.lifecycle.estimate(self.lifecycle.spec(binding.unit).with_params(binding.params))
            check_memory(binding.unit, need, self.policy)
        async with self.lifecycle.acquire(binding.unit, params=binding.params) as ref:
            yield ref

    async def ask_unit(self, kind: str, artifact: Artifact, *, timeout: float) -> Artifact:
        """A request to the unit of ``kind`` as this executor makes it (its stand-in, the
        Lifecycle's with the kind's default parameters, or one of its own); the reply."""
        stand_in = self.units.get(kind)
        if stand_in is not None:
            ref = await self.ref(Route(f"stand-in.{kind}", lambda: (_factory(stand_in), {}, False)))
            return await ref.request(artifact, timeout=timeout)
        binding = self.completed(Binding("chooser", kind, declared=False))
        if self.lifecycle is not None and not self.system.placed(kind):
            return await self.lifecycle.request(kind, artifact, timeout=timeout, params=binding.params)
        ref = await self.ref(Route(_key(binding), lambda: _spawnable(binding), kind=kind))
        return await ref.request(artifact, timeout=timeout)

    async def ask_llm(self, artifact: Artifact, *, timeout: float) -> Artifact:
        """A request to the default neural worker (the LLM chooser asks through this)."""
        return await self.ask_unit(DEFAULT_UNIT, artifact, timeout=timeout)

    async def embed(self, texts: list[str]) -> list[list[float]]:
        """Unit vectors of ``texts`` from the ``embed`` unit (a small classifier asks through this).

        Raises:
            UnitError: the embedder answered with an error.
        """
        request = Artifact.json({"text": texts}, origin="chooser", role="request")
        reply = await self.ask_unit("embed", request, timeout=config.REQUEST_TIMEOUT_S)
        if reply.is_error:
            raise UnitError(f"the embedder failed: {reply.error_message}")
        return reply.as_json()["vectors"]

    async def call(
        self,
        step: Step,
        route: Route,
        ref: UnitRef,
        artifact: Artifact,
        *,
        timeout: float,
        conversation: Conversation | None = None,
        on_token: Callable[[Artifact], None] | None = None,
        max_tokens: int | None = None,
    ) -> Artifact:
        """Run ``step``'s worker (``ref``) on ``artifact``; the reply (an LLM step is asked
        with ``conversation`` in view, streams its text to ``on_token`` piece by piece, and
        writes at most ``max_tokens``: what the run's policy has left)."""
        if not route.converse:
            return await ref.request(artifact, timeout=timeout)
        binding = route.binding or Binding(step.worker, DEFAULT_UNIT, declared=False)
        return await _converse(
            ref, step, binding, artifact, timeout=timeout, conversation=conversation, on_token=on_token,
            max_tokens=max_tokens,
        )

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


@dataclass(frozen=True, slots=True)
class Conversation:
    """What an LLM step sees beyond its input: the run's task, and on a return by ``back``
    its first input, its own previous answer and which later step sent the data back."""

    task: Artifact
    first: Artifact | None = None
    previous: Artifact | None = None
    back_from: str | None = None


STEP_TEMPERATURE = 0.0
"""LLM steps decode greedily: the same conversation gets the same answer, and a small model
works best so on code and arithmetic (llama.cpp would otherwise sample at 0.8)."""

REPAIR_TEMPERATURE = 0.7
"""A repair that came back word for word as the answer it repairs is asked once more, afresh
(the earlier answer not shown, only what was wrong with it) and with sampling: a model shown
its own answer tends to copy it, and the same answer fails the same way."""

OUTCOME_MARK = re.compile(r"^\s*\[(\[[^\]\n]+\]|[^\[\]\n]{1,40})\]\s*")
"""How an LLM names an outcome in its reply: the outcome in brackets, first thing (``[cancel] why``)."""


def role_of(step: Step, binding: Binding) -> str:
    """The system message of an LLM step: its instruction, and how to name another outcome."""
    role = binding.instruction or (
        f"You are the `{step.worker}` step of a workflow. Do what a step called {step.worker!r}"
        " does with the input, and answer with its result only."
    )
    options = list(dict.fromkeys(o.written for o in step.outcomes if o.kind != "timeout"))
    if len(options) < 2:
        return role
    others = " or ".join(f"[{o}]" for o in options[1:])
    return (
        f"{role}\n\nNormally just answer. Only if the workflow should not go on with your answer,"
        f" begin your reply with {others} and say why."
    )


def messages_of(
    role: str, artifact: Artifact, conversation: Conversation | None, *, fresh: bool = False
) -> list[dict[str, str]]:
    """The chat an LLM step is asked: its role, its input with the run's task in view, and
    on a return by ``back`` its earlier answer and what the later step said of it; ``fresh``
    leaves the earlier answer out (a model shown its answer tends to copy it)."""
    first = conversation.first if conversation and conversation.first is not None else artifact
    task = conversation.task if conversation else None
    shown = text_for_model(first)
    if task is not None and task.id != first.id and question_of(task).strip() not in shown:
        shown = f"Task: {text_for_model(task)}\n\nInput:\n{shown}"
    messages = [{"role": "system", "content": role}, {"role": "user", "content": shown}]
    if not (conversation and conversation.back_from and conversation.previous is not None):
        return messages
    said = f"next step (`{conversation.back_from}`) sent this back:\n{text_for_model(artifact)}\n\n"
    if fresh:
        messages[1]["content"] += f"\n\nA first answer to this did not work; the {said}Write a new answer that avoids that mistake."
        return messages
    return messages + [
        {"role": "assistant", "content": conversation.previous.as_text()},
        {
            "role": "user",
            "content": f"The {said}Your answer did not work. Correct the mistake and reply with the whole corrected"
            " answer, in the same form as before.",
        },
    ]


def named_outcome(reply: str, step: Step) -> tuple[str | None, str]:
    """The outcome an LLM's reply names in its first bracket (one listed after the first), and
    the reply without it; ``(None, reply)`` when it names none, so the first is taken."""
    found = OUTCOME_MARK.match(reply)
    if not found:
        return None, reply
    written = found.group(1).strip()
    listed = [o.written for o in step.outcomes if o.kind != "timeout"][1:]
    if written not in listed:
        return None, reply
    return written, reply[found.end() :]


async def _converse(
    ref: UnitRef,
    step: Step,
    binding: Binding,
    artifact: Artifact,
    *,
    timeout: float,
    conversation: Conversation | None,
    on_token: Callable[[Artifact], None] | None = None,
    max_tokens: int | None = None,
) -> Artifact:
    """Ask the LLM for the step's output; an outcome other than the first it names in the same
    reply (see :func:`role_of`), with the task in view, so no second question is needed.
    With ``on_token`` the answer is streamed: each decoded piece goes there as it comes; a
    ``max_tokens`` below the LLM's own cap bounds the answer (a run's policy)."""
    run = {"run": artifact.attr("run")} if artifact.attr("run") else None
    role = role_of(step, binding)
    tools = tools_of(conversation.task) if conversation else None

    async def ask(sampling: dict[str, Any], *, fresh: bool = False) -> Artifact:
        messages = messages_of(role, artifact, conversation, fresh=fresh)
        chat = Artifact.json(
            {"op": "chat", "messages": messages, "confidence": True}
            | sampling
            | ({"max_tokens": max_tokens} if max_tokens is not None else {})
            | ({"tools": tools} if tools else {})
            | ({"stream": True} if on_token is not None else {}),
            origin=step.id,
            role="request",
            attributes=run,
            parents=(artifact.id,),
        )
        return (await _answer(ref, chat, timeout=timeout, on_token=on_token)).replace(parents=(artifact.id,))

    reply = await ask({"temperature": STEP_TEMPERATURE})
    if reply.is_error:
        return reply
    previous = conversation.previous if conversation and conversation.back_from else None
    if previous is not None and reply.as_text().strip() == previous.as_text().strip():
        retried = await ask({"temperature": REPAIR_TEMPERATURE, "seed": 0}, fresh=True)
        reply = reply if retried.is_error else _spent_both(retried, reply)
    outcome, text = named_outcome(reply.as_text(), step)
    if outcome is None:
        return reply
    return reply.derive(text.encode("utf-8"), parents=(artifact.id,), attributes=(*reply.attributes, ("outcome", outcome)))


TOKEN_ATTRIBUTES = ("prompt_tokens", "completion_tokens")
"""What an LLM reply says it read and wrote (a run's policy counts them)."""


def _spent_both(reply: Artifact, earlier: Artifact) -> Artifact:
    """``reply`` saying it spent the tokens of ``earlier`` too (a step asked twice spent both)."""
    totals = {name: str(int(reply.attr(name) or 0) + int(earlier.attr(name) or 0)) for name in TOKEN_ATTRIBUTES}
    kept = tuple((k, v) for k, v in reply.attributes if k not in totals)
    return reply.replace(attributes=(*kept, *totals.items()))


async def _answer(
    ref: UnitRef, chat: Artifact, *, timeout: float, on_token: Callable[[Artifact], None] | None
) -> Artifact:
    """The LLM's reply to ``chat``: requested, or streamed with each token part to ``on_token``."""
    if on_token is None:
        return await ref.request(chat, timeout=timeout)
    reply = chat
    async for reply in ref.stream(chat, timeout=timeout):
        if reply.attr("part") == "token":
            on_token(reply)
    return reply


__all__ = ["Conversation", "Route", "UnitSource", "Workers", "messages_of", "named_outcome", "role_of"]
