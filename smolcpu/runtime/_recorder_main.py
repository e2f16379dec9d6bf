"""Entry point of a recorder process: put the artifacts piped in into the store, until EOF.

Started by :class:`~smolcpu.runtime._recorder.StoreProcess` as ``python -m
smolcpu.runtime._recorder_main --url URL --index PATH``; reads batches of length-prefixed
Cap'n Proto artifacts from stdin and stores each batch with one ``put_many``. It ignores
Ctrl-C so that what was already sent is still stored: it ends when the parent closes the
pipe (or dies).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from typing import BinaryIO

from smolcpu.artifact import Artifact, ArtifactStore, RunIndex, open_store
from smolcpu.errors import SmolError
from smolcpu.runtime._recorder import LENGTH

log = logging.getLogger("smolcpu.runtime")


def main(argv: list[str] | None = None) -> int:
    """Store every artifact read from stdin; the exit code is 1 if any could not be stored."""
    parser = argparse.ArgumentParser(prog="smolcpu.runtime._recorder_main")
    parser.add_argument("--url", required=True)
    parser.add_argument("--index", required=True)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stream = sys.stdin.buffer
    failed = 0
    with RunIndex(args.index) as index, open_store(args.url, index=index) as store:
        while batch := _read_batch(stream):
            failed += _store(store, batch)
    return 1 if failed else 0


def _read_batch(stream: BinaryIO) -> list[Artifact]:
    """The next batch on the pipe; empty at the end (a batch cut short keeps what arrived whole)."""
    header = stream.read(LENGTH.size)
    if len(header) < LENGTH.size:
        return []
    batch = []
    for _ in range(LENGTH.unpack(header)[0]):
        prefix = stream.read(LENGTH.size)
        if len(prefix) < LENGTH.size:
            break
        (size,) = LENGTH.unpack(prefix)
        data = stream.read(size)
        if len(data) < size:
            break
        try:
            batch.append(Artifact.from_bytes(data))
        except SmolError as exc:
            log.error("could not decode an artifact to record: %s", exc)
    return batch


def _store(store: ArtifactStore, batch: list[Artifact]) -> int:
    """Put ``batch`` in one go, or one by one if that fails, so one bad artifact costs only itself."""
    try:
        store.put_many(batch)
        return 0
    except SmolError:
        failed = 0
        for artifact in batch:
            try:
                store.put(artifact)
            except SmolError as exc:
                failed += 1
                log.error("could not record artifact %s: %s", artifact.id, exc)
        return failed


if __name__ == "__main__":
    sys.exit(main())
