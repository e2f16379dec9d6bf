"""The web interface of a server that has API keys: a browser cannot send an ``Authorization``
header for a page it opens, so the key is given once in the address (``/ui/?key=KEY``) and
kept in an HttpOnly, same-site cookie; without it every ``/ui`` path answers 401."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from fastapi.responses import PlainTextResponse, RedirectResponse

from smolcpu.server._state import ServerState

UI_COOKIE = "smol_key"
"""The cookie that carries an exposed server's API key for its web interface."""


def guard_ui(app: FastAPI, state: ServerState) -> None:
    """Ask for an API key on every ``/ui`` path when ``state`` has keys (a loopback server
    without keys serves the interface as it is)."""

    @app.middleware("http")
    async def ui_key(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if not state.keys or not (request.url.path == "/ui" or request.url.path.startswith("/ui/")):
            return await call_next(request)
        offered = request.query_params.get("key")
        if offered and state.authorize(f"Bearer {offered}") is not None:
            response = RedirectResponse(str(request.url.remove_query_params("key")), status_code=303)
            response.set_cookie(
                UI_COOKIE, offered, httponly=True, samesite="strict", secure=request.url.scheme == "https"
            )
            return response
        if state.authorize(f"Bearer {request.cookies.get(UI_COOKIE, '')}") is not None:
            return await call_next(request)
        return PlainTextResponse("this server needs its API key: open /ui/?key=YOUR_KEY once", status_code=401)


__all__ = ["UI_COOKIE", "guard_ui"]
