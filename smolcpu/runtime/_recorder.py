"""Recording: every artifact that crosses the runtime is put into the artifact store.

Storing is slow next to a send (a file write, maybe a network call), so the send path only
appends to a batch; the batch goes to one writer thread when it is full or a moment later
(a handoff per artifact would make the thread fight the event loop for the GIL), the
thread puts the artifacts into the store, and ``close`` writes everything still queued so
nothing recorded is lost at shutdown.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from typing import Any, Protocol

from smolcpu import config
from smolcpu.artifact import Artifact

log = logging.getLogger("smolcpu.runtime")

_RECENT = 4096
"""How many recently recorded ids are remembered, so a fan-out is stored once, not N times."""

_BATCH = 512
"""Artifacts handed to the writer thread at once."""

_FLUSH_AFTER_S = 0.02
"""How long a partial batch may wait for more artifacts before it goes to the writer."""

_DONE: Any = object()


class Store(Protocol):
    """What recording needs of a store: ``put`` (the artifact store's interface)."""

    def put(self, artifact: Artifact) -> Any: ...


class Recorder:
    """Puts artifacts into ``store`` from a writer thread; ``close`` waits until all are in."""

    def __init__(self, store: Store) -> None:
        self.store = store
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
            self._loop.call_later(_FLUSH_AFTER_S, self._flush)
        elif len(batch) >= _BATCH:
            self._flush()

    def _flush(self) -> None:
        if self._batch:
            self._queue.put(self._batch)
            self._batch = []

    def _write(self) -> None:
        while (batch := self._queue.get()) is not _DONE:
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

    def __repr__(self) -> str:
        return f"<Recorder recorded={self.recorded} failed={self.failed} batched={len(self._batch)}>"


__all__ = ["Recorder", "Store"]
