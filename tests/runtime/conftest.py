"""Runtime tests are coroutines: run each in a fresh event loop (no plugin needed)."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    arguments: dict[str, Any] = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    asyncio.run(asyncio.wait_for(pyfuncitem.obj(**arguments), timeout=60))
    return True


class MemoryStore:
    """The smallest thing with the store's ``put``: keeps artifacts in a dict by id."""

    def __init__(self) -> None:
        self.artifacts: dict[str, Any] = {}

    def put(self, artifact: Any) -> str:
        self.artifacts[artifact.id] = artifact
        return artifact.id


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()
