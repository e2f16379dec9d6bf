"""One dream: mine the runs, audit and roll back, distil choosers, file verified solutions.

:func:`dream` is what ``smol dream`` runs (in a background process at low priority when a
trigger fires): it reads the store, rolls back distilled versions whose audited agreement
fell, distils every decision point with enough of the LLM's decisions (adopting a version
only when it covers at least what the one in service does), and adds the problems runs
solved and verified to the experience memory. What it learnt is a ``dream-report``
artifact and ``SMOL_HOME/dream/report.json`` (``smol dream --report`` shows the latest).
"""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from smolcpu import config
from smolcpu.artifact import Artifact, ArtifactStore, RunIndex, open_store
from smolcpu.dream._choosers import adopt, audited, roll_back_fallen
from smolcpu.dream._distil import TARGET_AGREEMENT, Embedder, distil
from smolcpu.dream._files import read_json, write_json
from smolcpu.dream._mining import Decided, Mined, mine
from smolcpu.dream._triggers import mark_dreamt
from smolcpu.units.stores import Experience
from smolcpu.vm import point_key, read_pointer

REPORT_ROLE = "dream-report"


@dataclass
class DreamReport:
    """What one dream learnt and changed."""

    runs: int = 0
    succeeded: int = 0
    decisions: dict[str, int] = field(default_factory=dict)  # who decided → how many
    points: list[dict[str, Any]] = field(default_factory=list)  # each decision point's distillation
    changes: list[dict[str, Any]] = field(default_factory=list)  # adopted, rolled back
    latency: dict[str, float] = field(default_factory=dict)  # who decided → median seconds
    audits: dict[str, list[int]] = field(default_factory=dict)  # version → [agreed, audited]
    solved: int = 0
    experience_added: int = 0
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    at: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def report_path() -> Path:
    """Where the latest dream's report is kept."""
    return config.dream_dir() / "report.json"


def latest_report() -> dict[str, Any] | None:
    """The report of the last dream, or None before the first."""
    return read_json(report_path(), None)


def points_of(decisions: list[Decided]) -> dict[str, list[Decided]]:
    """Decisions grouped by decision point (program file and block)."""
    grouped: dict[str, list[Decided]] = defaultdict(list)
    for decision in decisions:
        grouped[point_key(decision.program, decision.block)].append(decision)
    return grouped


def dream(*, embed: Embedder | None, target: float = TARGET_AGREEMENT, seed: int = 0) -> DreamReport:
    """Dream once over everything recorded; ``embed`` None (no MiniLM) mines and reports only.

    ``target``: the agreement with the LLM distilled choosers keep (Wilson lower bound).
    """
    began = time.monotonic()
    with RunIndex() as index, open_store(index=index) as store:
        return _dream(index, store, embed, target, seed, began)


def _dream(
    index: RunIndex, store: ArtifactStore, embed: Embedder | None, target: float, seed: int, began: float
) -> DreamReport:
    mined = mine(index, store)
    report = _mined(mined)
    report.changes += roll_back_fallen(store, mined.decisions)
    if embed is None:
        report.notes.append("no embedder (smol models install minilm): nothing distilled, no experience filed")
    else:
        for point, decisions in sorted(points_of(mined.decisions).items()):
            distilled = distil(point, decisions, embed, target=target, seed=seed)
            report.points.append(distilled.summary())
            change = adopt(store, distilled)
            if change is not None:
                report.changes.append(change)
        experience = Experience(embed=embed)
        try:
            report.experience_added = experience.add(
                [{"question": s.question, "code": s.code, "answer": s.answer, "run": s.run} for s in mined.solved]
            )
        finally:
            experience.close()
    report.seconds = round(time.monotonic() - began, 3)
    store.put(Artifact.json(report.to_json(), origin="dream", role=REPORT_ROLE))
    write_json(report_path(), report.to_json())
    mark_dreamt(index)
    return report


def default_embedder() -> Embedder | None:
    """MiniLM in this process on one thread (dreaming yields the cores), or None when not installed."""
    from smolcpu.units.tools._memory_hybrid import EMBED_MODEL, model_installed

    if not model_installed(EMBED_MODEL):
        return None
    from smolcpu.units.neural import Embed

    return Embed(threads=1).embed_many


def _mined(mined: Mined) -> DreamReport:
    """The part of the report mining alone gives: runs, who decided how fast, audits."""
    report = DreamReport(runs=mined.runs, succeeded=mined.succeeded, solved=len(mined.solved))
    by: dict[str, list[float]] = defaultdict(list)
    for decision in mined.decisions:
        by[decision.by].append(decision.seconds)
    report.decisions = {who: len(seconds) for who, seconds in sorted(by.items())}
    report.latency = {who: round(statistics.median(seconds), 6) for who, seconds in sorted(by.items())}
    for entry in read_pointer()["points"].values():
        for version in [entry.get("version"), *(h.get("version") for h in entry.get("history", []))]:
            if version:
                agreed, total = audited(mined.decisions, version)
                if total:
                    report.audits[version] = [agreed, total]
    return report


__all__ = ["REPORT_ROLE", "DreamReport", "default_embedder", "dream", "latest_report", "points_of", "report_path"]
