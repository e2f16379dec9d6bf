"""The LLM unit: the local language model as a unit that answers artifacts.

Requests are JSON objects (plain text is one user message)::

    {"op": "chat", "messages": [...], "json_schema": {...} | "grammar": "...",
     "tools": [...], "tool_choice": "auto" | "required" | NAME, "parallel_tool_calls": true,
     "max_tokens": 256, "temperature": 0.2, "seed": 1, "stop": ["END"], "logprobs": 2,
     "confidence": true, "stream": true}
    {"op": "choose", "prompt": "...", "options": ["a", "b"]}

A chat answer is text, or JSON when a schema was given; with ``tools`` it is a JSON
object ``{"content": ..., "tool_calls": [{"name": ..., "arguments": {...}}]}``, the
calls extracted from whatever shape the model wrote them in, and asked again under a
schema when the model tried and failed (a compulsory call is decoded under that schema at
once). ``logprobs`` (how many alternatives per token) adds an attribute ``logprobs``, the
tokens' log probabilities as JSON; ``confidence`` adds an attribute ``confidence``, how sure the
model was of its answer (see :func:`~smolcpu.units.neural._llm_engine.confidence_of`).
``choose`` answers exactly one of the options.
With ``"stream": true`` each piece of text is emitted as it is decoded. A request that
cannot be served (bad fields, too long for the context) is answered with an error
artifact; the model is loaded in ``init``, in the worker process the unit runs in.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from smolcpu import config
from smolcpu.artifact import JSON, TEXT, Artifact
from smolcpu.errors import BudgetError, UnitError, UsageError
from smolcpu.runtime import Unit
from smolcpu.units._registry import register
from smolcpu.units.neural._llm_engine import Completion, LLMEngine, confidence_of
from smolcpu.units.neural._llm_toolcalls import extract_tool_calls, tool_call_schema, tool_calls_schema, tool_named

_ENGINE_FIELDS = ("json_schema", "grammar", "max_tokens", "temperature", "seed", "stop", "logprobs")
"""Chat fields passed to the engine as they are."""
_CHAT_FIELDS = {"op", "messages", "tools", "tool_choice", "parallel_tool_calls", "stream", "confidence", *_ENGINE_FIELDS}
_CHOOSE_FIELDS = {"op", "prompt", "options"}


def _request(artifact: Artifact) -> dict[str, Any]:
    """The request an artifact carries, checked (plain text becomes one user message)."""
    if artifact.type != JSON:
        return {"op": "chat", "messages": [{"role": "user", "content": artifact.as_text()}]}
    request = artifact.as_json()
    if not isinstance(request, dict):
        raise UsageError('the llm unit takes text or a JSON object such as {"op": "chat", "messages": [...]}')
    op = request.setdefault("op", "chat")
    allowed = {"chat": _CHAT_FIELDS, "choose": _CHOOSE_FIELDS}.get(op)
    if allowed is None:
        raise UsageError(f"the llm unit has no op {op!r}; use 'chat' or 'choose'")
    unknown = set(request) - allowed
    if unknown:
        raise UsageError(f"llm {op} does not take {sorted(unknown)}; it takes {sorted(allowed - {'op'})}")
    if op == "chat" and not (isinstance(request.get("messages"), list) and request["messages"]):
        raise UsageError('llm chat needs "messages": a non-empty list of {"role": ..., "content": ...}')
    if op == "choose" and not (isinstance(request.get("prompt"), str) and isinstance(request.get("options"), list)):
        raise UsageError('llm choose needs "prompt" (text) and "options" (a list of texts)')
    return request


@register(name="llm", description="The local language model: chat, constrained JSON, tool calls, choosing.")
class LLM(Unit):
    """A GGUF model served by llama.cpp; give ``model`` as a registry name or a file path."""

    def __init__(
        self,
        *,
        model: str | None = None,
        context: int = config.LLM_CONTEXT,
        threads: int = config.LLM_THREADS,
        timeout: float = config.LLM_TIMEOUT_S,
        prompt_cache_mb: int = config.LLM_PROMPT_CACHE_MB,
        speculative: str = config.LLM_SPECULATIVE,
    ) -> None:
        self.engine = LLMEngine(
            model,
            context=context,
            threads=threads,
            timeout=timeout,
            prompt_cache_mb=prompt_cache_mb,
            speculative=speculative,
        )

    def __repr__(self) -> str:
        return f"<LLM unit {self.engine!r}>"

    async def init(self, ctx: Any) -> None:
        await asyncio.to_thread(self.engine.load)

    async def _blocking(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run an engine call in a thread; if this unit is cancelled, so is the generation."""
        try:
            return await asyncio.to_thread(call, *args, **kwargs)
        except asyncio.CancelledError:
            self.engine.cancel()
            raise

    async def handle(self, ctx: Any, sender: Any, artifact: Artifact) -> Artifact:
        attributes = {"model": self.engine.model}
        if artifact.attr("run") is not None:
            attributes["run"] = artifact.attr("run")
        meta: dict[str, Any] = {"origin": "llm", "role": "assistant", "scope": artifact.scope, "parents": (artifact.id,)}
        try:
            request = _request(artifact)
            if request["op"] == "choose":
                choice = await self._blocking(self.engine.choose, request["prompt"], request["options"])
                return Artifact.text(choice, attributes=attributes, **meta)
            return await self._chat(ctx, request, attributes=attributes, meta=meta)
        except (UsageError, BudgetError) as exc:
            return Artifact.error(str(exc), kind=type(exc).__name__, attributes=attributes, **meta)

    async def _chat(
        self, ctx: Any, request: dict[str, Any], *, attributes: dict[str, str], meta: dict[str, Any]
    ) -> Artifact:
        options = {key: request[key] for key in _ENGINE_FIELDS if key in request}
        tools, forced = tool_decoding(request)
        if forced is not None:
            options["json_schema"] = forced
        elif tools:
            options["tools"] = tools
        if request.get("confidence") and "tools" not in options:  # llama.cpp scores no tokens beside tools
            options.setdefault("logprobs", 1)  # and the chosen ones only when asked for one alternative
        on_token, on_logprobs = self._emitter(ctx, meta, attributes) if request.get("stream") else (None, None)
        on_logprobs = on_logprobs if "logprobs" in request else None  # scored for confidence only: not streamed
        completion = await self._blocking(
            self.engine.chat, request["messages"], on_token=on_token, on_logprobs=on_logprobs, **options
        )
        attributes |= {
            "finish_reason": completion.finish_reason,
            "prompt_tokens": str(completion.prompt_tokens),
            "completion_tokens": str(completion.completion_tokens),
            "cached_tokens": str(completion.cached_tokens),
            "generation_ms": f"{completion.generation_ms:.3f}",
            "engine_ms": f"{completion.engine_ms:.3f}",
        }
        if "logprobs" in request:
            attributes["logprobs"] = json.dumps(completion.logprobs)
        if request.get("confidence") and completion.logprobs:
            attributes["confidence"] = f"{confidence_of(completion.logprobs):.4f}"
        if tools:
            calls = await self._tool_calls(request, completion, forced=forced is not None)
            content = "" if forced is not None else completion.text
            calls = calls if request.get("parallel_tool_calls", True) else calls[:1]
            return Artifact.json({"content": content, "tool_calls": calls}, attributes=attributes, **meta)
        if "json_schema" in request:
            _check_json(completion)
            return Artifact.create(completion.text.encode(), type=JSON, attributes=attributes, **meta)
        return Artifact.create(completion.text.encode(), type=TEXT, attributes=attributes, **meta)

    async def _tool_calls(self, request: dict[str, Any], completion: Completion, *, forced: bool) -> list[dict[str, Any]]:
        """The calls in an answer; if the model tried (wrote ``{``) and none parsed, ask again under a schema."""
        calls = [call.to_dict() for call in extract_tool_calls(completion.text)]
        calls += [call.to_dict() for raw in completion.tool_calls for call in extract_tool_calls(json.dumps(raw))]
        if forced or calls or "{" not in completion.text:
            return calls
        retry = await self._blocking(
            self.engine.chat,
            request["messages"],
            json_schema=tool_call_schema(request["tools"]),
            max_tokens=request.get("max_tokens", config.LLM_MAX_TOKENS),
            temperature=0.0,
        )
        return [call.to_dict() for call in extract_tool_calls(retry.text)]

    @staticmethod
    def _emitter(ctx: Any, meta: dict[str, Any], attributes: dict[str, str]) -> tuple[Any, Any]:
        """Callbacks (called on the engine's thread) that emit each piece as a stream part,
        with the log probabilities of its tokens when they were asked for."""
        emit = getattr(ctx, "emit", None)
        if emit is None:
            return None, None
        loop = asyncio.get_running_loop()
        part_attributes = {**attributes, "part": "token"}
        scored: list[dict[str, Any]] = []

        def on_logprobs(tokens: list[dict[str, Any]]) -> None:
            scored.extend(tokens)

        def on_token(piece: str) -> None:
            extra = {"logprobs": json.dumps(scored)} if scored else {}
            scored.clear()
            loop.call_soon_threadsafe(emit, Artifact.text(piece, attributes=part_attributes | extra, **meta))

        return on_token, on_logprobs


def tool_decoding(request: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The tools a chat request offers, and the schema its answer is decoded under when
    ``tool_choice`` makes a call compulsory (``"required"``, or a tool's name); None for
    ``"auto"``, where the model may answer in words.

    Raises:
        UsageError: an unknown ``tool_choice``, or tools together with a schema or grammar.
    """
    tools = list(request.get("tools") or ())
    choice = request.get("tool_choice", "auto")
    if not isinstance(choice, str) or not choice:
        raise UsageError('tool_choice is "auto", "required" or the name of one of the tools')
    if tools and ("json_schema" in request or "grammar" in request):
        raise UsageError("give tools or a json_schema/grammar, not both")
    if not tools or choice == "auto":
        return tools, None
    offered = tools if choice == "required" else tool_named(tools, choice)
    return tools, tool_calls_schema(offered, parallel=bool(request.get("parallel_tool_calls", True)))


def _check_json(completion: Completion) -> None:
    """Constrained decoding makes JSON, unless the answer was cut off: say so rather than pass it on."""
    try:
        json.loads(completion.text)
    except json.JSONDecodeError as exc:
        if completion.finish_reason == "length":
            raise BudgetError(
                f"the JSON answer was cut off at max_tokens ({completion.completion_tokens} tokens); raise max_tokens"
            ) from exc
        raise UnitError(f"the LLM's answer is not the JSON its schema asked for: {exc}") from exc


__all__ = ["LLM", "tool_decoding"]
