"""Units, worker processes, models and memory against the budget: what ``smol status``
shows, as JSON once and as a live stream of server-sent events."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from smolcpu import config
from smolcpu.server._ui_session import ui_router
from smolcpu.vm import read_statuses

STATUS_EVERY_S = 2.0
"""How often the live status is measured again."""

STATUS_STREAM_S = 30.0
"""How long one status stream lasts: the page's EventSource opens the next by itself, and a
server shutting down never waits longer than this for an open status tab."""


def status() -> dict[str, Any]:
    """Every live Smol process that holds units: its workers (unit, model, pid, memory,
    busy, restarts) and its total resident memory, with the budget."""
    live = [found.data for found in read_statuses() if found.alive]
    return {"budget": config.MEMORY_BUDGET_BYTES, "processes": live}


def status_router() -> APIRouter:
    """``/status`` and ``/status/events``."""
    router = ui_router()

    @router.get("/status")
    async def once() -> dict[str, Any]:
        return await asyncio.to_thread(status)

    @router.get("/status/events")
    async def live(every: float = Query(STATUS_EVERY_S, ge=0.2, le=60)) -> StreamingResponse:
        """A ``status`` event now and every ``every`` seconds, for ``STATUS_STREAM_S`` (an
        EventSource then reconnects, so the page stays live)."""

        async def events() -> AsyncIterator[str]:
            ends = time.monotonic() + STATUS_STREAM_S
            while True:
                found = await asyncio.to_thread(status)
                yield f"retry: {int(every * 1000)}\nevent: status\ndata: {json.dumps(found)}\n\n"
                if time.monotonic() + every > ends:
                    return
                await asyncio.sleep(every)

        return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})

    return router


__all__ = ["status", "status_router"]
