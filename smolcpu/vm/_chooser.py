"""Who decides a ``select`` (which step runs next) and a word-pattern ``match`` (which word fits).

The executor asks a :class:`Chooser` with a :class:`Choice`: the block, the options (worker
names for a select, pattern words for a match) and the artifact at hand. Choosers are
pluggable: :class:`ScriptedChooser` answers from a script (tests, ``--chooser
scripted:a,b``), :class:`FirstChooser` always takes the first option, :class:`LlmChooser`
asks the local LLM to pick exactly one of the options; a distilled model comes later.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from smolcpu.artifact import Artifact
from smolcpu.errors import FlowError, UsageError


@dataclass(frozen=True)
class Choice:
    """One question to a chooser: pick one of ``options`` for ``block`` given ``artifact``."""

    kind: str  # "select" or "match"
    block: str
    options: tuple[str, ...]
    artifact: Artifact
    run: str = ""
    history: tuple[str, ...] = field(default=())  # the path so far, as "node:outcome"


class Chooser(abc.ABC):
    """Decides among the options of a :class:`Choice`; the answer must be one of them."""

    @abc.abstractmethod
    async def choose(self, choice: Choice) -> str:
        """One of ``choice.options``.

        Raises:
            FlowError: the chooser cannot answer.
        """


class FirstChooser(Chooser):
    """Always the first option: a select runs its first unconsumed step, a match takes its first word."""

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

    def __init__(self, ask: Ask, *, timeout: float) -> None:
        self.ask = ask
        self.timeout = timeout

    async def choose(self, choice: Choice) -> str:
        what = "which step should run next" if choice.kind == "select" else "which word describes the input"
        prompt = (
            f"A workflow is at block {choice.block}; decide {what}.\n"
            + (f"Steps so far: {' '.join(choice.history[-12:])}\n" if choice.history else "")
            + f"Current data:\n{choice.artifact.as_text()[:2000]}"
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


__all__ = ["Choice", "Chooser", "FirstChooser", "LlmChooser", "ScriptedChooser", "parse_chooser"]
