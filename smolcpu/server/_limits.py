"""The request size limit: a body past ``config.MAX_REQUEST_BYTES`` is a 413 in OpenAI's error shape.

A body that declares its length is refused before a byte of it is read; one that does not
(chunked) is counted as it is read, and the read that passes the limit raises the 413 the
app's handlers answer. (FastAPI's own ``max_body_size`` answers the first case with plain
text from outside every handler, unlike every other error of this API.)
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from smolcpu.server._openai import error_body


def too_large(limit: int) -> JSONResponse:
    """The 413 answer to a body past ``limit`` bytes."""
    message = f"the request body is larger than the {limit} bytes this server reads (SMOL_MAX_REQUEST_BYTES)"
    return JSONResponse(error_body(message, kind="invalid_request_error", code="request_too_large"), status_code=413)


class _BodyLimit:
    """A plain ASGI middleware (see ``_ui_guard``: it keeps a client's disconnect visible)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.limit:
            await too_large(self.limit)(scope, receive, send)
            return
        read = 0

        async def counted() -> Message:
            nonlocal read
            message = await receive()
            read += len(message.get("body", b""))
            if read > self.limit:
                raise HTTPException(413, "request body too large")
            return message

        await self.app(scope, counted, send)


def limit_requests(app: FastAPI, limit: int) -> None:
    """Refuse request bodies past ``limit`` bytes with a 413."""
    app.add_middleware(_BodyLimit, limit=limit)


__all__ = ["limit_requests", "too_large"]
