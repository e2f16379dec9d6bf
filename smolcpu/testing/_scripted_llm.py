"""A scripted LLM: the ``llm`` unit's request format, answered by a function instead of a model.

``ScriptedLLM(answer)`` answers each chat request with ``answer(messages)`` (the system
message says which step is asking) and each ``choose`` request with ``choose(prompt,
options)`` (the first option unless given). Stand it in for the ``llm`` kind
(``Executor(..., units={"llm": ScriptedLLM(...)})``) and a program runs through the real
conversation path — the task in view, ``back`` with the earlier turn, outcomes named in the
reply — without a model. ``requests`` keeps what was asked. A request with ``"stream": true``
gets its answer as the LLM unit streams it too: word by word as parts, then the whole.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from smolcpu.artifact import JSON, Artifact
from smolcpu.runtime import Unit

Messages = list[dict[str, Any]]


def _first(prompt: str, options: Sequence[str]) -> str:
    return options[0]


class ScriptedLLM(Unit):
    """Answers chat and choose requests as the LLM unit would, from functions."""

    def __init__(
        self,
        answer: Callable[[Messages], str],
        *,
        choose: Callable[[str, Sequence[str]], str] = _first,
    ) -> None:
        self.answer = answer
        self.chooser = choose
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
        text = self.answer(request["messages"])
        if request.get("stream"):
            for piece in re.findall(r"\S+\s*|\s+", text):
                ctx.emit(Artifact.text(piece, attributes={**attributes, "part": "token"}, **meta))
        attributes["completion_tokens"] = str(len(text.split()))
        if "tools" in request:
            return Artifact.json({"content": text, "tool_calls": []}, attributes=attributes, **meta)
        return Artifact.text(text, attributes=attributes, **meta)


__all__ = ["ScriptedLLM"]
