"""Programs that improve themselves, safely: variants scored on known cases, adopted only when
better on cases they were not chosen on; every version kept, diffable and revertible.

Most variants change a program's bindings, never its control flow:

- ``instruction``: an LLM step's instruction, rewritten by the LLM (DSPy's instruction
  proposals are the anchor; here a small model proposes, and the cases decide);
- ``model``: another model for an LLM step;
- ``examples``: how many solved problems an ``experience`` step shows the writer;
- ``verification``: a ``check`` made stricter or looser (``positive``; ``sure``, how confident
  the writer of the answer must have been, moved both ways);
- verification *steps* added or removed where the program's recorded runs show a reason
  (:mod:`smolcpu.dream._verification`: a check or a vote after a step that runs often failed
  after, a check that never failed, a ``back`` that never helped).

Every variant must check clean to be tried.

Cases are inputs with known answers (a JSON-lines file, or the verified runs of the
program). They are split once, by seed, into cases to choose on and held-out cases; the
variant that does best on the first is adopted only when it *beats* the program on the
held-out ones too: more right answers, or as many (some) for clearly less work (fewer tokens
generated, or as many and fewer steps: a check removed, a vote of three made one answer), so an
adopted variant is never worse there than what it replaced. Work is counted, not timed: on a
shared machine, seconds would adopt whichever variant ran while the machine was quiet. Versions live in the store (``program-version`` artifacts) and in
``SMOL_HOME/dream/programs.json`` with the hash of the file each time dream wrote it: a file
whose hash differs was edited by its user, and dream never overwrites it.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import math
import random
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from smolcpu import config
from smolcpu.artifact import Artifact, ArtifactStore
from smolcpu.dream._files import read_json, write_json
from smolcpu.dream._mining import StepRecord
from smolcpu.dream._triggers import file_hash
from smolcpu.dream._verification import verification_edits
from smolcpu.errors import UsageError
from smolcpu.lang import Program, compile_source, format_program, parse
from smolcpu.lang._ast import Param, Use
from smolcpu.programs import Session, answer_text

VERSION_ROLE = "program-version"
HELD_OUT = 0.4
"""The share of the cases kept out of choosing, to decide adoption on."""

CHEAPER_BY = 0.9
"""As many right answers beat the program only at this share of its generated tokens (or steps) or less."""

Run = Callable[[str, str], Awaitable["Answered"]]
"""``await run(program_source, input)``: the program's answer to one input, and its cost."""
Propose = Callable[[str], Awaitable[list[str]]]
"""``await propose(instruction)``: rewritten instructions for one LLM step."""

_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


@dataclass(frozen=True)
class Case:
    """An input and its known answer."""

    input: str
    answer: str


@dataclass(frozen=True)
class Answered:
    """One run's answer and the work it took: steps, and tokens the LLM generated (reading a
    prompt costs a tenth of writing here, and a shorter instruction is no saving worth a risk)."""

    text: str
    steps: int = 0
    tokens: int = 0


@dataclass(frozen=True)
class Score:
    """How a program did on a set of cases: its share of right answers and the work it took."""

    accuracy: float
    steps: int = 0
    tokens: int = 0

    def beats(self, other: Score) -> bool:
        """More right answers; or as many (and some), for at most CHEAPER_BY of the other's
        tokens (or as many tokens and at most CHEAPER_BY of its steps)."""
        if self.accuracy != other.accuracy or not self.accuracy:
            return self.accuracy > other.accuracy
        if self.tokens != other.tokens:
            return self.tokens <= other.tokens * CHEAPER_BY
        return self.steps <= other.steps * CHEAPER_BY

    def rank(self) -> tuple[float, int, int]:
        """Best first when sorted descending: accuracy, then fewer tokens, then fewer steps."""
        return self.accuracy, -self.tokens, -self.steps

    def __str__(self) -> str:
        return f"{self.accuracy:.0%}, {self.steps} steps, {self.tokens} tokens"


@dataclass(frozen=True)
class Variant:
    """A program's source with one change, and what that change is."""

    change: str
    source: str


@dataclass
class Improvement:
    """What one improvement round tried, scored and did."""

    program: str
    cases: int
    held_out: int
    baseline: dict[str, Score] = field(default_factory=dict)  # "chosen on" / "held out" → its score
    variants: list[dict[str, Any]] = field(default_factory=list)
    adopted: str | None = None
    why: str = ""


def load_cases(path: Path) -> list[Case]:
    """Cases from JSON lines of ``{"input": ..., "answer": ...}``.

    Raises:
        UsageError: unreadable, or a line that is no such object.
    """
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise UsageError(f"cannot read cases {str(path)!r}: {exc.strerror or exc}") from exc
    cases = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            cases.append(Case(str(record["input"]), str(record["answer"])))
        except (ValueError, KeyError, TypeError) as exc:
            raise UsageError(f"{path}:{number}: a case is a JSON object with input and answer ({exc})") from exc
    return cases


def agrees(got: str, expected: str) -> bool:
    """Whether an answer is the known one: the same number (to 1e-6), else the same text."""
    numbers = _NUMBER.findall(got.replace(",", ""))
    try:
        want = float(expected.replace(",", ""))
    except ValueError:
        return " ".join(got.split()).lower() == " ".join(expected.split()).lower()
    return bool(numbers) and math.isclose(float(numbers[-1]), want, rel_tol=1e-6, abs_tol=1e-6)


def _replace_use(program: Program, old: Use, new: Use) -> str:
    declarations = tuple(new if d is old else d for d in program.declarations)
    return format_program(dataclasses.replace(program, declarations=declarations))


SURE_STEP = 0.03
"""How far a ``verification`` variant moves a check's ``sure``: on 60 GSM8K dev problems, 8 of
the 1.5B model's programs scored within 0.03 below 0.87, and 8 within 0.03 above."""


def _with_param(use: Use, name: str, value: Any) -> Use:
    kept = tuple(p for p in use.params if p.name != name)
    params = kept if value is None else (*kept, Param(name=name, value=value))
    return dataclasses.replace(use, params=params)


def _param(use: Use, name: str) -> Any:
    return next((p.value for p in use.params if p.name == name), None)


def wants(cases: Sequence[Case]) -> str:
    """What an added check asks for: a number when every known answer is one, else text."""
    numbers = [_NUMBER.fullmatch(case.answer.strip()) for case in cases]
    return "number" if numbers and all(numbers) else "text"


async def variants(
    source: str,
    *,
    propose: Propose | None = None,
    models: Sequence[str] = (),
    steps: dict[str, StepRecord] | None = None,
    want: str = "number",
) -> list[Variant]:
    """Every one-change variant of ``source`` that checks clean; ``steps`` (worker → how it fared
    in the program's recorded runs) proposes verification steps added or removed."""
    program = parse(source)
    found: list[Variant] = []
    for use in [d for d in program.declarations if isinstance(d, Use)]:
        if use.unit == "llm" and use.instruction and propose is not None:
            for text in await propose(use.instruction):
                if text.strip() and text.strip() != use.instruction.strip():
                    new = dataclasses.replace(use, instruction=text.strip())
                    found.append(Variant(f"instruction of {use.name} rewritten", _replace_use(program, use, new)))
        if use.unit == "llm":
            for model in models:
                if _param(use, "model") != model:
                    changed = _replace_use(program, use, _with_param(use, "model", model))
                    found.append(Variant(f"{use.name} on {model}", changed))
        if use.unit == "experience":
            k = int(_param(use, "k") or 2)
            for other in (k - 1, k + 1):
                if 1 <= other <= 4:
                    changed = _replace_use(program, use, _with_param(use, "k", other))
                    found.append(Variant(f"{use.name} shows {other} examples", changed))
        if use.unit == "check":
            positive = bool(_param(use, "positive"))
            changed = _replace_use(program, use, _with_param(use, "positive", None if positive else True))
            found.append(Variant(f"{use.name} {'looser: any sign' if positive else 'stricter: above zero'}", changed))
            sure = _param(use, "sure")
            for other in () if sure is None else (round(sure - SURE_STEP, 2), round(sure + SURE_STEP, 2)):
                if 0 < other < 1:
                    changed = _replace_use(program, use, _with_param(use, "sure", other))
                    how = "doubts less" if other < sure else "doubts more"
                    found.append(Variant(f"{use.name} {how}: sure = {other:g}", changed))
    for change, edited in verification_edits(program, steps or {}, want=want):
        found.append(Variant(change, format_program(edited)))
    return [v for v in found if compile_source(v.source).ok]


async def score(run: Run, source: str, cases: Sequence[Case]) -> Score:
    """The share of ``cases`` the program answers with the known answer, and the steps and
    LLM tokens it took over all of them."""
    if not cases:
        return Score(0.0)
    right = steps = tokens = 0
    for case in cases:
        answered = await run(source, case.input)
        right += agrees(answered.text, case.answer)
        steps += answered.steps
        tokens += answered.tokens
    return Score(right / len(cases), steps, tokens)


def session_runner(session: Session, *, path: str | Path = "<flow>") -> Run:
    """A :data:`Run` on an open session: the program compiled (as if at ``path``, so imports
    and choice examples beside it are found), run on the input, its answer and cost."""

    async def run(source: str, given: str) -> Answered:
        compilation = compile_source(source, path=path)
        if not compilation.ok:
            raise UsageError("a variant has errors:\n" + compilation.render(warnings=False))
        result = await session.run(compilation.runnable(), given)
        spent = result.usage.get("spent", {})
        return Answered(answer_text(result.output), result.steps, int(spent.get("tokens_written", 0)))

    return run


def llm_proposer(session: Session, *, count: int = 2) -> Propose:
    """A :data:`Propose` that asks the session's LLM to rewrite an instruction ``count`` ways."""
    rewrite = compile_source(
        'use rewrite = llm "Rewrite the instruction below for a small language model: keep what it asks,'
        ' say it more clearly and exactly, keep the reply format it names. Reply with the new instruction only."\n'
        "out <= rewrite\n"
    ).runnable()

    async def propose(instruction: str) -> list[str]:
        found = []
        for attempt in range(count):
            given = instruction if attempt == 0 else f"{instruction}\n(Write a different version, number {attempt + 1}.)"
            result = await session.run(rewrite, given)
            if not result.output.is_error:
                found.append(answer_text(result.output).strip().strip('"'))
        return found

    return propose


def split(cases: Sequence[Case], *, seed: int = 0) -> tuple[list[Case], list[Case]]:
    """(cases to choose on, held-out cases), the same for the same cases and seed."""
    shuffled = list(cases)
    random.Random(seed).shuffle(shuffled)
    cut = max(1, round(len(shuffled) * HELD_OUT))
    return shuffled[cut:], shuffled[:cut]


async def improve(
    path: Path,
    cases: Sequence[Case],
    store: ArtifactStore,
    *,
    run: Run,
    propose: Propose | None = None,
    models: Sequence[str] = (),
    steps: dict[str, StepRecord] | None = None,
    seed: int = 0,
) -> Improvement:
    """Try every variant of the program at ``path``; adopt the best when it beats the program held out.
    ``steps``: how its workers fared in its recorded runs (see :func:`variants`).

    Raises:
        UsageError: too few cases, or the program has errors.
    """
    if len(cases) < 4:
        raise UsageError(f"improving a program needs at least 4 cases with known answers, not {len(cases)}")
    path = path.resolve()
    source = path.read_text()
    if not compile_source(source, path=str(path)).ok:
        raise UsageError(f"{path} has errors: `smol check {path}` shows them; dream improves programs that check clean")
    began_hash = file_hash(path)
    chosen_on, held_out = split(cases, seed=seed)
    found = Improvement(str(path), len(cases), len(held_out))
    base_chosen = await score(run, source, chosen_on)
    found.baseline = {"chosen on": base_chosen}
    scored = []
    for variant in await variants(source, propose=propose, models=models, steps=steps, want=wants(cases)):
        got = await score(run, variant.source, chosen_on)
        scored.append((got, variant))
        found.variants.append({"change": variant.change, "chosen on": got})
    best = max(scored, key=lambda pair: pair[0].rank(), default=None)
    if best is None or not best[0].beats(base_chosen):
        found.why = "no variant did better than the program on the cases chosen on"
        return found
    base_held = await score(run, source, held_out)
    best_held = await score(run, best[1].source, held_out)
    found.baseline["held out"] = base_held
    next(v for v in found.variants if v["change"] == best[1].change)["held out"] = best_held
    if not best_held.beats(base_held):
        found.why = f"{best[1].change}: better where chosen, not held out ({best_held} vs {base_held})"
        return found
    why = f"{best[1].change}: held out {best_held} vs {base_held}"
    if file_hash(path) != began_hash or user_edited(path):
        found.why = f"{why}; not written: the file was edited since dream last wrote it (see smol dream diff)"
        return found
    adopt_version(store, path, best[1].source, why)
    found.adopted, found.why = best[1].change, why
    return found


def versions_path() -> Path:
    return config.dream_dir() / "programs.json"


def _read_versions() -> dict[str, Any]:
    return read_json(versions_path(), {})


def _write_versions(data: dict[str, Any]) -> None:
    write_json(versions_path(), data)


def _keep(store: ArtifactStore, path: Path, source: str, why: str) -> dict[str, Any]:
    artifact = Artifact.text(source, origin="dream", role=VERSION_ROLE, attributes={"program": str(path), "why": why})
    store.put(artifact)
    return {"artifact": artifact.id, "hash": file_hash_of(source), "why": why, "at": time.time()}


def file_hash_of(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()


def user_edited(path: Path) -> bool:
    """Whether the file changed since dream last wrote it (never true before dream wrote it)."""
    entry = _read_versions().get(str(path.resolve()))
    return bool(entry and entry.get("written") and entry["written"] != file_hash(path))


def adopt_version(store: ArtifactStore, path: Path, source: str, why: str) -> None:
    """Write ``source`` to ``path`` as a new version (the file as it was kept first).

    Raises:
        UsageError: the user edited the file since dream last wrote it.
    """
    path = path.resolve()
    if user_edited(path):
        raise UsageError(f"{path} was edited since dream last wrote it: dream never overwrites your edits")
    data = _read_versions()
    entry = data.setdefault(str(path), {"versions": []})
    current = path.read_text()
    if not entry["versions"] or entry["versions"][-1]["hash"] != file_hash_of(current):
        entry["versions"].append(_keep(store, path, current, "as it was before dream changed it"))
    entry["versions"].append(_keep(store, path, source, why))
    path.write_text(source)
    entry["written"] = file_hash(path)
    _write_versions(data)


def _version_source(store: ArtifactStore, version: dict[str, Any]) -> str:
    return store.get(version["artifact"]).as_text()


def diff(store: ArtifactStore, path: Path) -> str:
    """What dream's last change to ``path`` changed (a unified diff), and any user edit since.

    Raises:
        UsageError: dream never changed this program.
    """
    path = path.resolve()
    entry = _read_versions().get(str(path))
    if not entry or len(entry["versions"]) < 2:
        raise UsageError(f"dream has not changed {path}")
    before, after = (_version_source(store, v) for v in entry["versions"][-2:])
    text = "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True), after.splitlines(keepends=True),
            fromfile=f"{path.name} (before: {entry['versions'][-2]['why']})",
            tofile=f"{path.name} (dream: {entry['versions'][-1]['why']})",
        )
    )
    if user_edited(path):
        text += "".join(
            difflib.unified_diff(
                after.splitlines(keepends=True), path.read_text().splitlines(keepends=True),
                fromfile=f"{path.name} (dream)", tofile=f"{path.name} (your edit since)",
            )
        )
    return text


def revert_program(store: ArtifactStore, path: Path) -> str:
    """Put the version before dream's last change back; what it was changed for.

    Raises:
        UsageError: nothing to revert, or the user edited the file since (never overwritten).
    """
    path = path.resolve()
    data = _read_versions()
    entry = data.get(str(path))
    if not entry or len(entry["versions"]) < 2:
        raise UsageError(f"dream has not changed {path}: nothing to revert")
    if user_edited(path):
        raise UsageError(f"{path} was edited since dream last wrote it: dream never overwrites your edits")
    undone = entry["versions"].pop()
    path.write_text(_version_source(store, entry["versions"][-1]))
    entry["written"] = file_hash(path)
    _write_versions(data)
    return undone["why"]


__all__ = [
    "HELD_OUT",
    "VERSION_ROLE",
    "Answered",
    "Case",
    "Improvement",
    "Score",
    "Variant",
    "adopt_version",
    "agrees",
    "diff",
    "improve",
    "llm_proposer",
    "load_cases",
    "revert_program",
    "score",
    "session_runner",
    "split",
    "user_edited",
    "variants",
    "wants",
]
