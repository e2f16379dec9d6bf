"""The web interface of a server that has API keys: a browser cannot send an ``Authorization``
header for a page it opens, so the key is given once in the address (``/ui/?key=KEY``) and
kept in an HttpOnly, same-site cookie; without it every ``/ui`` path answers 401."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from smolcpu.server._state import ServerState
from smolcpu.server._ui_session import READER_STATE

UI_COOKIE = "smol_key"
"""The cookie that carries an exposed server's API key for its web interface."""


class _UIGuard:
    """A plain ASGI middleware (not ``@app.middleware``, whose wrapping hides a client's
    disconnect from the endpoints: a request given up on must still cancel its job)."""

    def __init__(self, app: ASGIApp, state: ServerState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not (path == "/ui" or path.startswith("/ui/")):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        offered = request.query_params.get("key")
        if offered and self.state.authorize(f"Bearer {offered}") is not None:
            response = RedirectResponse(str(request.url.remove_query_params("key")), status_code=303)
            response.set_cookie(
                UI_COOKIE, offered, httponly=True, samesite="strict", secure=request.url.scheme == "https"
            )
        elif (key := self.state.authorize(f"Bearer {request.cookies.get(UI_COOKIE, '')}")) is not None:
            scope.setdefault("state", {})[READER_STATE] = self.state.reader(key)
            await self.app(scope, receive, send)
            return
        else:
            response = PlainTextResponse("this server needs its API key: open /ui/?key=YOUR_KEY once", status_code=401)
        await response(scope, receive, send)


def guard_ui(app: FastAPI, state: ServerState) -> None:
    """Ask for an API key on every ``/ui`` path when ``state`` has keys (a loopback server
    without keys serves the interface as it is, with no middleware in any request's way)."""
    if state.keys:
        app.add_middleware(_UIGuard, state=state)


__all__ = ["UI_COOKIE", "guard_ui"]
