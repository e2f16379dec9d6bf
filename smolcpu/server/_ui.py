"""The web interface: ``mount_ui(app, session)`` adds it to a FastAPI app under ``/ui/``.

The page (``smolcpu/server/ui/``: plain HTML, CSS and ES modules, with Cytoscape.js and its
dagre layout vendored beside them, so it works with no network) talks to JSON endpoints
under ``/ui/api/``; what goes on while a run runs (its steps, its LLM's tokens) comes as
server-sent events in the body of the response that started it, so closing the page
cancels the run. Each area has a module of its own: ``_ui_runs`` (runs, traces,
artifacts, re-runs), ``_ui_chat`` (chat), ``_ui_programs`` (the editor: diagnostics, the
graph, runs), ``_ui_vault`` (the memory vault) and ``_ui_status`` (units, workers, memory).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from smolcpu.server._ui_chat import chat_router
from smolcpu.server._ui_programs import programs_router
from smolcpu.server._ui_runs import runs_router
from smolcpu.server._ui_session import UISession
from smolcpu.server._ui_status import status_router
from smolcpu.server._ui_vault import vault_router

UI_DIR = Path(__file__).resolve().parent / "ui"
"""The page and its assets, installed with the package."""

PREFIX = "/ui"
API_PREFIX = PREFIX + "/api"


def mount_ui(app: FastAPI, session: UISession) -> None:
    """Serve the web interface of ``session`` (an open :class:`~smolcpu.programs.Session`,
    or anything with its public API) from ``app`` under ``/ui/``."""
    for router in (
        runs_router(session),
        chat_router(session),
        programs_router(session),
        vault_router(),
        status_router(),
    ):
        app.include_router(router, prefix=API_PREFIX)
    app.add_api_route(PREFIX, lambda: RedirectResponse(PREFIX + "/"), include_in_schema=False)
    app.mount(PREFIX, StaticFiles(directory=UI_DIR, html=True), name="ui")


__all__ = ["UI_DIR", "mount_ui"]
