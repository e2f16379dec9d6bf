"""The status files Lifecycle leaves for ``smol status``, and the memory probes both use.

Each ``smol`` command is a process of its own, so the one that hosts model workers writes
what it holds to ``<SMOL_HOME>/lifecycle/<pid>.json`` (written to a temporary file and
renamed, so a reader never sees half a file) and removes it when it closes. ``smol status``
reads every such file, checks that its owner and workers are still the processes they were
(pid and start time, so a reused pid is not mistaken for ours) and measures them afresh.
``footprints.json`` beside them keeps the measured size of each model worker for the next
process to estimate with.

Memory is PSS (proportional set size: a page shared by n processes counts 1/n in each), so
summing over the main process and its workers counts shared libraries once; where PSS
cannot be read (not Linux, or not permitted) RSS stands in for it.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from smolcpu import config

FOOTPRINTS = "footprints.json"


def status_dir() -> Path:
    """Where Lifecycle status files live: ``<SMOL_HOME>/lifecycle``."""
    return config.home() / "lifecycle"


def process_memory(pid: int) -> int:
    """Resident bytes of process ``pid``: PSS where readable, else RSS; 0 if it is gone."""
    try:
        process = psutil.Process(pid)
        try:
            return int(process.memory_full_info().pss)
        except (psutil.AccessDenied, AttributeError):
            return int(process.memory_info().rss)
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return 0


def tree_memory(pid: int) -> dict[int, int]:
    """Resident bytes of ``pid`` and of each of its descendants, by pid."""
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return {}
    return {p: process_memory(p) for p in (pid, *(child.pid for child in children))}


def started_at(pid: int) -> float | None:
    """When process ``pid`` started (to tell it from a later process given the same pid)."""
    try:
        return psutil.Process(pid).create_time()
    except psutil.NoSuchProcess:
        return None


def is_same_process(pid: int, started: float | None) -> bool:
    """Whether ``pid`` is still the process that started at ``started``."""
    now = started_at(pid)
    return now is not None and started is not None and abs(now - started) < 0.5


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as file:
            json.dump(data, file, indent=1)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object in ``path``, or None if it is missing or unreadable."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def load_footprints() -> dict[str, int]:
    """Measured bytes of each model worker seen before, by footprint key."""
    data = read_json(status_dir() / FOOTPRINTS) or {}
    return {key: int(value) for key, value in data.items() if isinstance(value, int | float)}


def save_footprints(footprints: dict[str, int]) -> None:
    """Merge ``footprints`` into the file other processes estimate with."""
    write_json(status_dir() / FOOTPRINTS, load_footprints() | footprints)


@dataclass(frozen=True, slots=True)
class LiveStatus:
    """One status file as ``smol status`` sees it: the data and whether its owner lives."""

    path: Path
    data: dict[str, Any]
    alive: bool

    @property
    def owner(self) -> int:
        return int(self.data.get("owner", 0))


def read_statuses() -> list[LiveStatus]:
    """Every Lifecycle status file, each with its owner checked and its memory measured afresh.

    Workers of a live owner get ``alive`` and a fresh ``memory``; a file whose owner is gone is
    returned with ``alive=False`` (its figures are the last ones written).
    """
    found = []
    for path in sorted(status_dir().glob("[0-9]*.json")):
        data = read_json(path)
        if data is None:
            continue
        alive = is_same_process(int(data.get("owner", 0)), data.get("owner_started"))
        if alive:
            memory = tree_memory(int(data["owner"]))
            for worker in data.get("workers", []):
                worker["alive"] = is_same_process(worker["pid"], worker.get("pid_started"))
                worker["memory"] = sum(tree_memory(worker["pid"]).values()) if worker["alive"] else 0
            data["total"] = sum(memory.values())
        found.append(LiveStatus(path, data, alive))
    return found


__all__ = [
    "LiveStatus",
    "is_same_process",
    "load_footprints",
    "process_memory",
    "read_json",
    "read_statuses",
    "save_footprints",
    "started_at",
    "status_dir",
    "tree_memory",
    "write_json",
]
