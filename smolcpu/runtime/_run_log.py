"""Recording a run that is not a program's (a server's request to one LLM) off the request's path.

A raw request's run is a start in the run index, the request and reply artifacts in the
store, and an end. Done inline, those writes (a SQLite transaction each, the artifacts
encoded and piped to the store's process) sit between the model's answer and the client,
and so would a handoff to a thread per write (waking it costs about as much). A
:class:`RunLog` only notes them; like the :class:`~smolcpu.runtime.Recorder`, it hands what
was noted to one writer thread a moment later, in the order it was noted, so the run's end
is written after the reply has gone. ``close`` writes everything still noted, so nothing
is lost at shutdown; a crash may lose the last moment's notes, as it may the recorder's. A
failed write is logged, never raised into the request it records.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from smolcpu.artifact import Artifact, RunIndex
from smolcpu.runtime._recorder import FLUSH_AFTER_S, StoreProcess

log = logging.getLogger("smolcpu.runtime")

Write = Callable[[], object]


class RunLog:
    """Starts, artifacts and ends of runs, written to ``index`` and ``store`` by one thread, in order.

    Make it, note to it and close it on the event loop's thread.
    """

    def __init__(self, *, index: RunIndex, store: StoreProcess) -> None:
        self.index = index
        self.store = store
        self._noted: list[tuple[str, Write]] = []
        self._loop = asyncio.get_running_loop()
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="smol-run-log")

    def __repr__(self) -> str:
        return f"<RunLog index={self.index.path} noted={len(self._noted)}>"

    def start(self, run_id: str, *, program: str, input_summary: str = "") -> None:
        """Note that run ``run_id`` began."""
        start = partial(self.index.start_run, run_id, program=program, input_summary=input_summary)
        self._note(f"start run {run_id}", start)

    def finish(self, run_id: str, status: str, artifacts: Sequence[Artifact] = ()) -> None:
        """Note ``artifacts`` to store under the run, then how it ended."""
        if artifacts:
            self._note(f"store run {run_id}'s artifacts", partial(self.store.put_many, tuple(artifacts)))
        self._note(f"finish run {run_id}", partial(self.index.finish_run, run_id, status))

    async def close(self) -> None:
        """Write everything noted, then stop the writer."""
        self._flush()
        await asyncio.to_thread(self._writer.shutdown, wait=True)

    def _note(self, what: str, write: Write) -> None:
        if not self._noted:
            self._loop.call_later(FLUSH_AFTER_S, self._flush)
        self._noted.append((what, write))

    def _flush(self) -> None:
        if self._noted:
            noted, self._noted = self._noted, []
            self._writer.submit(_write_all, noted)


def _write_all(noted: list[tuple[str, Write]]) -> None:
    for what, write in noted:
        try:
            write()
        except Exception:
            log.exception("could not %s", what)


__all__ = ["RunLog"]
