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

from smolcpu.errors import PolicyLimit, UsageError
from smolcpu.lang import Policy, PolicyValueError, parse_settings
from smolcpu.programs import Session
from smolcpu.runtime import UnitRef
from smolcpu.server._access import Reader
from smolcpu.server._jobs import CAPACITY, PER_KEY, WORKERS, JobQueue
from smolcpu.server._response_store import ResponseStore

KEYS_VARIABLE = "SMOL_API_KEYS"
"""The environment variable with the API keys the server accepts (comma-separated)."""

LOCAL_KEY = "local"
"""The key id of every request to a server that has no keys (loopback only)."""


def load_keys(file: Path | None = None, *, environ: Mapping[str, str] = os.environ) -> list[str]:
    """The API keys from :data:`KEYS_VARIABLE` and ``file`` (one a line, perhaps with its
    ceiling after it: see :func:`load_ceilings`; ``#`` starts a comment).

    Raises:
        UsageError: the file cannot be read, or a ceiling in it does not parse.
    """
    keys = [key.strip() for key in environ.get(KEYS_VARIABLE, "").split(",") if key.strip()]
    return keys + list(load_ceilings(file)) if file is not None else keys


ADMIN_WORD = "admin"
"""The word on a key file's line that makes its key an admin's: it reads every key's runs and artifacts."""


def load_ceilings(file: Path | None) -> dict[str, Policy | None]:
    """Each key of a key file with its ceiling: ``KEY`` alone (none), or ``KEY name=value ...``
    (``sk-team tokens=20000 wall_s=120 units=math,llm``), the settings of a ``policy`` line
    (the word ``admin`` among them is not a setting: see :func:`load_admins`).

    Raises:
        UsageError: the file cannot be read, or a ceiling does not parse (its line is named).
    """
    found: dict[str, Policy | None] = {}
    for number, key, words in _key_lines(file):
        settings = " ".join(word for word in words if word != ADMIN_WORD)
        try:
            found[key] = parse_settings(settings) if settings else None
        except PolicyValueError as exc:
            raise UsageError(f"{file}:{number}: the ceiling of key {key_id(key)} does not parse: {exc}") from None
    return found


def load_admins(file: Path | None) -> list[str]:
    """The keys of a key file whose line holds the word ``admin`` (``sk-root admin``).

    Raises:
        UsageError: the file cannot be read.
    """
    return [key for _, key, words in _key_lines(file) if ADMIN_WORD in words]


def _key_lines(file: Path | None) -> list[tuple[int, str, list[str]]]:
    """Each key line of a key file: its number, the key, the words after it."""
    if file is None:
        return []
    try:
        lines = Path(file).expanduser().read_text().splitlines()
    except OSError as exc:
        raise UsageError(f"cannot read the API key file {str(file)!r}: {exc.strerror or exc}") from exc
    return [
        (number, words[0], words[1:])
        for number, line in enumerate(lines, 1)
        if (words := line.split()) and not words[0].startswith("#")
    ]


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
        ceilings: key → the most a run of that key may spend and touch (its policy ceiling).
        admins: keys that read every key's runs and artifacts (the others read only their own).
        policy: a ceiling for every run, whatever the key (``smol serve --policy``).
        workers, capacity, per_key: as :class:`~smolcpu.server._jobs.JobQueue` takes them.
    """

    def __init__(
        self,
        *,
        session: Session | None = None,
        programs: Path | None = None,
        keys: Sequence[str] = (),
        ceilings: Mapping[str, Policy | None] | None = None,
        policy: Policy | None = None,
        admins: Sequence[str] = (),
        workers: int = WORKERS,
        capacity: int = CAPACITY,
        per_key: int = PER_KEY,
        **session_options: Any,
    ) -> None:
        self.session = session if session is not None else Session(**session_options)
        self.programs = Path(programs).expanduser() if programs is not None else None
        self.keys = [key.encode() for key in keys]
        self.policy = policy
        self.ceilings = {key_id(key): ceiling for key, ceiling in (ceilings or {}).items() if ceiling is not None}
        self.admins = {key_id(key) for key in admins}
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

    def sees_all(self, key: str) -> bool:
        """Whether key id ``key`` reads every key's runs and artifacts: an admin's, or any
        caller of a server without keys (loopback only)."""
        return not self.keys or key in self.admins

    def reader(self, key: str) -> Reader:
        """Key id ``key`` as a reader of what the server recorded."""
        return Reader(key, self.sees_all(key))

    def ceiling(self, key: str) -> Policy | None:
        """What a run of key id ``key`` may spend and touch at most: its own ceiling, and the
        server's for every key (the tighter of both); None when neither limits it."""
        own = self.ceilings.get(key)
        if own is None:
            return self.policy
        return own.tighter(self.policy)

    def allow_unit(self, key: str, kind: str) -> None:
        """Refuse a raw ``kind`` request (an LLM, the embedder) to a key whose ceiling leaves it out.

        Raises:
            PolicyLimit: the ceiling's units do not hold ``kind``.
        """
        ceiling = self.ceiling(key)
        if ceiling is not None and ceiling.units is not None and kind not in ceiling.units:
            allowed = ", ".join(sorted(ceiling.units)) or "none"
            raise PolicyLimit(f"limit units: this API key may not use unit kind `{kind}` (its ceiling allows [{allowed}])")

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


__all__ = [
    "ADMIN_WORD",
    "KEYS_VARIABLE",
    "LOCAL_KEY",
    "ServerState",
    "is_loopback",
    "key_id",
    "load_admins",
    "load_ceilings",
    "load_keys",
]
