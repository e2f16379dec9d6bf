"""The real server on a loopback port (uvicorn in a thread), its session on a scripted LLM."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from smolcpu.server import ServerState, create_app
from smolcpu.testing import ScriptedLLM
from smolcpu.vm import Choice, Chooser

Messages = list[dict[str, Any]]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

ECHO = """\
; A one-step program: the LLM answers the input.
smol >= 0.1
use answer = llm "Answer the user."

out <= switch <= (
    answer => send
) <= in
"""


class Chat(Chooser):
    """Routes every request of the default program to its plain chat step."""

    async def choose(self, choice: Choice) -> str:
        return "default" if "default" in choice.options else choice.options[-1]


@dataclass
class Script:
    """What the scripted LLM says: ``reply(messages)``, by default an echo of the last message."""

    reply: Callable[[Messages], str] = lambda messages: f"You said: {messages[-1]['content']}"
    llm: ScriptedLLM = field(init=False)

    def __post_init__(self) -> None:
        self.llm = ScriptedLLM(lambda messages: self.reply(messages))


@dataclass
class Server:
    """A running server: its URL, state and script."""

    url: str
    state: ServerState
    script: Script
    stop: Callable[[], None] = lambda: None

    @property
    def base(self) -> str:
        return self.url + "/v1"


def start_server(state: ServerState, script: Script) -> tuple[Server, Callable[[], None]]:
    """Run ``state``'s app on an ephemeral loopback port; the server and how to stop it."""
    config = uvicorn.Config(
        create_app(state), host="127.0.0.1", port=0, log_level="warning", loop="asyncio", timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]

    def stop() -> None:
        server.should_exit = True
        thread.join(30)

    return Server(f"http://127.0.0.1:{port}", state, script, stop), stop


@pytest.fixture
def programs(tmp_path: Path) -> Path:
    folder = tmp_path / "programs"
    folder.mkdir()
    (folder / "echo.smol").write_text(ECHO)
    shutil.copy(EXAMPLES / "calc.smol", folder / "calc.smol")
    return folder


@pytest.fixture
def make_server(programs: Path) -> Iterator[Callable[..., Server]]:
    """Start servers with options of a test's own (stopped at its end)."""
    stops: list[Callable[[], None]] = []

    def make(*, units: dict[str, Any] | None = None, **options: Any) -> Server:
        script = Script()
        state = ServerState(
            programs=programs, units={"llm": script.llm, **(units or {})}, chooser=Chat(), classifier=False, **options
        )
        server, stop = start_server(state, script)
        stops.append(stop)
        return server

    yield make
    for stop in stops:
        stop()


@pytest.fixture
def server(make_server: Callable[..., Server]) -> Server:
    return make_server()
