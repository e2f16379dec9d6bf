"""The status files Lifecycle leaves for ``smol status``, and the memory probes both use.

Each ``smol`` command is a process of its own, so the one that hosts model workers writes
what it holds to ``<SMOL_HOME>/lifecycle/<pid>.json`` (written to a temporary file and
renamed, so a reader never sees half a file) and removes it when it closes. ``smol status``
reads every such file, checks that its owner and workers are still the processes they were
(pid and start time, so a reused pid is not mistaken for ours) and measures them afresh.
``footprints.json`` beside them keeps the measured size of each model worker for the next
process to estimate with.

Memory is counted from ``/proc/PID/smaps`` so that every page counts once: each process's
private pages, plus each shared file (a library, an mmapped model) once, at the most any of
the processes holds of it. PSS would split a page shared with a process outside Smol (a
model file another program also maps) and so undercount what Smol alone would hold; RSS
would count shared libraries once per worker. Where ``smaps`` cannot be read (not Linux,
not permitted), RSS stands in.

Reading and parsing a process's ``smaps`` takes milliseconds (a line per figure per mapping),
and the Lifecycle measures each second. ``/proc/PID/smaps_rollup`` (Linux 4.14 and later)
gives the same sums at a fraction of the cost but not which file the shared pages belong to,
so it is read first: the private bytes are its own, and the shared pages by file are parsed
from ``smaps`` again only when the process's shared totals have changed since the last time.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Mapping
from typing import Any

import psutil

from smolcpu import config

FOOTPRINTS = "footprints.json"


def status_dir() -> Path:
    """Where Lifecycle status files live: ``<SMOL_HOME>/lifecycle``."""
    return config.home() / "lifecycle"


def _mappings(pid: int) -> tuple[int, dict[Any, int]]:
    """Private bytes of ``pid``, and its shared resident bytes by what they map (a file, else
    the region): from ``smaps_rollup`` and the shared pages last parsed while its shared
    totals are the same, else from ``smaps``.

    Raises:
        OSError: the process is gone or its ``smaps`` cannot be read (not Linux, not permitted).
    """
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as file:
            rollup = file.read()
    except FileNotFoundError:  # before Linux 4.14
        return _parse_smaps(pid)
    sums = {name: int(kib) for name, kib in _ROLLUP.findall(rollup)}
    shared_totals = (sums.get(b"Shared_Clean", 0), sums.get(b"Shared_Dirty", 0))
    seen = _SHARED_SEEN.get(pid)
    if seen is not None and seen[0] == shared_totals:
        return (sums.get(b"Private_Clean", 0) + sums.get(b"Private_Dirty", 0)) * 1024, seen[1]
    private, shared = _parse_smaps(pid)
    _SHARED_SEEN[pid] = (shared_totals, shared)
    return private, shared


_SHARED_SEEN: dict[int, tuple[tuple[int, int], dict[Any, int]]] = {}
"""Each process's shared totals (kB, from ``smaps_rollup``) when its ``smaps`` was last
parsed, and the shared bytes by file it found then."""

_ROLLUP = re.compile(rb"^(\w+):\s+(\d+) kB", re.MULTILINE)


def _parse_smaps(pid: int) -> tuple[int, dict[Any, int]]:
    """Private bytes of ``pid`` and its shared bytes by what they map, parsed from ``smaps``."""
    with open(f"/proc/{pid}/smaps", "rb") as file:
        data = file.read()
    private = sum(int(kib) for kib in _PRIVATE.findall(data))
    shared: dict[Any, int] = {}
    region: Any = None
    for match in _SHARED.finditer(data):
        start, device, inode, kib = match.groups()
        if kib is None:
            region = (device, inode) if inode != b"0" else (pid, start)
        else:
            shared[region] = shared.get(region, 0) + int(kib)
    return private * 1024, {key: kib * 1024 for key, kib in shared.items()}


_PRIVATE = re.compile(rb"^Private_(?:Clean|Dirty):\s+(\d+)", re.MULTILINE)
_SHARED = re.compile(
    rb"^([0-9a-f]+)-[0-9a-f]+ \S+ \S+ (\S+) (\d+)|^Shared_(?:Clean|Dirty):\s+([1-9]\d*)", re.MULTILINE
)
"""A mapping's header (start address, device, inode; inode 0 for anonymous memory), or a
non-zero shared figure of the mapping above it, in kB."""


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (empty if it is gone)."""
    try:
        return [pid, *(child.pid for child in psutil.Process(pid).children(recursive=True))]
    except psutil.NoSuchProcess:
        return []


def process_parents(root: int) -> dict[int, int]:
    """Every process under ``root`` and its parent, from one look at the machine's processes
    (finding children means reading every process's parent: one look, not one per tree)."""
    try:
        found = psutil.Process(root).children(recursive=True)
    except psutil.NoSuchProcess:
        return {}
    parents = {}
    for child in found:
        with contextlib.suppress(psutil.NoSuchProcess):
            parents[child.pid] = child.ppid()
    return parents


def subtree(parents: Mapping[int, int], pid: int) -> list[int]:
    """``pid`` and its descendants, as ``parents`` (from :func:`process_parents`) has them."""
    children: dict[int, list[int]] = {}
    for child, parent in parents.items():
        children.setdefault(parent, []).append(child)
    tree, todo = [], [pid]
    while todo:
        tree.append(current := todo.pop())
        todo += children.get(current, ())
    return tree


def resident(groups: dict[str, list[int]]) -> dict[str, int]:
    """Resident bytes of each group of processes, every page counted once across all of them.

    A process counts its private pages; a file (or region) mapped shared counts once, in the
    first group that maps it, at the most any process holds of it. So the sum over the groups
    is what the processes hold together, whoever else shares those pages. Where ``smaps``
    cannot be read, a process counts its RSS.
    """
    counted: dict[Any, int] = {}
    sizes = {}
    for name, pids in groups.items():
        size = 0
        for pid in pids:
            try:
                private, shared = _mappings(pid)
            except (OSError, ValueError, IndexError):
                size += _rss(pid)
                continue
            size += private
            for key, held in shared.items():
                before = counted.get(key, 0)
                if held > before:
                    size += held - before
                    counted[key] = held
        sizes[name] = size
    measured = {pid for pids in groups.values() for pid in pids}
    for gone in _SHARED_SEEN.keys() - measured:
        del _SHARED_SEEN[gone]
    return sizes


def _rss(pid: int) -> int:
    try:
        return int(psutil.Process(pid).memory_info().rss)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return 0


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
            workers = data.get("workers", [])
            for worker in workers:
                worker["alive"] = is_same_process(worker["pid"], worker.get("pid_started"))
            trees = {w["unit"]: process_tree(w["pid"]) if w["alive"] else [] for w in workers}
            owned = {pid for tree in trees.values() for pid in tree}
            main = [pid for pid in process_tree(int(data["owner"])) if pid not in owned]
            sizes = resident({"": main, **trees})
            for worker in workers:
                worker["memory"] = sizes[worker["unit"]]
            data["main"], data["total"] = sizes[""], sum(sizes.values())
        found.append(LiveStatus(path, data, alive))
    return found


__all__ = [
    "LiveStatus",
    "is_same_process",
    "load_footprints",
    "process_parents",
    "process_tree",
    "read_json",
    "read_statuses",
    "save_footprints",
    "started_at",
    "status_dir",
    "subtree",
    "resident",
    "write_json",
]
