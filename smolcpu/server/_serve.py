"""Running the application: uvicorn on a host and port, refusing to be open without a key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from smolcpu.errors import UsageError
from smolcpu.server._app import create_app
from smolcpu.server._state import KEYS_VARIABLE, ServerState, is_loopback

GRACEFUL_SHUTDOWN_S = 3
"""Seconds open connections get to finish when the server stops (then they are cut)."""


def check_exposure(host: str, keys: list[str]) -> None:
    """Refuse to listen beyond this machine when no API key guards the server.

    Raises:
        UsageError: ``host`` is not loopback and there are no keys.
    """
    if not keys and not is_loopback(host):
        raise UsageError(
            f"refusing to serve on {host} without an API key: anyone who can reach it could use it;"
            f" set {KEYS_VARIABLE} or give --api-key-file (or serve on 127.0.0.1)"
        )


def serve(
    *, host: str = "127.0.0.1", port: int = 8000, programs: Path | None = None, keys: list[str] | None = None, **options: Any
) -> None:
    """Serve until interrupted (``options`` go to :class:`ServerState`).

    Raises:
        UsageError: an exposed host without keys.
    """
    import uvicorn

    keys = list(keys or [])
    check_exposure(host, keys)
    app = create_app(ServerState(programs=programs, keys=keys, **options))
    uvicorn.run(app, host=host, port=port, timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S, log_level="warning")


__all__ = ["GRACEFUL_SHUTDOWN_S", "check_exposure", "serve"]
