"""The chat endpoint: one message (with the thread so far and any images) answered by the
default program, streamed as it is made.

A thread lives in the page (the browser's storage): each message sends the turns before it
as ``history``, so branching from an earlier message is only sending a shorter history.
The answer streams as ``token`` events (the LLM steps' text as it is decoded) and ``step``
events (which step runs), then ``done`` with the answer and its run id.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, Literal

from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from smolcpu.errors import UsageError
from smolcpu.server._access import Reader
from smolcpu.server._ui_session import Observer, UISession, run_events, ui_reader, ui_router

MAX_IMAGE_BYTES = 20 * 1024**2
"""Largest image a message may carry (decoded)."""


class Turn(BaseModel):
    role: Literal["user", "assistant"]
    content: str


class Image(BaseModel):
    name: str = "image"
    data: str = Field(description="the image's bytes, base64 (a data: URL's part after the comma)")


class ChatMessage(BaseModel):
    message: str
    history: list[Turn] = []
    images: list[Image] = []


def _decoded(image: Image) -> bytes:
    """The bytes of an attached image.

    Raises:
        UsageError: not base64, or too large.
    """
    try:
        data = base64.b64decode(image.data.split(",", 1)[-1], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise UsageError(f"image {image.name!r} is not base64 data: {exc}") from exc
    if len(data) > MAX_IMAGE_BYTES:
        raise UsageError(f"image {image.name!r} is {len(data)} bytes; the limit is {MAX_IMAGE_BYTES}")
    return data


def chat_router(session: UISession) -> APIRouter:
    """``POST /chat``."""
    router = ui_router()

    @router.post("/chat")
    async def chat(body: ChatMessage, reader: Reader = Depends(ui_reader)) -> StreamingResponse:
        """Answer ``message`` with the default program; server-sent events until ``done``."""
        images = [_decoded(image) for image in body.images]
        if not body.message.strip() and not images:
            raise UsageError("the message is empty: write something or attach an image")

        async def work(observe: Observer) -> dict[str, Any]:
            answer = await session.ask(
                body.message,
                images=images,
                history=[turn.model_dump() for turn in body.history],
                observer=observe,
                tokens=True,
                caller=reader.key,
            )
            return answer.to_dict()

        return run_events(work)

    return router


__all__ = ["ChatMessage", "chat_router"]
