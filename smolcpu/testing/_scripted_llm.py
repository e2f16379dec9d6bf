"""A scripted LLM: the ``llm`` unit's request format, answered by a function instead of a model.

``ScriptedLLM(answer)`` answers each chat request with ``answer(messages)`` (the system
message says which step is asking) and each ``choose`` request with ``choose(prompt,
options)`` (the first option unless given). Stand it in for the ``llm`` kind
(``Executor(..., units={"llm": ScriptedLLM(...)})``) and a program runs through the real
conversation path — the task in view, ``back`` with the earlier turn, outcomes named in the
reply — without a model. ``requests`` keeps what was asked.

Like the real unit it counts tokens (a token is a word with the space before it), cuts the
answer at ``stop`` strings and at ``max_tokens``, streams each token as a part when asked
to, parses the tool calls its answer writes (``tool_choice`` and ``parallel_tool_calls`` as
the real unit applies them), and gives log probabilities: 0 for each token it was scripted
to say (a script is certain). Asked for its ``confidence``, it says ``confidence(messages)``
(1.0 unless given), so a test can make a step's answer doubtful. ``delay`` seconds pass
before each token, so a test can catch a request in flight.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Sequence
from typing import Any

from smolcpu.artifact import JSON, Artifact
from smolcpu.runtime import Unit
from smolcpu.units.neural import extract_tool_calls, tool_decoding

Messages = list[dict[str, Any]]

_TOKEN = re.compile(r"\s*\S+|\s+")


def _first(prompt: str, options: Sequence[str]) -> str:
    return options[0]


def certain(messages: Messages) -> float:
    """A scripted answer's confidence unless a test gives another: a script is certain."""
    return 1.0


def _scored(token: str, alternatives: int) -> dict[str, Any]:
    entry = {"token": token, "logprob": 0.0, "bytes": list(token.encode())}
    return entry | {"top_logprobs": [dict(entry)][:alternatives]}


class ScriptedLLM(Unit):
    """Answers chat and choose requests as the LLM unit would, from functions."""

    def __init__(
        self,
        answer: Callable[[Messages], str],
        *,
        choose: Callable[[str, Sequence[str]], str] = _first,
        confidence: Callable[[Messages], float] = certain,
        delay: float = 0.0,
    ) -> None:
        self.answer = answer
        self.confidence = confidence
        self.chooser = choose
        self.delay = delay
        self.requests: list[dict[str, Any]] = []

    def __repr__(self) -> str:
        return f"<ScriptedLLM requests={len(self.requests)}>"

    async def handle(self, ctx: Any, sender: Any, artifact: Artifact) -> Artifact:
        request = artifact.as_json() if artifact.type == JSON else {"op": "chat", "messages": [
            {"role": "user", "content": artifact.as_text()}
        ]}
        self.requests.append(request)
        attributes = {"run": artifact.attr("run")} if artifact.attr("run") else {}
        meta: dict[str, Any] = {"origin": "llm", "role": "assistant", "parents": (artifact.id,)}
        if request.get("op") == "choose":
            return Artifact.text(self.chooser(request["prompt"], request["options"]), attributes=attributes, **meta)
        tools, forced = tool_decoding(request)
        text, finish = self._cut(self.answer(request["messages"]), request)
        tokens = _TOKEN.findall(text)
        for token in tokens:
            if self.delay:
                await asyncio.sleep(self.delay)
            if request.get("stream"):
                part = {"part": "token"}
                if "logprobs" in request:
                    part["logprobs"] = json.dumps([_scored(token, request["logprobs"])])
                ctx.emit(Artifact.text(token, attributes=attributes | part, **meta))
        prompt = " ".join(str(message.get("content", "")) for message in request["messages"])
        attributes |= {
            "finish_reason": finish,
            "prompt_tokens": str(len(_TOKEN.findall(prompt))),
            "completion_tokens": str(len(tokens)),
        }
        if "logprobs" in request:
            attributes["logprobs"] = json.dumps([_scored(token, request["logprobs"]) for token in tokens])
        if request.get("confidence"):
            attributes["confidence"] = f"{self.confidence(request['messages']):.4f}"
        if tools:
            calls = [call.to_dict() for call in extract_tool_calls(text)]
            calls = calls if request.get("parallel_tool_calls", True) else calls[:1]
            content = "" if forced is not None else text
            return Artifact.json({"content": content, "tool_calls": calls}, attributes=attributes, **meta)
        if "json_schema" in request:
            return Artifact.create(text.encode(), type=JSON, attributes=attributes, **meta)
        return Artifact.text(text, attributes=attributes, **meta)

    @staticmethod
    def _cut(text: str, request: dict[str, Any]) -> tuple[str, str]:
        """The answer as the request's ``stop`` strings and ``max_tokens`` leave it, and why it ended."""
        ends = [text.find(stop) for stop in request.get("stop") or () if stop in text]
        if ends:
            text = text[: min(ends)]
        limit = request.get("max_tokens")
        tokens = _TOKEN.findall(text)
        if limit is not None and len(tokens) > limit:
            return "".join(tokens[:limit]), "length"
        return text, "stop"


__all__ = ["ScriptedLLM"]
