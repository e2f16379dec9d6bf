"""A web app served on loopback for end-to-end tests and benchmarks, and the headless
Chromium that drives it.

``loopback_server(build)`` runs uvicorn in a thread with an event loop of its own, on
127.0.0.1 and a port the system picks; ``build(stack)`` makes the app inside that loop, so
what the app serves (a :class:`~smolcpu.programs.Session`, say) opens there and closes on
``stack`` when the server stops. ``chromium(playwright, profile)`` launches Debian's
``chromium`` through Playwright with the flags a sandboxed, offline machine needs.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, contextmanager
from pathlib import Path
from typing import Any

START_TIMEOUT_S = 60.0
"""How long a test server may take to start (a session starts a recorder process)."""

CHROMIUM = "chromium"
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


@contextmanager
def loopback_server(build: Callable[[AsyncExitStack], Awaitable[Any]]) -> Iterator[str]:
    """Serve the app ``build`` makes; yields its base URL (``http://127.0.0.1:PORT``).

    Raises:
        RuntimeError: the server did not start within ``START_TIMEOUT_S`` (with its error).
    """
    import uvicorn

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    started = threading.Event()
    failures: list[BaseException] = []
    holder: dict[str, uvicorn.Server] = {}

    async def serve() -> None:
        async with AsyncExitStack() as stack:
            app = await build(stack)
            server = holder["server"] = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
            serving = asyncio.ensure_future(server.serve(sockets=[listener]))
            while not server.started and not serving.done():
                await asyncio.sleep(0.02)
            started.set()
            await serving

    def main() -> None:
        try:
            asyncio.run(serve())
        except BaseException as exc:  # reported to the test by the waiting thread
            failures.append(exc)
        finally:
            started.set()

    thread = threading.Thread(target=main, name=f"loopback-server:{port}", daemon=True)
    thread.start()
    if not started.wait(START_TIMEOUT_S) or failures or "server" not in holder:
        raise RuntimeError(f"the test server did not start: {failures[0] if failures else 'timed out'}")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        holder["server"].should_exit = True
        thread.join(START_TIMEOUT_S)
        listener.close()


def chromium_path() -> str | None:
    """Where Debian's ``chromium`` is, or None."""
    return shutil.which(CHROMIUM)


def chromium(playwright: Any, profile: Path) -> Any:
    """A headless Chromium (a persistent context with a fresh ``profile`` folder).

    Raises:
        FileNotFoundError: chromium is not installed (``apt-get install chromium``).
    """
    path = chromium_path()
    if path is None:
        raise FileNotFoundError("chromium is not installed: apt-get install chromium")
    return playwright.chromium.launch_persistent_context(
        str(profile),
        executable_path=path,
        headless=True,
        args=list(CHROMIUM_ARGS),
        viewport={"width": 1280, "height": 800},
    )


__all__ = ["CHROMIUM_ARGS", "chromium", "chromium_path", "loopback_server"]
