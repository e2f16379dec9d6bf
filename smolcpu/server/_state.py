"""What the server keeps between requests: one open Session, the job queue, the API keys,
the stored Responses.

The :class:`ServerState` lives on ``app.state.smol``. Its ``session`` (a
:class:`~smolcpu.programs.Session`: the actor system, the Lifecycle and the recorder) is
opened once when the server starts, so models load once and every run is recorded.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import ipaddress
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from smolcpu.errors import UsageError
from smolcpu.programs import Session
from smolcpu.runtime import UnitRef
from smolcpu.server._jobs import CAPACITY, PER_KEY, WORKERS, JobQueue
from smolcpu.server._response_store import ResponseStore

KEYS_VARIABLE = "SMOL_API_KEYS"
"""The environment variable with the API keys the server accepts (comma-separated)."""

LOCAL_KEY = "local"
"""The key id of every request to a server that has no keys (loopback only)."""


def load_keys(file: Path | None = None, *, environ: Mapping[str, str] = os.environ) -> list[str]:
    """The API keys from :data:`KEYS_VARIABLE` and ``file`` (one a line; ``#`` starts a comment).

    Raises:
        UsageError: the file cannot be read.
    """
    keys = [key.strip() for key in environ.get(KEYS_VARIABLE, "").split(",") if key.strip()]
    if file is not None:
        try:
            lines = Path(file).expanduser().read_text().splitlines()
        except OSError as exc:
            raise UsageError(f"cannot read the API key file {str(file)!r}: {exc.strerror or exc}") from exc
        keys += [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    return keys


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable only from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def key_id(key: str) -> str:
    """A name for a key that does not give it away (logs, job lists, per-key limits)."""
    return "key-" + hashlib.sha256(key.encode()).hexdigest()[:8]


class ServerState:
    """The open session, the job queue and the key check of one server.

    Args:
        session: the Session to serve (opened and closed with the server); by default a new
            one with ``session_options``.
        programs: the folder whose ``NAME.smol`` programs are served as model ``smol/NAME``.
        keys: the API keys accepted; none: every caller is let in (loopback only).
        workers, capacity, per_key: as :class:`~smolcpu.server._jobs.JobQueue` takes them.
    """

    def __init__(
        self,
        *,
        session: Session | None = None,
        programs: Path | None = None,
        keys: Sequence[str] = (),
        workers: int = WORKERS,
        capacity: int = CAPACITY,
        per_key: int = PER_KEY,
        **session_options: Any,
    ) -> None:
        self.session = session if session is not None else Session(**session_options)
        self.programs = Path(programs).expanduser() if programs is not None else None
        self.keys = [key.encode() for key in keys]
        self.queue = JobQueue(workers=workers, capacity=capacity, per_key=per_key)
        self.responses = ResponseStore()
        self._stand_ins: dict[str, UnitRef] = {}

    def __repr__(self) -> str:
        return f"<ServerState {self.session!r} {self.queue!r} keys={len(self.keys)}>"

    async def __aenter__(self) -> ServerState:
        await self.session.__aenter__()
        await self.queue.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        try:
            await self.queue.__aexit__(*exc)
        finally:
            await self.session.__aexit__(None, None, None)

    def authorize(self, authorization: str | None) -> str | None:
        """The id of the key a request's ``Authorization`` header carries; None when it
        carries none this server accepts. Keys are compared in constant time, every one."""
        if not self.keys:
            return LOCAL_KEY
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not given:
            return None
        offered = given.strip().encode()
        matches = [hmac.compare_digest(offered, key) for key in self.keys]
        return key_id(given.strip()) if any(matches) else None

    @property
    def stand_ins(self) -> Mapping[str, Any]:
        """Unit kinds the session runs on stand-ins (``smolcpu.testing``), not on models."""
        return self.session.options.get("units") or {}

    @contextlib.asynccontextmanager
    async def unit(self, kind: str, *, params: Mapping[str, Any] | None = None) -> AsyncIterator[UnitRef]:
        """The session's unit of ``kind`` (its stand-in, or the Lifecycle's, held until the block ends)."""
        stand_in = self.stand_ins.get(kind)
        if stand_in is not None:
            ref = self._stand_ins.get(kind)
            if ref is None:
                assert self.session.system is not None
                ref = self._stand_ins[kind] = await self.session.system.spawn(f"server.{kind}", lambda: stand_in)
            yield ref
            return
        if self.session.lifecycle is None:
            raise UsageError("the server's session is not open")
        async with self.session.lifecycle.acquire(kind, params=params) as ref:
            yield ref


__all__ = ["KEYS_VARIABLE", "LOCAL_KEY", "ServerState", "is_loopback", "key_id", "load_keys"]
