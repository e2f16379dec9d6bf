"""The run viewer's endpoints: the runs list, a run's trace (its artifacts and their lineage),
each artifact's content, and a re-run of a past run on the same input.

A trace comes as columns (one list per field) rather than one object per artifact: a
10,000-artifact run is then about a third of the bytes, and the page builds its rows from
the columns without parsing 10,000 objects.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import Response, StreamingResponse

from smolcpu.artifact import CALLER_ATTRIBUTE, ERROR, RUN_ATTRIBUTE, Artifact, ArtifactStore, RunIndex, RunInfo, is_textual, open_store
from smolcpu.errors import UsageError
from smolcpu.programs import answer_text
from smolcpu.server._ui_programs import checked
from smolcpu.server._access import Reader
from smolcpu.server._ui_session import Observer, UISession, result_summary, run_events, ui_reader, ui_router

MAX_SHOWN_BYTES = 256 * 1024
"""The most of an artifact's payload shown as text (the raw endpoint has all of it)."""

RAW_HEADERS = {"Content-Security-Policy": "sandbox", "X-Content-Type-Options": "nosniff"}

INPUT_ROLE = "input"
INPUT_NODE = "in"


def run_dict(run: RunInfo) -> dict[str, Any]:
    """A run as the page shows it; ``usage``: what it spent against its policy, read."""
    return dataclasses.asdict(run) | {"usage": run.spending}


def artifact_dict(artifact: Artifact) -> dict[str, Any]:
    """An artifact as the page shows it: its header and as much of its content as is text."""
    payload = artifact.payload
    textual = is_textual(artifact.type)
    return {
        "id": artifact.id,
        "type": artifact.type,
        "origin": artifact.origin,
        "role": artifact.role,
        "scope": artifact.scope,
        "timestamp": artifact.timestamp,
        "attributes": artifact.attrs,
        "parents": list(artifact.parents),
        "size": len(payload),
        "signed": bool(artifact.signature),
        "error": artifact.error_message if artifact.is_error else None,
        "text": payload[:MAX_SHOWN_BYTES].decode("utf-8", errors="replace") if textual else None,
        "truncated": textual and len(payload) > MAX_SHOWN_BYTES,
    }


class _Runs:
    """The index and a reading view of the store a session records into."""

    def __init__(self, session: UISession) -> None:
        self.session = session
        self._store: ArtifactStore | None = None

    @property
    def index(self) -> RunIndex:
        if self.session.index is None:
            raise HTTPException(503, "this session does not record runs (it was opened with record=False)")
        return self.session.index

    def store(self) -> ArtifactStore:
        if self._store is None:
            location = self.session.store
            self._store = open_store(location.url if location is not None else None, index=self.index)
        return self._store

    def resolve(self, run_id: str, reader: Reader) -> RunInfo:
        return reader.run(self.index, run_id)

    def trace(self, run_id: str, reader: Reader) -> dict[str, Any]:
        run = self.resolve(run_id, reader)
        records = self.index.artifacts(run.id)
        return {
            "run": run_dict(run),
            "artifacts": {
                "id": [r.id for r in records],
                "type": [r.type for r in records],
                "origin": [r.origin for r in records],
                "role": [r.role for r in records],
                "size": [r.size for r in records],
                "timestamp": [r.timestamp for r in records],
                "preview": [r.preview for r in records],
                "error": [r.type == ERROR for r in records],
                "parents": [list(r.parents) for r in records],
            },
        }

    def pinned_input(self, run: RunInfo) -> tuple[Path, Artifact]:
        """The program file and the input artifact of a past run, to run again as they were.

        Raises:
            UsageError: the program was not a file, or is gone; the input was not stored.
        """
        program = program_file(run, "only a program read from a file can be run again")
        for record in self.index.artifacts(run.id):
            if record.origin == INPUT_NODE and record.role == INPUT_ROLE:
                stored = self.store().get(record.id)
                attributes = {k: v for k, v in stored.attributes if k not in (RUN_ATTRIBUTE, "node", CALLER_ATTRIBUTE)}
                return program, Artifact.create(stored.payload, type=stored.type, attributes=attributes)
        raise UsageError(f"run {run.id} has no stored input to run again")


def program_file(run: RunInfo, why: str) -> Path:
    """The file of the program ``run`` ran.

    Raises:
        UsageError: it was not a file (program text), or the file is gone; ``why`` says what for.
    """
    program = Path(run.program) if run.program else None
    if program is None or not program.is_file():
        raise UsageError(f"run {run.id} ran {run.program or 'a program'!r}, which is not a file here; {why}")
    return program


def program_overlay(index: RunIndex, run: RunInfo) -> dict[str, Any]:
    """The graph of the program ``run`` ran, with the state each of its nodes was left in
    (``done``, or ``failed`` when its latest output was an error): the run on its program."""
    program = program_file(run, "only a program read from a file can be drawn")
    visited = {record.origin: "failed" if record.type == ERROR else "done" for record in index.artifacts(run.id)}
    drawn = checked(program.read_text(), path=str(program))
    known = {element["data"]["id"] for element in drawn["elements"]}
    return {
        "path": str(program),
        "elements": drawn["elements"],
        "visited": {k: v for k, v in visited.items() if k in known},
    }


def runs_router(session: UISession) -> APIRouter:
    """``/runs``, ``/runs/{id}``, ``/runs/{id}/program``, ``/runs/{id}/rerun``, ``/artifacts/{id}``
    and ``/artifacts/{id}/raw``."""
    router = ui_router()
    runs = _Runs(session)

    @router.get("/runs")
    def list_runs(limit: int = Query(100, ge=1, le=10_000), reader: Reader = Depends(ui_reader)) -> dict[str, Any]:
        """Recorded runs (the caller's), newest first."""
        return {"runs": [run_dict(run) for run in reader.runs(runs.index, limit=limit)]}

    @router.get("/runs/{run_id}")
    def run_trace(run_id: str, reader: Reader = Depends(ui_reader)) -> Response:
        """A run (a whole id or a unique prefix) and its artifacts, oldest first, as columns."""
        return Response(_dumps(runs.trace(run_id, reader)), media_type="application/json")

    @router.get("/runs/{run_id}/program")
    async def run_program(run_id: str, reader: Reader = Depends(ui_reader)) -> dict[str, Any]:
        """The graph of the program a run ran, with the nodes it visited and how each ended."""
        return await asyncio.to_thread(program_overlay, runs.index, runs.resolve(run_id, reader))

    @router.post("/runs/{run_id}/rerun")
    async def rerun(run_id: str, reader: Reader = Depends(ui_reader)) -> StreamingResponse:
        """Run a past run's program again on its stored input (as the caller's run); progress
        as server-sent events."""
        run = runs.resolve(run_id, reader)
        program, given = await asyncio.to_thread(runs.pinned_input, run)

        async def work(observe: Observer) -> dict[str, Any]:
            result = await session.run(program, given, observer=observe, caller=reader.key)
            return result_summary(result, answer_text(result.output)) | {"rerun_of": run.id}

        return run_events(work)

    @router.get("/artifacts/{artifact_id}")
    async def artifact(artifact_id: str, reader: Reader = Depends(ui_reader)) -> dict[str, Any]:
        """One artifact: header, attributes, parents, children and its content (text up to a limit)."""
        found = await asyncio.to_thread(reader.artifact, runs.store(), artifact_id, runs.index)
        return artifact_dict(found) | {"children": runs.index.children(artifact_id)}

    @router.get("/artifacts/{artifact_id}/raw")
    async def raw(artifact_id: str, reader: Reader = Depends(ui_reader)) -> Response:
        """An artifact's payload as it is, with its type (sandboxed: a payload that is a page
        cannot run script as the interface)."""
        found = await asyncio.to_thread(reader.artifact, runs.store(), artifact_id, runs.index)
        return Response(found.payload, media_type=found.type, headers=RAW_HEADERS)

    return router


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


__all__ = ["artifact_dict", "run_dict", "runs_router"]
