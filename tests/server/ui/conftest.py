"""A real Session (scripted LLM, real executor, sandbox, recorder and run index) with the web
interface mounted on a FastAPI app, served by uvicorn on loopback."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from smolcpu.programs import Session
from smolcpu.server import mount_ui
from smolcpu.testing import ScriptedLLM, loopback_server

Messages = list[dict[str, Any]]

SLOW_PROGRAM = """\
use write = llm "Write a Python program for the task."
use run = sandbox

out <= switch <= (
    write => next
    run   => send
) <= in
"""
"""A program whose second step takes a while (the sandbox sleeps), to watch it run."""

SLEEPY_CODE = "```python\nimport time\ntime.sleep(2.5)\nprint(6 * 7)\n```"


def answer(messages: Messages) -> str:
    """The scripted LLM: code for the program step, a friendly echo for chat."""
    system, last = messages[0]["content"], messages[-1]["content"]
    if "Python program" in system:
        return SLEEPY_CODE
    said = re.sub(r"\s+", " ", last).strip()
    return f"Hello from Smol! You said: {said}"


def choose(prompt: str, options: Sequence[str]) -> str:
    """Route every request to the chat answer."""
    return "default" if "default" in options else options[0]


@pytest.fixture
def llm() -> ScriptedLLM:
    return ScriptedLLM(answer, choose=choose)


@pytest.fixture
def ui(llm: ScriptedLLM, smol_home: Path) -> Iterator[str]:
    """The base URL of a server with the UI of an open Session."""

    async def build(stack: AsyncExitStack) -> FastAPI:
        session = await stack.enter_async_context(Session(units={"llm": llm}, classifier=False))
        app = FastAPI()
        mount_ui(app, session)
        return app

    with loopback_server(build) as url:
        yield url
