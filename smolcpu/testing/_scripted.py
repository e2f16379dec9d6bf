"""Scripted workers: units whose outputs and chosen outcomes are written down per call.

A program runs end to end on them without a model: ``scripted(reason=["an idea"],
verify=[Reply(outcome="continue")])`` gives the executor one :class:`ScriptedWorker` per
name. Each call takes the next :class:`Reply` of its script; past the end (or with none)
a worker echoes its input with its own name appended (``"in>clean>validate"``), so a
test can read the path the data took from the output.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from smolcpu.artifact import Artifact
from smolcpu.runtime import Unit


class ScriptedFailure(Exception):
    """What a scripted worker raises when its reply says ``fail``."""


@dataclass(frozen=True)
class Reply:
    """One scripted answer.

    Args:
        text: the output text; None appends the worker's name to the input's text.
        outcome: the outcome the worker names (the ``outcome`` attribute), or none.
        error: answer with an error artifact carrying this message.
        fail: raise with this message instead of answering.
        delay: seconds to wait first (to overrun a deadline).
        attributes: extra attributes of the output (e.g. ``{"status": "review"}``).
    """

    text: str | None = None
    outcome: str | None = None
    error: str | None = None
    fail: str | None = None
    delay: float = 0.0
    attributes: tuple[tuple[str, str], ...] = ()


class ScriptedWorker(Unit):
    """Answers each artifact with the next reply of its script; ``calls`` keeps the inputs and
    ``spans`` when each call began and ended (monotonic seconds), to show what overlapped."""

    def __init__(self, name: str, script: Iterable[Reply | str] = ()) -> None:
        self.name = name
        self.script = [Reply(text=r) if isinstance(r, str) else r for r in script]
        self.calls: list[Artifact] = []
        self.spans: list[tuple[float, float]] = []

    def __repr__(self) -> str:
        return f"<ScriptedWorker {self.name!r} calls={len(self.calls)} left={len(self.script)}>"

    async def handle(self, ctx: Any, sender: Any, artifact: Artifact) -> Artifact:
        self.calls.append(artifact)
        reply = self.script.pop(0) if self.script else Reply()
        began = time.monotonic()
        if reply.delay:
            await asyncio.sleep(reply.delay)
        self.spans.append((began, time.monotonic()))
        if reply.fail is not None:
            raise ScriptedFailure(reply.fail)
        attributes = dict(reply.attributes)
        if artifact.attr("run") is not None:
            attributes["run"] = artifact.attr("run")
        if reply.outcome is not None:
            attributes["outcome"] = reply.outcome
        meta: dict[str, Any] = {"origin": self.name, "role": "scripted", "parents": (artifact.id,)}
        if reply.error is not None:
            return Artifact.error(reply.error, kind="ScriptedError", attributes=attributes, **meta)
        text = reply.text if reply.text is not None else f"{artifact.as_text()}>{self.name}"
        return Artifact.text(text, attributes=attributes, **meta)


def scripted(names: Sequence[str] = (), **scripts: Iterable[Reply | str]) -> dict[str, ScriptedWorker]:
    """Scripted workers for ``names`` (echoing) and for each keyword (with its script)."""
    workers = {name: ScriptedWorker(name) for name in names}
    workers.update({name: ScriptedWorker(name, script) for name, script in scripts.items()})
    return workers


__all__ = ["Reply", "ScriptedFailure", "ScriptedWorker", "scripted"]
