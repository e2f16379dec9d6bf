"""Entry point of a worker process: host one unit and serve it over the inherited socket.

Started by :class:`~smolcpu.runtime._worker.WorkerCell` as ``python -m
smolcpu.runtime._worker_main --fd N --name NAME --factory module:Name --address PARENT``,
with the factory's keyword arguments pickled on its stdin.
It runs a small actor system of its own (no recording: the parent records what crosses the
link), reports READY once the unit's ``init`` has run (or FAILED with the reason), and
exits when the unit stops or the parent goes away. Exit code 0 means asked to stop.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import pickle
import signal
import socket
import sys
from typing import Any

from smolcpu.artifact import Artifact
from smolcpu.runtime._link import Kind, Link
from smolcpu.runtime._loop import run
from smolcpu.runtime._mailbox import POISON
from smolcpu.runtime._ref import ROUTERS
from smolcpu.runtime._supervision import OneForOne
from smolcpu.runtime._system import ActorSystem, Cell
from smolcpu.runtime._worker import import_factory

EXIT_GAVE_UP = 3
"""Exit code when the hosted unit stopped on its own (supervision gave up), not when asked."""


async def serve(
    *, fd: int, name: str, factory: str, kwargs: dict[str, Any], address: str, mailbox_size: int
) -> int:
    """Host unit ``name`` made by ``factory(**kwargs)``; return the process exit code."""
    sock = socket.socket(fileno=fd)
    asked_to_stop = False
    async with ActorSystem(record=False, mailbox_size=mailbox_size, cluster=None) as system:
        cell: Cell | None = None

        def on_stop(target: str, sender: str, artifact: Artifact | None) -> None:
            nonlocal asked_to_stop
            asked_to_stop = True
            if cell is not None:
                cell.terminate()

        async def on_poison(target: str, sender: str, artifact: Artifact | None) -> None:
            nonlocal asked_to_stop
            asked_to_stop = True
            if cell is not None and not cell.mailbox.closed:
                await cell.mailbox.put(POISON, timeout=float("inf"))

        handlers = {Kind.STOP: on_stop, Kind.POISON: on_poison}
        link = await Link.connect(sock, local=system, address=address, handlers=handlers, remote_pid=os.getppid())
        ROUTERS[address] = link
        try:
            cell = Cell(
                system, name, functools.partial(import_factory(factory), **kwargs), parent=None, supervisor=OneForOne(),
                mailbox_size=mailbox_size, address=address,
            )  # fmt: skip
            cell.uplink = link
            await system.adopt(cell)
        except Exception as exc:
            reason = exc.__cause__ if isinstance(exc.__cause__, Exception) else exc
            message = f"{type(reason).__name__}: {reason}"
            link.write(Kind.FAILED, artifact=Artifact.error(message, kind=type(reason).__name__))
            await link.close()
            return 1
        link.write(Kind.READY)
        await asyncio.wait([cell.stopped, link.closed], return_when=asyncio.FIRST_COMPLETED)
        if not cell.stopped.done():
            cell.terminate()
            await asyncio.shield(cell.stopped)
        await link.close()
    ROUTERS.pop(address, None)
    return 0 if asked_to_stop else EXIT_GAVE_UP


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments the parent passed and serve until told to stop."""
    parser = argparse.ArgumentParser(prog="smolcpu.runtime._worker_main")
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--factory", required=True)
    parser.add_argument("--address", required=True)
    parser.add_argument("--mailbox-size", type=int, required=True)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    kwargs = pickle.loads(sys.stdin.buffer.read())
    return run(
        serve(
            fd=args.fd, name=args.name, factory=args.factory, kwargs=kwargs,
            address=args.address, mailbox_size=args.mailbox_size,
        )  # fmt: skip
    )


if __name__ == "__main__":
    sys.exit(main())
