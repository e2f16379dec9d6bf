"""Mining: what Smol's recorded runs teach — decisions with their inputs, and solved problems.

Every run the executor recorded is in the artifact store and the run index: each step's
input and output, and each decision as a ``choice`` artifact (who decided, among what, on
which input). A run **succeeded** when it ended ``ok``, the last step bound to a ``check``
or ``vote`` unit gave an answer (a check fails with an error artifact; a vote after it says
the answers agreed), and the user did not ask nearly the same again right after (a retry
says the answer did not help). A **solved problem** is a succeeded run whose last
verification was a check that passed, with the code that produced the answer (the input of
the last sandbox step that succeeded), written by a model at least :data:`SURE` confident of
it (a check is about form; the writer's doubt is the one sign of a wrong value it has): only
those ever become experience.

Per step (a program's worker, by name) mining also counts what verification edits need:
the runs it ran in, the runs where it failed itself, the runs that failed after it gave
an output (a later step failed, or the run did not succeed), and the runs where it failed
and then passed when run again (a ``back`` that helped).
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from smolcpu.artifact import ERROR, Artifact, ArtifactRecord, ArtifactStore, RunIndex, RunInfo
from smolcpu.errors import SmolError
from smolcpu.lang import Graph, Step, compile_file
from smolcpu.units import text_for_model

log = logging.getLogger("smolcpu.dream")

RETRY_WINDOW_S = 180.0
"""A request this soon after another that is nearly the same is a retry of it."""

RETRY_SIMILARITY = 0.9
"""How alike two requests' texts must be (difflib's ratio) to count as the same request."""

VERIFYING_UNITS = ("check", "vote")
"""Unit kinds whose success says an answer was verified."""


@dataclass(frozen=True)
class Decided:
    """One recorded decision of a run and how that run went."""

    run: str
    program: str
    kind: str
    block: str
    options: tuple[str, ...]
    input: str
    option: str
    by: str
    seconds: float
    succeeded: bool
    version: str = ""
    audit: str = ""


SURE = 0.87
"""The least confidence (a reply's ``confidence`` attribute, which the answer computed from it
keeps) of a solution filed as solved. On 60 GSM8K dev problems the 1.5B model's programs
below it were wrong 11 times in 16, those above 6 times in 44 (docs/evaluation.md)."""


@dataclass(frozen=True)
class Solved:
    """A problem a run solved and verified: the question, the code, the checked answer."""

    run: str
    program: str
    question: str
    code: str
    answer: str


@dataclass
class StepRecord:
    """How one worker of a program fared in the recorded runs (each count is of runs)."""

    program: str
    worker: str
    unit: str
    runs: int = 0
    failed: int = 0
    failed_after: int = 0
    recovered: int = 0


@dataclass
class Mined:
    """What the runs hold: decisions, verified solutions, steps' records, how many runs were read."""

    decisions: list[Decided] = field(default_factory=list)
    solved: list[Solved] = field(default_factory=list)
    steps: dict[tuple[str, str], StepRecord] = field(default_factory=dict)  # (program, worker) → record
    runs: int = 0
    succeeded: int = 0

    def steps_of(self, program: str) -> dict[str, StepRecord]:
        """Worker name → its record, for one program file."""
        return {worker: record for (path, worker), record in self.steps.items() if path == program}


def _units_of(program: str, cache: dict[str, dict[str, tuple[str, str]]]) -> dict[str, tuple[str, str]]:
    """Node id → (unit kind, worker name) of every step of a program file (empty when it cannot be read)."""
    if program not in cache:
        kinds: dict[str, tuple[str, str]] = {}
        if program and Path(program).is_file():
            try:
                compilation = compile_file(program)
                graph: Graph | None = compilation.runnable() if compilation.ok else None
            except SmolError as exc:
                log.warning("cannot compile %s to mine its runs: %s", program, exc)
                graph = None
            for node in graph.nodes if graph is not None else ():
                step = graph[node]
                if isinstance(step, Step) and step.binding is not None:
                    kinds[node] = (step.binding.unit, step.worker)
        cache[program] = kinds
    return cache[program]


def retried(runs: list[RunInfo]) -> set[str]:
    """Ids of runs the user asked again, nearly the same, within ``RETRY_WINDOW_S`` after."""
    ordered = sorted(runs, key=lambda run: run.started_ns)
    found = set()
    for i, run in enumerate(ordered):
        for later in ordered[i + 1 :]:
            if later.started_ns - run.started_ns > RETRY_WINDOW_S * 1e9:
                break
            same = difflib.SequenceMatcher(None, run.input_summary, later.input_summary).ratio()
            if later.program == run.program and same >= RETRY_SIMILARITY:
                found.add(run.id)
                break
    return found


def mine(index: RunIndex, store: ArtifactStore, *, runs: Iterable[RunInfo] | None = None) -> Mined:
    """Read the recorded runs (all, or ``runs``): their decisions and their solved problems."""
    chosen = list(runs) if runs is not None else index.runs()
    again = retried(index.runs())
    mined = Mined(runs=len(chosen))
    kinds_cache: dict[str, dict[str, tuple[str, str]]] = {}
    for run in chosen:
        records = index.artifacts(run.id)
        steps = _units_of(run.program, kinds_cache)
        kinds = {node: unit for node, (unit, _) in steps.items()}
        verifying = [r for r in records if kinds.get(r.origin) in VERIFYING_UNITS]
        last = verifying[-1] if verifying else None
        succeeded = run.status == "ok" and run.id not in again and (last is None or last.type != ERROR)
        mined.succeeded += succeeded
        _tally(mined.steps, run.program, records, steps, succeeded)
        for record in records:
            if record.role == "choice":
                decided = _decision(store, record, run, succeeded)
                if decided is not None:
                    mined.decisions.append(decided)
        if succeeded and last is not None and kinds.get(last.origin) == "check":
            solved = _solution(store, records, kinds, run)
            if solved is not None:
                mined.solved.append(solved)
    return mined


def _tally(
    tally: dict[tuple[str, str], StepRecord],
    program: str,
    records: list[ArtifactRecord],
    steps: dict[str, tuple[str, str]],
    succeeded: bool,
) -> None:
    """Count one run into each of its steps' records."""
    errors = [i for i, r in enumerate(records) if r.type == ERROR]
    by_worker: dict[tuple[str, str], list[int]] = {}
    for i, record in enumerate(records):
        if record.origin in steps:
            by_worker.setdefault(steps[record.origin], []).append(i)
    for (unit, worker), places in by_worker.items():
        step = tally.setdefault((program, worker), StepRecord(program, worker, unit))
        own = [i for i in places if records[i].type == ERROR]
        gave = [i for i in places if records[i].type != ERROR]
        step.runs += 1
        step.failed += bool(own)
        step.recovered += bool(own) and any(i > own[0] for i in gave)
        step.failed_after += bool(gave) and (not succeeded or any(e > gave[0] and e not in places for e in errors))


def _load(store: ArtifactStore, record: ArtifactRecord) -> Artifact | None:
    try:
        return store.load(record.key)
    except SmolError as exc:
        log.warning("mining: cannot read %s: %s", record.id, exc)
        return None


def _decision(store: ArtifactStore, record: ArtifactRecord, run: RunInfo, succeeded: bool) -> Decided | None:
    artifact = _load(store, record)
    if artifact is None:
        return None
    data = artifact.as_json()
    return Decided(
        run=run.id,
        program=run.program,
        kind=data["kind"],
        block=data["block"],
        options=tuple(data["options"]),
        input=data["input"],
        option=data["option"],
        by=data["by"],
        seconds=float(data.get("seconds", 0.0)),
        succeeded=succeeded,
        version=data.get("version", ""),
        audit=data.get("audit", ""),
    )


def _solution(
    store: ArtifactStore, records: list[ArtifactRecord], kinds: dict[str, str], run: RunInfo
) -> Solved | None:
    """The question, the code of the last sandbox step that succeeded, the checked answer."""
    by_id = {record.id: record for record in records}
    checked = [r for r in records if kinds.get(r.origin) == "check" and r.type != ERROR]
    ran = [r for r in records if kinds.get(r.origin) == "sandbox" and r.type != ERROR]
    question = next((r for r in records if r.origin == "in"), None)
    if not checked or not ran or question is None:
        return None
    code_record = next((by_id[p] for p in ran[-1].parents if p in by_id), None)
    loaded = [_load(store, r) for r in (question, code_record, checked[-1]) if r is not None]
    if len(loaded) != 3 or any(a is None for a in loaded):
        return None
    confidence = loaded[2].attr("confidence") if loaded[2] is not None else None
    if confidence is not None and float(confidence) < SURE:
        return None
    asked, code, answer = (text_for_model(a) for a in loaded if a is not None)
    return Solved(run.id, run.program, asked.strip(), code.strip(), answer.strip())


__all__ = ["RETRY_SIMILARITY", "RETRY_WINDOW_S", "Decided", "Mined", "Solved", "StepRecord", "mine", "retried"]
