"""Recording: every artifact that crosses the runtime is put into the artifact store.

Storing is slow next to a send (a file write, an fsync, an index row, maybe a network
call), so the send path only appends to a batch; the batch goes to one writer thread when it
is full or a moment later (a handoff per artifact would make the thread fight the event loop
for the GIL), the thread puts the artifacts into the store, and ``close`` writes everything
still queued so nothing recorded is lost at shutdown.

A :class:`StoreProcess` moves the store's work out of this process: the thread only encodes
each batch and pipes it to a child that does the file and index work, which otherwise takes
this process's GIL now and then. Measured here on 2 busy cores it helped with a file store
without fsync (ping-pong with a new artifact per message: 0.42x of no recording, against
0.25x from the thread) and hurt with fsync (0.2-0.4x against 0.6-1.0x), so the actor
system's default stays the thread; the executor uses the process.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import struct
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from smolcpu import config
from smolcpu.artifact import Artifact
from smolcpu.errors import ArtifactError

log = logging.getLogger("smolcpu.runtime")

_RECENT = 4096
"""How many recently recorded ids are remembered, so a fan-out is stored once, not N times."""

_BATCH = 512
"""Artifacts handed to the writer thread at once."""

FLUSH_AFTER_S = 0.02
"""How long a partial batch may wait for more artifacts before it goes to the writer."""

_DONE: Any = object()

LENGTH = struct.Struct("<I")
"""On the pipe to a :class:`StoreProcess`: the count of a batch, then before each of its
artifacts the length of its Cap'n Proto bytes."""

_MIN_STORE_RATE = 100
"""Artifacts per second a store process is assumed to manage when ``close`` waits for it."""


class Store(Protocol):
    """What recording needs of a store: ``put`` (the artifact store's interface)."""

    def put(self, artifact: Artifact) -> Any: ...


class StoreProcess:
    """The artifact store at ``url``, written by a child process fed through a pipe.

    Args:
        url: the store (as ``open_store`` takes it).
        index_path: the run index the child records into.
    """

    def __init__(self, url: str, *, index_path: Path) -> None:
        self.url = url
        self.sent = 0
        self._process = subprocess.Popen(
            [sys.executable, "-m", "smolcpu.runtime._recorder_main", "--url", url, "--index", str(index_path)],
            stdin=subprocess.PIPE,
        )

    def put_many(self, artifacts: Sequence[Artifact]) -> None:
        """Pipe ``artifacts`` to the child (blocks while the pipe is full).

        Raises:
            ArtifactError: the child is gone.
        """
        frames = (LENGTH.pack(len(encoded)) + encoded for encoded in (a.to_bytes() for a in artifacts))
        data = LENGTH.pack(len(artifacts)) + b"".join(frames)
        stdin = self._process.stdin
        assert stdin is not None
        try:
            stdin.write(data)
            stdin.flush()
        except (BrokenPipeError, ValueError) as exc:
            raise ArtifactError(
                f"the recorder process for {self.url} exited (code {self._process.poll()}); artifacts are lost"
            ) from exc
        self.sent += len(artifacts)

    def put(self, artifact: Artifact) -> None:
        self.put_many((artifact,))

    def close(self) -> None:
        """Let the child store what it was sent and exit; kill it if it hangs."""
        assert self._process.stdin is not None
        try:
            self._process.stdin.close()
        except BrokenPipeError:
            pass
        timeout = config.SHUTDOWN_TIMEOUT_S + self.sent / _MIN_STORE_RATE
        try:
            code = self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            self._process.kill()
            log.error("the recorder process for %s took over %.0fs to finish; killed it", self.url, timeout)
            return
        if code != 0:
            log.error("the recorder process for %s exited with code %s", self.url, code)

    def __repr__(self) -> str:
        return f"<StoreProcess {self.url} pid={self._process.pid} sent={self.sent}>"


class Recorder:
    """Puts artifacts into ``store`` from a writer thread; ``close`` waits until all are in.

    Args:
        store: anything with ``put(artifact)``; a ``put_many(artifacts)`` is used if it has one.
        close_store: call ``store.close()`` once everything is written (a store it owns).
    """

    def __init__(self, store: Store, *, close_store: bool = False) -> None:
        self.store = store
        self.close_store = close_store
        self.recorded = 0
        self.failed = 0
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._batch: list[Artifact] = []
        self._recent: dict[str, None] = {}
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._write, name="smol-recorder", daemon=True)
        self._thread.start()

    def record(self, artifact: Artifact) -> None:
        """Queue ``artifact`` for the store (cheap; called on the send path)."""
        recent = self._recent
        if artifact.id in recent:
            return
        recent[artifact.id] = None
        if len(recent) > _RECENT:
            del recent[next(iter(recent))]
        batch = self._batch
        batch.append(artifact)
        if len(batch) == 1:
            self._loop.call_later(FLUSH_AFTER_S, self._flush)
        elif len(batch) >= _BATCH:
            self._flush()

    def _flush(self) -> None:
        if self._batch:
            self._queue.put(self._batch)
            self._batch = []

    def _write(self) -> None:
        put_many = getattr(self.store, "put_many", None)
        while (batch := self._queue.get()) is not _DONE:
            if put_many is not None:
                try:
                    put_many(batch)
                    self.recorded += len(batch)
                except Exception:
                    self.failed += len(batch)
                    log.exception("could not record %s artifacts", len(batch))
                continue
            for artifact in batch:
                try:
                    self.store.put(artifact)
                    self.recorded += 1
                except Exception:
                    self.failed += 1
                    log.exception("could not record artifact %s", artifact.id)

    async def close(self) -> None:
        """Write what is queued, then stop the writer thread.

        Waits as long as the store keeps taking artifacts, and gives up only when it has
        taken none for ``config.SHUTDOWN_TIMEOUT_S`` (a store that hangs).
        """
        self._flush()
        self._queue.put(_DONE)
        done = -1
        while self._thread.is_alive() and self.recorded + self.failed > done:
            done = self.recorded + self.failed
            await asyncio.to_thread(self._thread.join, config.SHUTDOWN_TIMEOUT_S)
        if self._thread.is_alive():
            log.error(
                "the store took no artifact for %ss; %s recorded, the rest may be missing",
                config.SHUTDOWN_TIMEOUT_S,
                self.recorded,
            )
        elif self.close_store:
            await asyncio.to_thread(self.store.close)  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        return f"<Recorder recorded={self.recorded} failed={self.failed} batched={len(self._batch)}>"


__all__ = ["FLUSH_AFTER_S", "LENGTH", "Recorder", "Store", "StoreProcess"]
