"""Who decides a ``select`` (which step runs next) and a word-pattern ``match`` (which word fits).

The executor asks a :class:`Chooser` with a :class:`Choice`: the block, the options (worker
names for a select, pattern words for a match) and the artifact at hand. Choosers are
pluggable: :class:`ScriptedChooser` answers from a script (tests, ``--chooser
scripted:a,b``), :class:`FirstChooser` always takes the first option, :class:`LlmChooser`
asks the local LLM to pick exactly one of the options; :class:`NearestChooser` is a small
classifier (examples embedded by MiniLM) that decides what it is sure of and asks another
chooser for the rest.
"""

from __future__ import annotations

import abc
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from smolcpu.artifact import Artifact
from smolcpu.errors import FlowError, SmolError, UsageError
from smolcpu.units import text_for_model


@dataclass(frozen=True)
class Choice:
    """One question to a chooser: pick one of ``options`` for ``block`` given ``artifact``."""

    kind: str  # "select" or "match"
    block: str
    options: tuple[str, ...]
    artifact: Artifact
    run: str = ""
    history: tuple[str, ...] = field(default=())  # the path so far, as "node:outcome"


@dataclass(frozen=True)
class Decision:
    """A chooser's answer and who gave it: ``rule``, ``classifier``, ``distilled``, ``llm``,
    ``scripted``, ``first`` (the executor records both, for ``smol dream`` to learn from).

    ``version``: the distilled model that decided, or was audited; ``audit``: the option that
    model would have taken when the LLM decided instead, to check it.
    """

    option: str
    by: str
    version: str = ""
    audit: str = ""


class Chooser(abc.ABC):
    """Decides among the options of a :class:`Choice`; the answer must be one of them."""

    by: str = "chooser"
    """Who this chooser is, as a :class:`Decision` names it."""

    @abc.abstractmethod
    async def choose(self, choice: Choice) -> str:
        """One of ``choice.options``.

        Raises:
            FlowError: the chooser cannot answer.
        """

    async def decide(self, choice: Choice) -> Decision:
        """:meth:`choose`, saying who decided (a chooser that defers to another names that one)."""
        return Decision(await self.choose(choice), self.by)


class FirstChooser(Chooser):
    """Always the first option: a select runs its first unconsumed step, a match takes its first word."""

    by = "first"

    async def choose(self, choice: Choice) -> str:
        return choice.options[0]

    def __repr__(self) -> str:
        return "<FirstChooser>"


class ScriptedChooser(Chooser):
    """Answers from a script, in order: one list for every block, or a list per block id.

    ``ScriptedChooser(["reason", "plan", "answer"])`` or
    ``ScriptedChooser({"select1": ["reason", "answer"], "match1": ["yes"]})``.
    Every answer must be one of the options offered; ``choices`` keeps what was asked.
    """

    by = "scripted"

    def __init__(self, script: Iterable[str] | Mapping[str, Iterable[str]]) -> None:
        if isinstance(script, Mapping):
            self.scripts: dict[str, list[str]] = {block: list(answers) for block, answers in script.items()}
        else:
            self.scripts = {"": list(script)}
        self.choices: list[tuple[Choice, str]] = []

    async def choose(self, choice: Choice) -> str:
        script = self.scripts.get(choice.block, self.scripts.get(""))
        if not script:
            raise FlowError(
                f"the scripted chooser has no answer left for {choice.block} (options: {', '.join(choice.options)})"
            )
        answer = script.pop(0)
        if answer not in choice.options:
            raise FlowError(
                f"the scripted chooser answered {answer!r} for {choice.block}, which offers only"
                f" {', '.join(choice.options)}"
            )
        self.choices.append((choice, answer))
        return answer

    def __repr__(self) -> str:
        left = {block or "*": len(answers) for block, answers in self.scripts.items()}
        return f"<ScriptedChooser left={left}>"


Ask = Callable[..., Awaitable[Artifact]]
"""``await ask(request, timeout=...)``: a request to the LLM unit, its reply."""


class LlmChooser(Chooser):
    """Asks the LLM unit to pick exactly one option (its ``choose`` op decodes under a grammar)."""

    by = "llm"

    def __init__(self, ask: Ask, *, timeout: float) -> None:
        self.ask = ask
        self.timeout = timeout

    async def choose(self, choice: Choice) -> str:
        what = "which step should run next" if choice.kind == "select" else "which option describes the input"
        prompt = (
            f"A workflow is at block {choice.block}; decide {what}.\n"
            + (f"Steps so far: {' '.join(choice.history[-12:])}\n" if choice.history else "")
            + f"Current data:\n{text_for_model(choice.artifact)[:2000]}"
        )
        request = Artifact.json(
            {"op": "choose", "prompt": prompt, "options": list(choice.options)},
            origin=choice.block,
            role="chooser",
            attributes={"run": choice.run} if choice.run else None,
            parents=(choice.artifact.id,),
        )
        reply = await self.ask(request, timeout=self.timeout)
        if reply.is_error:
            raise FlowError(f"the LLM chooser failed at {choice.block}: {reply.error_message}")
        return reply.as_text().strip()

    def __repr__(self) -> str:
        return "<LlmChooser>"


log = logging.getLogger("smolcpu.vm")

Embed = Callable[[list[str]], Awaitable[list[list[float]]]]
"""``await embed(texts)``: one unit vector per text (the ``embed`` unit answers so)."""


class NearestChooser(Chooser):
    """A small classifier in front of another chooser: the option whose examples lie nearest
    the input in embedding space (MiniLM), when that is clear; else ``fallback`` decides.

    ``examples`` maps a block id to its options' example inputs (``{"route": {"a math word
    problem": ["A robe takes 2 bolts...", ...]}}``). The nearest example wins when its cosine
    similarity is at least ``floor`` and beats the nearest example of any other option by
    ``margin``; an option without examples, a block without any, or a close call goes to the
    fallback (the LLM), so the classifier only takes the decisions it is sure of. ``decided``
    counts who decided, for reports. ``vectors`` caches the examples' embeddings by their
    texts: give the same dict to every chooser of a session and they are embedded once.
    """

    def __init__(
        self,
        embed: Embed,
        examples: Mapping[str, Mapping[str, Sequence[str]]],
        fallback: Chooser,
        *,
        floor: float = 0.3,
        margin: float = 0.04,
        vectors: dict[tuple[str, ...], Any] | None = None,
    ) -> None:
        self.embed = embed
        self.examples = {block: {option: list(texts) for option, texts in by.items()} for block, by in examples.items()}
        self.fallback = fallback
        self.floor = floor
        self.margin = margin
        self.vectors = vectors if vectors is not None else {}
        self.decided: Counter[str] = Counter()

    def __repr__(self) -> str:
        return f"<NearestChooser blocks={sorted(self.examples)} decided={dict(self.decided)}>"

    by = "classifier"

    async def choose(self, choice: Choice) -> str:
        return (await self.decide(choice)).option

    async def decide(self, choice: Choice) -> Decision:
        known = self.examples.get(choice.block, {})
        if not known or any(option not in known for option in choice.options if option != "default"):
            return await self._defer(choice)
        import numpy as np

        try:
            labels, matrix = await self._examples(choice.block)
            query = np.asarray((await self.embed([text_for_model(choice.artifact)]))[0], dtype=np.float32)
        except SmolError as exc:  # no embedder (model not installed): the fallback decides, as before
            log.warning("the classifier at %s cannot embed (%s); the fallback chooser decides", choice.block, exc)
            self.examples.pop(choice.block, None)
            return await self._defer(choice)
        similarity = matrix @ query
        best: dict[str, float] = {}
        for label, value in zip(labels, similarity.tolist(), strict=True):
            if label in choice.options:
                best[label] = max(best.get(label, -1.0), value)
        ranked = sorted(best.items(), key=lambda item: -item[1])
        if not ranked or ranked[0][1] < self.floor or (len(ranked) > 1 and ranked[0][1] - ranked[1][1] < self.margin):
            return await self._defer(choice)
        self.decided["classifier"] += 1
        return Decision(ranked[0][0], self.by)

    async def _defer(self, choice: Choice) -> Decision:
        self.decided["fallback"] += 1
        return await self.fallback.decide(choice)

    async def _examples(self, block: str) -> tuple[list[str], Any]:
        """The block's example labels and their vectors (one row each), embedded once."""
        labels = [option for option, texts in self.examples[block].items() for _ in texts]
        texts = [text for texts in self.examples[block].values() for text in texts]
        key = (*labels, *texts)
        if key not in self.vectors:
            import numpy as np

            self.vectors[key] = np.asarray(await self.embed(texts), dtype=np.float32)
        return labels, self.vectors[key]


def parse_chooser(spec: str) -> Chooser | None:
    """The chooser a command line names: ``llm`` (None: the executor's LLM), ``first``, ``scripted:a,b``.

    Raises:
        UsageError: an unknown spec.
    """
    kind, _, rest = spec.partition(":")
    if kind == "llm" and not rest:
        return None
    if kind == "first" and not rest:
        return FirstChooser()
    if kind == "scripted":
        answers: Sequence[str] = [a.strip() for a in rest.split(",") if a.strip()]
        return ScriptedChooser(answers)
    raise UsageError(f"unknown chooser {spec!r}: use llm, first or scripted:NAME,NAME,...")


__all__ = [
    "Choice",
    "Chooser",
    "Decision",
    "Embed",
    "FirstChooser",
    "LlmChooser",
    "NearestChooser",
    "ScriptedChooser",
    "parse_chooser",
]
