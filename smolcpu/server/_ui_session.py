"""What the web interface needs of a session, how its endpoints answer mistakes, and how a
run's progress reaches the page (server-sent events in the body of the response that
started the run: the page reading it is the run's reason to go on, so leaving cancels it).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import StreamingResponse
from fastapi.routing import APIRoute

from smolcpu.artifact import Artifact, RunIndex, preview
from smolcpu.errors import ArtifactNotFound, SmolError
from smolcpu.programs import Answer
from smolcpu.server._access import Reader
from smolcpu.vm import RunResult, StepEvent

log = logging.getLogger(__name__)

Observer = Callable[[StepEvent], None]


class StoreLocation(Protocol):
    url: str


class UISession(Protocol):
    """The part of :class:`~smolcpu.programs.Session` the web interface uses."""

    index: RunIndex | None
    store: StoreLocation | None

    async def run(
        self, program: str | Path, given: Artifact | str, *, observer: Observer, tokens: bool = False, caller: str = ""
    ) -> RunResult: ...

    async def ask(
        self,
        question: str,
        *,
        images: Sequence[bytes],
        history: Sequence[Mapping[str, str]],
        observer: Observer,
        tokens: bool,
        caller: str = "",
    ) -> Answer: ...


class UIRoute(APIRoute):
    """An endpoint whose Smol errors become one-line JSON answers (``{"detail": ...}``):
    404 for what is not there, 400 for the rest of the caller's mistakes."""

    def get_route_handler(self) -> Callable[[Any], Awaitable[Any]]:
        handler = super().get_route_handler()

        async def answer(request: Any) -> Any:
            try:
                return await handler(request)
            except ArtifactNotFound as exc:
                raise HTTPException(404, str(exc)) from exc
            except SmolError as exc:
                raise HTTPException(400, str(exc)) from exc

        return answer


TRUSTED_FETCH_SITES = ("same-origin", "none")
"""What a browser's ``Sec-Fetch-Site`` may say of a request the interface acts on: sent by its
own page, or typed by the user. A client that sends no such header is not a browser."""


def same_origin(request: Request) -> None:
    """Refuse a request another site's page made the browser send (a form posted from a page
    on the web to this loopback server would otherwise start a run).

    Raises:
        HTTPException: 403, the browser says the request comes from another site.
    """
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in TRUSTED_FETCH_SITES:
        raise HTTPException(403, f"the web interface answers only its own page (this request is {site})")


def ui_router() -> APIRouter:
    """A router for interface endpoints: Smol errors answered in one line, other sites refused."""
    return APIRouter(route_class=UIRoute, dependencies=[Depends(same_origin)])


READER_STATE = "smol_reader"
"""Where the interface's guard leaves the caller (a :class:`Reader`) in a request's state."""

EVERYONE = Reader("", sees_all=True)
"""The reader of an interface without keys (loopback only): it reads every run."""


def ui_reader(request: Request) -> Reader:
    """Who is asking: the key the guard let in, or :data:`EVERYONE` on a server without keys."""
    return request.scope.get("state", {}).get(READER_STATE, EVERYONE)


def step_event(event: StepEvent) -> tuple[str, dict[str, Any]]:
    """A run's event as the page gets it: ``token`` (a piece of an LLM step's answer) or
    ``step`` (a step started or ended, or a choice was made)."""
    if event.kind == "token":
        text = event.output.as_text() if event.output is not None else ""
        return "token", {"run_id": event.run_id, "node": event.node, "text": text}
    return "step", {
        "kind": event.kind,
        "run_id": event.run_id,
        "node": event.node,
        "worker": event.worker,
        "unit": event.unit,
        "outcome": event.outcome,
        "seconds": round(event.seconds, 3),
        "preview": preview(event.output) if event.output is not None else "",
    }


def run_events(work: Callable[[Observer], Awaitable[Mapping[str, Any]]]) -> StreamingResponse:
    """A response that runs ``work`` and streams its progress: ``step`` and ``token`` events
    from the observer it is given, then ``done`` with what it returns, or ``error``."""

    async def events() -> AsyncIterator[str]:
        queue: asyncio.Queue[tuple[str, Mapping[str, Any]] | None] = asyncio.Queue()

        def emit(name: str, data: Mapping[str, Any]) -> None:
            queue.put_nowait((name, data))

        def observe(event: StepEvent) -> None:
            emit(*step_event(event))

        async def job() -> None:
            try:
                emit("done", await work(observe))
            except SmolError as exc:
                emit("error", {"message": str(exc)})
            except Exception as exc:  # a bug: the page still gets one line, the log the traceback
                log.exception("a web interface run failed")
                emit("error", {"message": f"{type(exc).__name__}: {exc}"})
            finally:
                queue.put_nowait(None)

        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(job())
            while (item := await queue.get()) is not None:
                name, data = item
                yield f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"

    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )


def result_summary(result: RunResult, text: str) -> dict[str, Any]:
    """How a finished run is reported to the page."""
    return {
        "run_id": result.run_id,
        "status": result.status.value,
        "answer": text,
        "steps": result.steps,
        "path": [str(visit) for visit in result.path],
        "reason": result.reason,
    }


__all__ = [
    "EVERYONE",
    "READER_STATE",
    "Observer",
    "UIRoute",
    "UISession",
    "result_summary",
    "run_events",
    "same_origin",
    "step_event",
    "ui_reader",
    "ui_router",
]
