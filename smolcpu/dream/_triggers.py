"""When to dream, and room to do it: a schedule, N new runs, N program edits; the memory budget.

Concept/001 §8 dreams on a schedule or past a threshold ("50 significant code mutations").
Here a dream is due when the last one is older than ``every_s``, when ``after_runs`` runs
were recorded since, or when ``after_edits`` program files that ran changed since (their
hash). ``smol dream --if-due`` checks once (cron-friendly), ``--watch`` keeps checking.
Dreaming runs at low priority (``os.nice``) and waits until what the Lifecycles of running
sessions hold leaves room for it under the memory budget, so a server keeps answering.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smolcpu import config
from smolcpu.artifact import RunIndex
from smolcpu.dream._files import read_json, write_json
from smolcpu.vm import read_statuses

EVERY_S = 24 * 3600.0
AFTER_RUNS = 50
AFTER_EDITS = 5
DREAM_MEMORY_BYTES = 300 * 1024**2
"""What a dream holds at most: MiniLM in process, the embeddings and the fits."""
NICENESS = 15


@dataclass(frozen=True)
class Due:
    """Whether a dream is due, and why (or why not)."""

    due: bool
    why: str


def state_path() -> Path:
    return config.dream_dir() / "state.json"


def read_state() -> dict[str, Any]:
    return read_json(state_path(), {})


def file_hash(path: str | Path) -> str:
    """The sha256 of a file's bytes ('' when it cannot be read)."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return ""


def _programs(index: RunIndex) -> dict[str, str]:
    """Every program file that ran, with its hash now."""
    paths = {run.program for run in index.runs() if run.program and Path(run.program).is_file()}
    return {path: file_hash(path) for path in sorted(paths)}


def mark_dreamt(index: RunIndex) -> None:
    """Remember when this dream ran, how many runs there were and each program's hash."""
    state = {"at": time.time(), "runs": len(index.runs()), "programs": _programs(index)}
    write_json(state_path(), state)


def due(
    index: RunIndex, *, every_s: float = EVERY_S, after_runs: int = AFTER_RUNS, after_edits: int = AFTER_EDITS
) -> Due:
    """Whether a dream is due now."""
    state = read_state()
    runs = len(index.runs())
    if not state:
        return Due(runs > 0, f"never dreamt; {runs} runs recorded")
    since = time.time() - state.get("at", 0.0)
    new_runs = runs - state.get("runs", 0)
    before = state.get("programs", {})
    edits = sum(1 for path, digest in _programs(index).items() if path in before and before[path] != digest)
    if since >= every_s:
        return Due(True, f"the last dream was {since / 3600:.1f} h ago (schedule: every {every_s / 3600:g} h)")
    if new_runs >= after_runs:
        return Due(True, f"{new_runs} new runs since the last dream (threshold {after_runs})")
    if edits >= after_edits:
        return Due(True, f"{edits} edited program{'s' * (edits != 1)} since the last dream (threshold {after_edits})")
    return Due(False, f"{new_runs} new runs, {edits} edited programs, last dream {since / 60:.0f} min ago")


def memory_in_use() -> int:
    """Bytes the running sessions' Lifecycles hold (their main processes and model workers)."""
    return sum(int(status.data.get("total", 0)) for status in read_statuses() if status.alive)


def wait_for_room(need: int = DREAM_MEMORY_BYTES, *, timeout_s: float = 600.0, poll_s: float = 5.0) -> bool:
    """Wait until ``need`` more bytes fit under the memory budget; False if they did not in time."""
    deadline = time.monotonic() + timeout_s
    while memory_in_use() + need > config.MEMORY_BUDGET_BYTES:
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll_s)
    return True


def lower_priority() -> None:
    """Let everything else run first (this process only)."""
    try:
        os.nice(NICENESS - os.nice(0) if os.nice(0) < NICENESS else 0)
    except OSError:
        pass


__all__ = [
    "AFTER_EDITS",
    "AFTER_RUNS",
    "DREAM_MEMORY_BYTES",
    "EVERY_S",
    "Due",
    "due",
    "file_hash",
    "lower_priority",
    "mark_dreamt",
    "memory_in_use",
    "read_state",
    "wait_for_room",
]
