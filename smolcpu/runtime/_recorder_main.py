"""Entry point of a recorder process: put the artifacts piped in into the store, until EOF.

Started by :class:`~smolcpu.runtime._recorder.StoreProcess` as ``python -m
smolcpu.runtime._recorder_main --url URL --index PATH``; reads length-prefixed Cap'n Proto
artifacts from stdin. It ignores Ctrl-C so that what was already sent is still stored: it
ends when the parent closes the pipe (or dies).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys

from smolcpu.artifact import Artifact, RunIndex, open_store
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
        while len(header := stream.read(LENGTH.size)) == LENGTH.size:
            (size,) = LENGTH.unpack(header)
            try:
                store.put(Artifact.from_bytes(stream.read(size)))
            except SmolError as exc:
                failed += 1
                log.error("could not record an artifact: %s", exc)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
