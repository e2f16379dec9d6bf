"""Which event loop runs an actor system: uvloop when it is installed, else asyncio's own.

A round trip to a worker process costs each side a wake-up of its event loop; uvloop's
loop (libuv, in C) spends about a third less CPU on one than the pure-Python selector loop
(see ``./smol bench runtime``). It is optional: without it, or with ``SMOL_UVLOOP=0``,
everything runs on the standard loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from smolcpu import config

T = TypeVar("T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's ``new_event_loop`` when it is installed and wanted, else None (the standard loop)."""
    if not config.UVLOOP:
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)`` on the fastest event loop available here (what worker processes use)."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)


__all__ = ["loop_factory", "run"]
