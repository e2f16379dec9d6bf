"""Verification steps added or removed, as edits of a program's syntax tree, each proposed by
what the recorded runs of that program show (:class:`~smolcpu.dream._mining.StepRecord`):

- **add a check** after an LLM step when at least ``FAIL_SHARE`` of the runs it gave an
  output in failed after it (a later step failed, or the run did not succeed) and no check
  follows it: ``S => next`` then ``check<3> => next | back``, so a failed check sends the
  step its reason to try again (a bare ``S`` in a chain becomes that two-step switch);
- **add two solutions and a vote** on the same evidence, when the answers are numbers: ``S``
  becomes ``vote <= join <= ( S  S_2  S_3 )``, the copies sampled warmer, the majority wins
  (a tie goes to ``S``'s own answer);
- **remove a check** that never failed in ``MIN_RUNS`` or more runs;
- **remove a check's ``back``** when the check failed in ``MIN_RUNS`` or more runs and never
  passed after going back.

Only ``switch`` bodies and plain chains are edited (a ``select`` has no order to insert in).
Evidence proposes; whether a variant is kept is for the cases to decide (``_improve``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

from smolcpu.dream._mining import StepRecord
from smolcpu.lang._ast import Block, Chain, Io, Outcome, Param, Program, Step, Use, Worker

MIN_RUNS = 5
"""Runs a step must have been recorded in before its record proposes anything."""
FAIL_SHARE = 0.2
"""The share of a step's runs that failed after it that makes a verification worth trying."""
CHECK_LIMIT = 3
"""How often an added check runs in one run (so its ``back`` cannot loop)."""
AGAIN = (
    "Work it out step by step, then give the answer alone on the last line.",
    "Before you answer, check the result by working backwards.",
)
"""What the two extra solutions of an added vote are told after the step's own instruction, so
that they are solved another way (a binding has no sampling temperature to vary)."""

Element = Any  # a chain element or a switch body item
Rewrite = Callable[[tuple[Element, ...], bool], tuple[Element, ...]]
"""``rewrite(items, in_switch)``: one sequence of a program (a chain's elements, a switch's body)."""


def _edit(program: Program, rewrite: Rewrite) -> Program:
    """The program with ``rewrite`` applied to every chain and switch body, innermost first."""

    def walk(node: Element) -> Element:
        if isinstance(node, Chain):
            return dataclasses.replace(node, elements=rewrite(tuple(walk(e) for e in node.elements), False))
        if isinstance(node, Block):
            body = tuple(walk(e) for e in node.body)
            return dataclasses.replace(node, body=rewrite(body, True) if node.kind == "switch" else body)
        return node

    return dataclasses.replace(program, chain=walk(program.chain) if program.chain else None)


def _walk(node: Element) -> Iterator[Element]:
    yield node
    for child in getattr(node, "elements", ()) or getattr(node, "body", ()):
        yield from _walk(child)


def _worker(item: Element) -> str | None:
    """The worker an item runs (a bare worker in a chain, or a step), else None."""
    if isinstance(item, Worker):
        return item.name
    return item.worker.name if isinstance(item, Step) else None


def _placed(node: Element, like: Element) -> Element:
    """A new node (and the new nodes in it) placed where ``like`` was written, so the printer
    keeps it in the paragraph of its neighbours."""
    if isinstance(node, tuple):
        return tuple(_placed(n, like) for n in node)
    if not isinstance(node, Chain | Block | Step | Worker | Io):
        return node
    inner = {f: _placed(getattr(node, f), like) for f in ("elements", "body") if hasattr(node, f)}
    return dataclasses.replace(node, line=like.line, end_line=like.end_line, **inner)


def _uses(program: Program) -> dict[str, Use]:
    return {d.name: d for d in program.declarations if isinstance(d, Use)}


def _fresh(program: Program, base: str) -> str:
    """A worker name the program does not use yet."""
    taken = set(_uses(program)) | {_worker(n) for n in _walk(program.chain) if _worker(n)}
    return next(name for name in (base, *(f"{base}_{i}" for i in range(2, 99))) if name not in taken)


def _declare(program: Program, *uses: Use) -> Program:
    return dataclasses.replace(program, declarations=(*program.declarations, *uses))


def _prune(program: Program, name: str) -> Program:
    """The program without the declaration of ``name`` once its chain no longer runs it."""
    if program.chain is None or name in {_worker(n) for n in _walk(program.chain)}:
        return program
    kept = tuple(d for d in program.declarations if not (isinstance(d, Use) and d.name == name))
    return dataclasses.replace(program, declarations=kept)


def _next_first(item: Element) -> bool:
    """Whether an item passes its output on (a bare worker does; a step whose first outcome is next)."""
    return isinstance(item, Worker) or (isinstance(item, Step) and item.outcomes[0].name == "next")


def _replace_worker(program: Program, name: str, make: Callable[[Element], tuple[Element, ...]]) -> Program:
    """Each item running ``name`` that passes its output on, replaced by ``make(item)`` (a
    sequence left empty is kept as it was)."""

    def rewrite(items: tuple[Element, ...], in_switch: bool) -> tuple[Element, ...]:
        chosen = [make(item) if _worker(item) == name and _next_first(item) else (item,) for item in items]
        made = tuple(new for group in chosen for new in group)
        return made if any(not isinstance(item, Io) for item in made) else items

    return _edit(program, rewrite)


def add_check(program: Program, name: str, want: str) -> Program:
    """A check after each place ``name`` runs, going back to it once it fails."""
    checks = {n for n, use in _uses(program).items() if use.unit == "check"}
    check = _fresh(program, f"{name}_check")
    guard = Step(worker=Worker(check, CHECK_LIMIT), outcomes=(Outcome("next"), Outcome("back")))

    def rewrite(items: tuple[Element, ...], in_switch: bool) -> tuple[Element, ...]:
        out: list[Element] = []
        for i, item in enumerate(items):
            j = i + 1 if in_switch else i - 1  # the item after it in the data's direction
            guarded = 0 <= j < len(items) and _worker(items[j]) in checks
            if _worker(item) != name or guarded or not _next_first(item):
                out.append(item)
            elif in_switch:
                out += [item, _placed(guard, item)]
            else:
                step = Step(worker=item, outcomes=(Outcome("next"),))
                out.append(Block(kind="switch", body=(step, guard)))
        return tuple(out)

    edited = _edit(program, rewrite)
    if edited == program:
        return program
    return _declare(edited, Use(name=check, unit="check", params=(Param(name="want", value=want),)))


def add_vote(program: Program, name: str) -> Program:
    """Each place ``name`` runs becomes three solutions (``name`` and two copies told to solve it
    another way) and a vote."""
    original = _uses(program).get(name)
    if original is None or not original.instruction:
        return program
    copies = [_fresh(program, f"{name}_{i}") for i in (2, 3)]
    vote = _fresh(program, f"{name}_vote")
    declared = [
        dataclasses.replace(original, name=copy, instruction=f"{original.instruction}\n{again}")
        for copy, again in zip(copies, AGAIN, strict=True)
    ]

    def make(item: Element) -> tuple[Element, ...]:
        branches = tuple(Chain(elements=(Worker(w),)) for w in (name, *copies))
        voted = (Worker(vote), Block(kind="join", body=branches))
        if isinstance(item, Worker):
            return voted
        chain = Chain(elements=(Io("out"), *voted))
        return (_placed(chain, item),) if item.outcomes == (Outcome("next"),) else (item,)

    edited = _replace_worker(program, name, make)
    if edited == program:
        return program
    return _declare(edited, *declared, Use(name=vote, unit="vote"))


def remove_step(program: Program, name: str) -> Program:
    """The program without the steps running ``name`` (only where it passes its input or output on)."""
    return _prune(_replace_worker(program, name, lambda item: ()), name)


def drop_back(program: Program, name: str) -> Program:
    """The steps running ``name`` without their ``back`` outcomes (when another outcome is left)."""

    def rewrite(items: tuple[Element, ...], in_switch: bool) -> tuple[Element, ...]:
        out = []
        for item in items:
            kept = tuple(o for o in item.outcomes if o.name != "back") if isinstance(item, Step) else ()
            changed = _worker(item) == name and isinstance(item, Step) and kept and kept != item.outcomes
            out.append(dataclasses.replace(item, outcomes=kept) if changed else item)
        return tuple(out)

    return _edit(program, rewrite)


def _share(record: StepRecord) -> float:
    return record.failed_after / record.runs if record.runs else 0.0


def verification_edits(
    program: Program, records: dict[str, StepRecord], *, want: str
) -> list[tuple[str, Program]]:
    """(what changed and the evidence, the edited program) for every edit the records propose."""
    uses = _uses(program)
    edits: list[tuple[str, Program]] = []
    for name, record in records.items():
        unit = uses[name].unit if name in uses else record.unit
        seen = f"{record.failed_after} of {record.runs} recorded runs failed after it"
        if unit == "llm" and record.runs >= MIN_RUNS and _share(record) >= FAIL_SHARE:
            edits.append((f"check after {name} ({seen})", add_check(program, name, want)))
            if want == "number":
                edits.append((f"{name} solved three times, then a vote ({seen})", add_vote(program, name)))
        if unit == "check" and record.runs >= MIN_RUNS and record.failed == 0:
            why = f"it never failed in {record.runs} recorded runs"
            edits.append((f"without {name} ({why})", remove_step(program, name)))
        if unit == "check" and record.failed >= MIN_RUNS and record.recovered == 0:
            why = f"it failed in {record.failed} recorded runs and never passed after going back"
            edits.append((f"{name} without back ({why})", drop_back(program, name)))
    return [(change, edited) for change, edited in edits if edited != program]


__all__ = ["FAIL_SHARE", "MIN_RUNS", "add_check", "add_vote", "drop_back", "remove_step", "verification_edits"]
