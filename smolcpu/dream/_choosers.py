"""Versions of the distilled choosers: adopted, audited, rolled back, reverted — each an artifact.

The pointer file names each decision point's version and keeps the versions it replaced
(``history``, newest last). A version is adopted when it takes at least as many held-out
decisions (coverage) as the one in service at the same agreement. In service, a share of
its decisions is audited by the LLM (see :class:`~smolcpu.vm.DistilledChooser`); when its
audited agreement (over at least ``AUDIT_MIN`` audits) falls below the previous version's —
that one's audited agreement, else its held-out one, else the target for a first version —
it is rolled back. ``smol dream --revert`` steps back by hand. Every change of the pointer
is a ``dream-change`` artifact saying what changed and why.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from smolcpu.artifact import Artifact, ArtifactStore
from smolcpu.dream._distil import TARGET_AGREEMENT, Distilled
from smolcpu.dream._mining import Decided
from smolcpu.errors import UsageError
from smolcpu.dream._files import write_json
from smolcpu.vm import MODEL_ROLE, pointer_path, read_pointer

AUDIT_MIN = 20
"""Audits a version needs before its audited agreement can roll it back."""

CHANGE_ROLE = "dream-change"


def record_change(store: ArtifactStore, change: dict[str, Any]) -> dict[str, Any]:
    """Store a change of what dreaming put in service, as an artifact; the change, with its id."""
    artifact = Artifact.json(change, origin="dream", role=CHANGE_ROLE)
    store.put(artifact)
    return change | {"artifact": artifact.id}


def audited(decisions: Sequence[Decided], version: str) -> tuple[int, int]:
    """How many of ``version``'s audited decisions agreed with the LLM, of how many."""
    audits = [d for d in decisions if d.version == version and d.audit]
    return sum(d.audit == d.option for d in audits), len(audits)


def adopt(store: ArtifactStore, distilled: Distilled) -> dict[str, Any] | None:
    """Put a distilled model in service if it covers at least what the current one does;
    the change, or None when it is not adopted."""
    if distilled.model is None:
        return None
    data = read_pointer()
    entry = data["points"].get(distilled.point)
    if entry and entry.get("version") and entry.get("coverage", 0.0) > distilled.coverage:
        return None
    artifact = Artifact.json(
        {"model": distilled.model.to_json(), "trained": distilled.summary()},
        origin="dream",
        role=MODEL_ROLE,
    )
    store.put(artifact)
    history = [*entry.get("history", []), _kept(entry)] if entry and entry.get("version") else []
    data["points"][distilled.point] = {
        "version": artifact.id,
        "coverage": distilled.coverage,
        "agreement": distilled.agreement,
        "at": time.time(),
        "history": history,
    }
    write_json(pointer_path(), data)
    return record_change(store, {"change": "adopted", "point": distilled.point, "version": artifact.id, **distilled.summary()})


def _kept(entry: dict[str, Any]) -> dict[str, Any]:
    return {key: entry[key] for key in ("version", "coverage", "agreement") if key in entry}


def roll_back_fallen(store: ArtifactStore, decisions: Sequence[Decided]) -> list[dict[str, Any]]:
    """Roll back every version whose audited agreement fell below its predecessor's."""
    data = read_pointer()
    changes = []
    for point, entry in list(data["points"].items()):
        version = entry.get("version")
        agreed, total = audited(decisions, version) if version else (0, 0)
        if total < AUDIT_MIN:
            continue
        history = entry.get("history", [])
        previous = history[-1] if history else None
        reference = TARGET_AGREEMENT
        if previous is not None:
            before, seen = audited(decisions, previous["version"])
            reference = before / seen if seen >= AUDIT_MIN else previous.get("agreement", TARGET_AGREEMENT)
        if agreed / total >= reference:
            continue
        why = f"audited agreement {agreed}/{total} = {agreed / total:.1%} fell below {reference:.1%}"
        changes.append(_step_back(store, data, point, "rolled back", why))
    if changes:
        write_json(pointer_path(), data)
    return changes


def revert(store: ArtifactStore, point: str | None = None) -> list[dict[str, Any]]:
    """Step back to the previous version of ``point`` (every point when None), by hand.

    Raises:
        UsageError: no such point, or nothing to revert.
    """
    data = read_pointer()
    points = [point] if point else [p for p, e in data["points"].items() if e.get("version")]
    if point and point not in data["points"]:
        known = ", ".join(sorted(data["points"])) or "none yet"
        raise UsageError(f"no distilled chooser {point!r} (known: {known})")
    points = [p for p in points if data["points"][p].get("version") or data["points"][p].get("history")]
    if not points:
        raise UsageError("no distilled chooser is in service: nothing to revert")
    changes = [_step_back(store, data, p, "reverted", "asked with smol dream --revert") for p in points]
    write_json(pointer_path(), data)
    return changes


def _step_back(store: ArtifactStore, data: dict[str, Any], point: str, change: str, why: str) -> dict[str, Any]:
    """Put the previous version of ``point`` in service (none: the LLM decides again)."""
    entry = data["points"][point]
    history = entry.get("history", [])
    was = entry.get("version")
    retired = [*entry.get("retired", []), was]
    previous = history[-1] if history else {"version": None}
    data["points"][point] = {**previous, "history": history[:-1], "at": time.time(), "retired": retired}
    now = data["points"][point]["version"]
    return record_change(store, {"change": change, "point": point, "from": was, "to": now, "why": why})


__all__ = ["AUDIT_MIN", "CHANGE_ROLE", "adopt", "audited", "record_change", "revert", "roll_back_fallen"]
