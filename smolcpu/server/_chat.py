"""How a chat request is answered: by a program (``smol``, ``smol/<name>``) or by a raw LLM.

``smol`` runs the default program through :meth:`Session.ask` (the last user message is
the question, its images go to the vision units, the earlier messages are the history,
``tools`` are offered); ``smol/<name>`` runs ``<name>.smol`` from the programs folder the
same way. Any LLM of the model registry, by its name, gets the messages as they are, with
every sampling and decoding option the LLM unit has. An LLM streams its tokens. A program
streams as content the tokens of a step whose output is the run's answer
(:meth:`~smolcpu.lang.Graph.answering_steps`); what its other steps do (each step, each
token of another LLM step) goes to the job's events as progress, and an answer no such step
decoded comes whole at the end. What a target cannot honour is refused
(:class:`~smolcpu.errors.Unsupported`).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from smolcpu import config
from smolcpu.artifact import CALLER_ATTRIBUTE, JSON, RUN_ATTRIBUTE, Artifact
from smolcpu.errors import ArtifactError, BudgetError, PolicyLimit, UnitError, UnknownModel, Unsupported, UsageError
from smolcpu.lang import Policy
from smolcpu.models import KNOWN
from smolcpu.programs import DEFAULT_PROGRAM, Session, load_program
from smolcpu.runtime import UnitRef
from smolcpu.server._jobs import Job
from smolcpu.server._openai import ChatRequest, message_images, message_text, openai_tool_calls
from smolcpu.server._ui_session import step_event
from smolcpu.vm import StepEvent

DEFAULT_MODEL = "smol"
"""The model name of the default program."""

PROGRAM_PREFIX = "smol/"
"""Model names ``smol/<name>`` run ``<name>.smol`` from the programs folder."""

Delta = Callable[[int, dict[str, Any]], None]
"""Called with a choice's index and an OpenAI ``delta`` as the answer is made."""


@dataclass(frozen=True)
class Target:
    """What a model name runs: a program file, or an LLM of the registry."""

    name: str
    program: Path | None = None
    llm: str | None = None


@dataclass
class Choice:
    """One answer: its text or tool calls (OpenAI's shape), why it ended, its tokens' log probabilities."""

    text: str
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    finish_reason: str = "stop"
    logprobs: list[dict[str, Any]] | None = None


@dataclass
class Reply:
    """Every choice of a request and what they cost."""

    choices: list[Choice]
    prompt_tokens: int = 0
    completion_tokens: int = 0
    generation_ms: float = 0.0
    """The LLM's own time (raw LLM models): the server's ``Server-Timing`` header gives it."""
    engine_ms: float = 0.0
    """The calls into llama.cpp, in the LLM's worker process (the LLM's time and llama.cpp's around it)."""
    unit_ms: float = 0.0
    """The requests to the LLM unit, from sending to the reply (the LLM's time and the runtime's)."""


def llm_models() -> list[str]:
    """The registry names of the LLMs."""
    return [name for name, spec in KNOWN.items() if spec.role.startswith("llm")]


def program_names(programs: Path | None) -> list[str]:
    """The programs of the folder, as ``smol/<name>`` model names."""
    if programs is None or not programs.is_dir():
        return []
    return sorted(PROGRAM_PREFIX + path.stem for path in programs.glob("*.smol"))


def resolve(name: str, *, programs: Path | None, stand_in: bool = False) -> Target:
    """The target of model ``name``.

    Raises:
        UnknownModel: no program, and no LLM of that name (or it is not installed).
    """
    if name == DEFAULT_MODEL:
        return Target(name, program=DEFAULT_PROGRAM)
    if name.startswith(PROGRAM_PREFIX):
        program = name.removeprefix(PROGRAM_PREFIX)
        path = programs / f"{program}.smol" if programs is not None and program.isidentifier() else None
        if path is None or not path.is_file():
            where = f"in {programs}" if programs is not None else "(the server has no --programs folder)"
            raise UnknownModel(f"no program {program!r} {where}")
        return Target(name, program=path)
    if name in llm_models():
        if not stand_in and not KNOWN[name].installed:
            raise UnknownModel(f"model {name!r} is not installed: run `smol models install {name}`")
        return Target(name, llm=name)
    raise UnknownModel(f"no model {name!r}: use smol, smol/<program> or one of {', '.join(llm_models())}")


def _cut(text: str, stops: list[str]) -> str:
    ends = [text.find(stop) for stop in stops if stop in text]
    return text[: min(ends)] if ends else text


async def answer_with_program(
    session: Session, target: Target, request: ChatRequest, job: Job, on_delta: Delta | None,
    *, policy: Policy | None = None,
) -> Reply:
    """Run ``target``'s program on the request, once per choice (its steps go to ``job``'s
    events), each run under ``policy`` (the key's ceiling) and claimed for the job's key;
    usage counts the tokens its LLM steps read and wrote.

    Raises:
        PolicyLimit: a run went past a limit of its policy (the message names it).
        Unsupported: options that only a raw LLM has (logprobs, response_format, a forced
            tool call, max_tokens, temperature, seed).
    """
    given = {
        "logprobs": request.logprobs,
        "response_format": request.json_schema,
        "max_tokens": request.token_limit,
        "temperature": request.temperature,
        "seed": request.seed,
    }
    refused = [key for key, value in given.items() if value]
    if request.tool_choice_name not in ("auto", "none"):
        refused.append("tool_choice")
    if refused:
        raise Unsupported(
            f"{', '.join(refused)}: not supported by model {target.name!r}, which runs a program;"
            f" ask a raw LLM model ({', '.join(llm_models())}) for these"
        )
    *earlier, last = request.messages
    if last.get("role") != "user":
        raise UsageError(f"model {target.name!r} answers a user message: the last message must be the user's")
    history = [{"role": str(m.get("role", "user")), "content": message_text(m.get("content"))} for m in earlier]
    tools = request.tools if request.tool_choice_name != "none" else None

    graph = load_program(target.program)
    # with tools or stop sequences the answer is not the decoded text as it is: it comes whole
    answering = graph.answering_steps() if on_delta is not None and not tools and not request.stop_list else set()
    prompt_tokens = 0
    index = 0
    streamed = ""

    def observe(event: StepEvent) -> None:
        nonlocal prompt_tokens, streamed
        job.run_id = event.run_id
        if event.kind == "token" and event.node in answering and on_delta is not None:
            text = event.output.as_text() if event.output is not None else ""
            streamed += text
            on_delta(index, {"content": text})
            return
        if event.kind != "token" and event.output is not None:
            prompt_tokens += int(event.output.attr("prompt_tokens") or 0)
        name, data = step_event(event)
        job.publish(name, index=index, **data)

    choices = []
    completion_tokens = 0
    for index in range(request.n):
        streamed = ""
        answer = await session.ask(
            message_text(last.get("content")),
            images=message_images(last.get("content")),
            tools=tools or (),
            history=history,
            program=graph,
            observer=observe,
            tokens=on_delta is not None,
            policy=policy,
            caller=job.key,
        )
        if answer.status == "limit":
            raise PolicyLimit(f"the program {target.name!r} ended limit: {answer.text}")
        if not answer.ok:
            raise UnitError(f"the program {target.name!r} ended {answer.status}: {answer.text}")
        job.output_id = answer.output.id if answer.output is not None else None
        choice = _program_choice(answer.output, answer.text, request.stop_list)
        if request.parallel_tool_calls is False:
            choice.tool_calls = choice.tool_calls[:1]
        completion_tokens += answer.tokens
        choices.append(choice)
        if on_delta is not None:
            _deliver_whole(on_delta, index, choice, streamed)
    return Reply(choices, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)


def _program_choice(output: Artifact | None, text: str, stops: list[str]) -> Choice:
    """A program's output as a choice: tool calls when it gave them, else its text."""
    if output is not None and output.type == JSON:
        value = output.as_json()
        if isinstance(value, dict) and value.get("tool_calls"):
            return Choice(str(value.get("content") or ""), openai_tool_calls(value["tool_calls"]), "tool_calls")
    return Choice(_cut(text, stops))


def _deliver_whole(on_delta: Delta, index: int, choice: Choice, streamed: str = "") -> None:
    """A whole answer as the deltas of one choice (content, or each tool call), less the
    text already ``streamed`` as it was decoded."""
    if choice.text and not streamed.strip():
        on_delta(index, {"content": choice.text})
    for position, call in enumerate(choice.tool_calls):
        on_delta(index, {"tool_calls": [{"index": position, **call}]})


def llm_request(request: ChatRequest, *, seed: int | None, stream: bool) -> dict[str, Any]:
    """The LLM unit's request for an OpenAI chat request.

    Raises:
        Unsupported: an image (a raw LLM cannot see; ask model smol).
    """
    messages = []
    for message in request.messages:
        if message_images(message.get("content")):
            raise Unsupported(f"model {request.model!r} cannot see images; ask model {DEFAULT_MODEL!r}, whose program can")
        content = message.get("content")
        messages.append({**message, "content": message_text(content) if isinstance(content, list) else content})
    unit: dict[str, Any] = {"op": "chat", "messages": messages, "max_tokens": request.token_limit or config.LLM_MAX_TOKENS}
    optional = {"temperature": request.temperature, "seed": seed, "json_schema": request.json_schema}
    unit.update({key: value for key, value in optional.items() if value is not None})
    if request.stop_list:
        unit["stop"] = request.stop_list
    if request.logprobs:
        unit["logprobs"] = request.top_logprobs or 0
    choice = request.tool_choice_name
    if request.tools and choice != "none":
        unit |= {"tools": request.tools, "tool_choice": choice}
        if request.parallel_tool_calls is not None:
            unit["parallel_tool_calls"] = request.parallel_tool_calls
    if stream and "tools" not in unit:
        unit["stream"] = True  # tool calls are parsed from the whole answer, then sent as deltas
    return unit


async def answer_with_llm(
    session: Session, target: Target, request: ChatRequest, job: Job, on_delta: Delta | None, ref: UnitRef
) -> Reply:
    """Ask the LLM ``ref`` the request, once per choice; each request and reply is kept under
    the job's run id, written off the request's path (:class:`~smolcpu.runtime.RunLog`)."""
    job.run_id = f"run-{uuid.uuid4().hex[:12]}"
    run_log = session.run_log
    if run_log is not None:
        summary = message_text(request.messages[-1].get("content"))[:80]
        run_log.start(job.run_id, program=f"llm:{target.llm}", input_summary=summary)
    status = "error"
    kept: list[Artifact] = []
    try:
        reply = Reply([])
        for index in range(request.n):
            seed = request.seed + index if request.seed is not None else None
            body = llm_request(request, seed=seed, stream=on_delta is not None)
            attributes = {RUN_ATTRIBUTE: job.run_id, CALLER_ATTRIBUTE: job.key}
            asked = Artifact.json(body, origin="api", role="input", attributes=attributes)
            kept.append(asked)
            began = time.perf_counter()
            answer = await _ask(ref, asked, index, on_delta if body.get("stream") else None)
            reply.unit_ms += (time.perf_counter() - began) * 1000
            kept.append(answer)
            job.output_id = answer.id
            choice = _llm_choice(answer)
            if on_delta is not None and not body.get("stream"):
                _deliver_whole(on_delta, index, choice)
            reply.choices.append(choice)
            reply.prompt_tokens += int(answer.attr("prompt_tokens") or 0)
            reply.completion_tokens += int(answer.attr("completion_tokens") or 0)
            reply.generation_ms += float(answer.attr("generation_ms") or 0.0)
            reply.engine_ms += float(answer.attr("engine_ms") or 0.0)
        status = "ok"
        return reply
    except asyncio.CancelledError:
        status = "cancelled"
        raise
    finally:
        if run_log is not None:
            run_log.finish(job.run_id, status, kept)


async def _ask(ref: UnitRef, asked: Artifact, index: int, on_delta: Delta | None) -> Artifact:
    """The LLM's final reply; with ``on_delta``, each token part first."""
    if on_delta is None:
        return await ref.request(asked, timeout=config.LLM_TIMEOUT_S)
    async for part in ref.stream(asked, timeout=config.LLM_TIMEOUT_S):
        if part.attr("part") != "token":
            return part
        delta: dict[str, Any] = {"content": part.as_text()}
        if part.attr("logprobs"):
            delta["logprobs"] = {"content": json.loads(part.attr("logprobs"))}
        on_delta(index, delta)
    raise UnitError("the LLM's stream ended without its final reply")


def _llm_choice(answer: Artifact) -> Choice:
    """The LLM unit's reply as a choice.

    Raises:
        UsageError, BudgetError, UnitError: the LLM answered with an error (by its kind).
    """
    if answer.is_error:
        kind = answer.as_json().get("error", "")
        error = {"UsageError": UsageError, "Unsupported": Unsupported, "BudgetError": BudgetError}.get(kind, UnitError)
        raise error(answer.error_message)
    logprobs = json.loads(answer.attr("logprobs")) if answer.attr("logprobs") else None
    finish = answer.attr("finish_reason") or "stop"
    if answer.type == JSON:
        try:
            value = answer.as_json()
        except ArtifactError:  # JSON cut short by max_tokens: given back as the text it is
            return Choice(answer.as_text(), finish_reason=finish, logprobs=logprobs)
        if isinstance(value, dict) and "tool_calls" in value:
            calls = openai_tool_calls(value["tool_calls"])
            return Choice(str(value.get("content") or ""), calls, "tool_calls" if calls else finish, logprobs)
    return Choice(answer.as_text(), finish_reason=finish, logprobs=logprobs)


__all__ = [
    "DEFAULT_MODEL",
    "PROGRAM_PREFIX",
    "Choice",
    "Delta",
    "Reply",
    "Target",
    "answer_with_llm",
    "answer_with_program",
    "llm_models",
    "llm_request",
    "program_names",
    "resolve",
]
