"""Natural language to flow programs: the model writes, the checker judges, the model repairs.

:class:`Drafter` asks a language-model unit (anything that answers the LLM unit's chat
requests: the real one in a worker process, a scripted one in tests) for a program, under
the flow language's own grammar (:func:`smolcpu.lang.flow_gbnf`), so what comes back parses
(unless it was cut off). The checker then compiles it; while it reports errors, and for at
most ``rounds`` rounds, its diagnostics go back to the model, which writes the program
again. Last, the pieces a program leaves open (a worker with no ``use`` line, an ``llm``
worker with no instruction) are proposed by the model under a grammar that fixes their
form: the unit kind is one of the registry's, the instruction a plain string.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from smolcpu import config
from smolcpu.artifact import Artifact
from smolcpu.draft._prompt import complete_messages, draft_messages, repair_message
from smolcpu.errors import FlowSyntaxError, UnitError, UsageError
from smolcpu.lang import DEFAULT_UNIT, Compilation, Program, compile_source, flow_gbnf, format_program
from smolcpu.runtime import ActorSystem, UnitRef
from smolcpu.units import unit_kinds
from smolcpu.units.neural import gbnf_literal
from smolcpu.vm import Lifecycle

INSTRUCTION_CHARS = 160
"""The longest instruction a completion may propose."""


@dataclass(frozen=True, slots=True)
class DraftEvent:
    """What the drafter is doing, for a progress display.

    ``kind``: ``writing`` (round ``round`` begins), ``token`` (a piece of the program, in
    ``text``), ``checked`` (the checker's report in ``text``, empty when clean),
    ``completing`` (the missing pieces, named in ``text``).
    """

    kind: str
    text: str = ""
    round: int = 0


@dataclass(frozen=True, slots=True)
class Attempt:
    """One program the model wrote, and what the checker said of it."""

    source: str
    report: str  # the errors as the checker prints them, or the syntax error; empty when clean
    ok: bool
    tokens: int
    seconds: float
    cut_off: bool = False


@dataclass(frozen=True, slots=True)
class Missing:
    """A piece a program leaves open: a worker with no declaration, or an llm worker with no instruction."""

    worker: str
    declared: bool
    line: int  # of its `use` line when declared, else of its first step


@dataclass
class Draft:
    """The outcome: the program, the attempts that led to it, and what was proposed for it."""

    description: str
    source: str
    compilation: Compilation | None
    attempts: list[Attempt] = field(default_factory=list)
    proposals: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what went wrong on the way, e.g. no proposals

    @property
    def ok(self) -> bool:
        """The program parses and checks without errors."""
        return self.compilation is not None and self.compilation.ok

    @property
    def report(self) -> str:
        """What is still wrong (empty when ``ok``)."""
        if self.compilation is None:
            return self.attempts[-1].report if self.attempts else "no program"
        return self.compilation.render(warnings=False)


Progress = Callable[[DraftEvent], None]


class Drafter:
    """Writes flow programs with a language-model unit; see the module docstring.

    Args:
        llm: the unit to ask (a :class:`~smolcpu.runtime.UnitRef` answering LLM chat requests).
        rounds: programs to write at most, repairs included.
        seed: the sampling seed of repair rounds (the first round is greedy).
        max_tokens: the longest program, in tokens.
        on_event: called with each :class:`DraftEvent` (progress).
        timeout: seconds to wait for each piece of an answer.
    """

    def __init__(
        self,
        llm: Any,
        *,
        rounds: int = config.DRAFT_ROUNDS,
        seed: int = 0,
        max_tokens: int = config.DRAFT_MAX_TOKENS,
        on_event: Progress | None = None,
        timeout: float = config.LLM_TIMEOUT_S,
    ) -> None:
        if rounds < 1:
            raise UsageError("a draft needs at least one round")
        self.llm = llm
        self.rounds = rounds
        self.seed = seed
        self.max_tokens = max_tokens
        self.on_event = on_event or (lambda event: None)
        self.timeout = timeout
        self.units = tuple(sorted(kind.name for kind in unit_kinds()))

    def __repr__(self) -> str:
        return f"<Drafter rounds={self.rounds} seed={self.seed} llm={getattr(self.llm, 'name', self.llm)!r}>"

    async def draft(self, description: str, *, path: str = "draft.smol") -> Draft:
        """A program that does what ``description`` says, checked and completed.

        Raises:
            UsageError: the description is empty.
            UnitError: the model failed (not loaded, out of context, cancelled).
        """
        if not description.strip():
            raise UsageError("describe the workflow: smol draft \"what the program should do\"")
        grammar = flow_gbnf(units=self.units, require_flow=True, compact=True)
        messages = draft_messages(description.strip())
        attempts: list[Attempt] = []
        compilation: Compilation | None = None
        for round_ in range(1, self.rounds + 1):
            self.on_event(DraftEvent("writing", round=round_))
            started = time.monotonic()
            text, tokens, cut_off = await self._generate(messages, grammar, self.max_tokens, first=round_ == 1)
            compilation, report = _check(text, path=path, cut_off=cut_off)
            attempts.append(Attempt(text, report, not report, tokens, time.monotonic() - started, cut_off))
            self.on_event(DraftEvent("checked", report, round=round_))
            if not report:
                break
            messages += [{"role": "assistant", "content": text}, repair_message(report)]
        result = Draft(description, attempts[-1].source, compilation, attempts)
        if result.ok and compilation is not None:
            result.source = format_program(compilation.program)
            if missing_pieces(compilation):
                try:
                    completed = await self.complete(result.source, path=path, purpose=description.strip())
                except UnitError as exc:  # the program runs as it is: undeclared workers are LLM workers
                    result.notes.append(f"no declarations proposed: {exc}")
                else:
                    result.source, result.compilation, result.proposals = (
                        completed.source,
                        completed.compilation,
                        completed.proposals,
                    )
        return result

    async def complete(self, source: str, *, path: str = "draft.smol", purpose: str = "") -> Draft:
        """``source`` with a ``use`` line (unit kind and instruction) for every worker that lacks one;
        ``purpose`` says what the program is for, if known.

        Raises:
            FlowSyntaxError: ``source`` does not parse.
            UnitError: the model failed, or its proposals were cut off.
        """
        compilation = compile_source(source, path=path)
        missing = missing_pieces(compilation)
        if not missing:
            return Draft("", source, compilation)
        self.on_event(DraftEvent("completing", ", ".join(m.worker for m in missing)))
        grammar = proposal_grammar(missing, self.units)
        text, _, cut_off = await self._generate(
            complete_messages(source, [m.worker for m in missing], purpose=purpose),
            grammar,
            64 * len(missing) + 32,
            first=True,
        )
        if cut_off:
            raise UnitError(f"the model's proposals were cut off: {text!r}")
        proposals = [line for line in text.splitlines() if line.strip()]
        completed = apply_proposals(source, compilation.program, missing, proposals)
        return Draft("", completed, compile_source(completed, path=path), proposals=proposals)

    async def _generate(
        self, messages: list[dict[str, str]], grammar: str, max_tokens: int, *, first: bool
    ) -> tuple[str, int, bool]:
        """The model's answer under ``grammar`` (streamed to ``on_event``), its token count, whether it was cut off."""
        request: dict[str, Any] = {
            "op": "chat",
            "messages": messages,
            "grammar": grammar,
            "max_tokens": max_tokens,
            # the first try is greedy; a repair samples a little, so it does not repeat itself
            "temperature": 0.0 if first else 0.3,
            "seed": self.seed,
            "stream": True,
        }
        reply: Artifact | None = None
        async for part in self.llm.stream(Artifact.json(request, origin="draft", role="request"), timeout=self.timeout):
            if part.attr("part") == "token":
                self.on_event(DraftEvent("token", part.as_text()))
            else:
                reply = part
        if reply is None or reply.is_error:
            reason = reply.error_message if reply is not None else "no answer"
            raise UnitError(f"the language model could not write the program: {reason}")
        tokens = int(reply.attr("completion_tokens") or 0)
        return reply.as_text(), tokens, reply.attr("finish_reason") == "length"


def _check(text: str, *, path: str, cut_off: bool) -> tuple[Compilation | None, str]:
    """Compile a written program: the compilation (None if it does not parse) and its errors as text."""
    try:
        compilation = compile_source(text, path=path)
    except FlowSyntaxError as exc:
        note = " (the program was cut off: write a shorter one)" if cut_off else ""
        return None, f"{exc}{note}"
    return compilation, compilation.render(warnings=False)


def missing_pieces(compilation: Compilation) -> list[Missing]:
    """The workers of a program with no declaration, and the llm workers with no instruction, in source order."""
    found: dict[str, Missing] = {}
    for step in sorted(compilation.graph.steps(), key=lambda s: (s.line, s.column)):
        binding = step.binding
        if binding is None or step.worker in found:
            continue
        if not binding.declared:
            found[step.worker] = Missing(step.worker, declared=False, line=step.line)
        elif binding.unit == DEFAULT_UNIT and not binding.instruction and binding.path == compilation.path:
            found[step.worker] = Missing(step.worker, declared=True, line=binding.line)
    return list(found.values())


def proposal_grammar(missing: Sequence[Missing], units: Sequence[str]) -> str:
    """A GBNF grammar for exactly one ``use`` line per missing piece, in order.

    An undeclared worker may become any unit kind; a declared one keeps its kind (``llm``)
    and only gets an instruction.
    """
    kinds = " | ".join(gbnf_literal(unit) for unit in units)
    lines = []
    for index, piece in enumerate(missing):
        head = gbnf_literal(f"use {piece.worker} = ") + (f" {gbnf_literal(DEFAULT_UNIT)}" if piece.declared else " kind")
        lines.append(f"line{index} ::= {head} \" \" instruction \"\\n\"")
    root = "root ::= " + " ".join(f"line{index}" for index in range(len(missing)))
    return "\n".join(
        [
            root,
            *lines,
            f"kind ::= {kinds}",
            f'instruction ::= "\\"" [^"\\\\\\n]{{4,{INSTRUCTION_CHARS}}} "\\""',
        ]
    ) + "\n"


_PROPOSAL = re.compile(r'^use (\w+) = (\w+) ("(?:[^"\\]|\\.)*")$')


def apply_proposals(source: str, program: Program, missing: Sequence[Missing], proposals: Sequence[str]) -> str:
    """``source`` (whose tree is ``program``) with the proposed ``use`` lines added after its
    declarations, or their instructions written into the existing ``use`` lines.

    Raises:
        UnitError: the proposals are not one ``use`` line per missing piece (the grammar makes them so).
    """
    parsed = [_PROPOSAL.match(line.strip()) for line in proposals]
    if len(parsed) != len(missing) or not all(parsed):
        raise UnitError(f"expected {len(missing)} use lines, got: {list(proposals)}")
    lines = source.splitlines()
    new_uses = []
    for piece, match in zip(missing, parsed):
        assert match is not None
        worker, unit, instruction = match.group(1), match.group(2), match.group(3)
        if piece.declared:
            row = piece.line - 1
            declaration = re.compile(rf"(\buse\s+{re.escape(worker)}\s*=\s*{re.escape(DEFAULT_UNIT)})\b")
            lines[row] = declaration.sub(lambda m: f"{m.group(1)} {instruction}", lines[row], count=1)
        else:
            new_uses.append(f"use {worker} = {unit} {instruction}")
    if new_uses:
        if program.declarations:
            at = max(d.end_line or d.line for d in program.declarations)
        else:
            at = (program.chain.line - 1) if program.chain is not None else len(lines)
            new_uses.append("")
        lines[at:at] = new_uses
    return "\n".join(lines) + "\n"


@contextlib.asynccontextmanager
async def local_llm(model: str | None = None, *, threads: int | None = None) -> AsyncIterator[UnitRef]:
    """The LLM unit on ``model`` (a registry name or a GGUF path), in a worker process the
    Lifecycle starts and holds under the memory budget, for as long as the block runs;
    ``threads``: llama.cpp's threads, if not the default.

    Raises:
        UsageError: the model is not installed (the message names its install command).
        BudgetError: it does not fit the memory budget.
    """
    from smolcpu.models import model_path

    name = model or config.LLM_MODEL
    model_path(name)  # a missing model: a clear message before any process starts
    async with ActorSystem(record=False) as system, Lifecycle(system) as lifecycle:
        params: dict[str, Any] = {"model": name} | ({"threads": threads} if threads else {})
        async with lifecycle.acquire(DEFAULT_UNIT, params=params) as ref:
            yield ref


__all__ = [
    "Attempt",
    "Draft",
    "DraftEvent",
    "Drafter",
    "Missing",
    "apply_proposals",
    "local_llm",
    "missing_pieces",
    "proposal_grammar",
]
