"""Worker processes (and ``runtime.run``) use uvloop when it is installed, asyncio's loop when told not to."""

from __future__ import annotations

import asyncio

import pytest
from runtime_units import LoopKind, Upper

from smolcpu.artifact import Artifact
from smolcpu.runtime import ActorSystem, run

uvloop = pytest.importorskip("uvloop")


async def _kinds() -> tuple[str, str, str]:
    async with ActorSystem(record=False) as system:
        worker = await system.spawn("loop", LoopKind, process=True)
        upper = await system.spawn("upper", Upper, process=True)
        many = await asyncio.gather(*(upper.request(Artifact.text(f"n{i}")) for i in range(100)))
        assert [a.as_text() for a in many] == [f"N{i}" for i in range(100)]
        child = (await worker.request(Artifact.text("?"))).as_text()
    return type(asyncio.get_running_loop()).__module__, child, many[-1].as_text()


def test_workers_and_run_use_uvloop() -> None:
    parent, child, last = run(_kinds())
    assert parent.startswith("uvloop") and child.startswith("uvloop") and last == "N99"


def test_smol_uvloop_0_falls_back_to_asyncio(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("smolcpu.config.UVLOOP", False)
    monkeypatch.setenv("SMOL_UVLOOP", "0")
    parent, child, _ = run(_kinds())
    assert parent.startswith("asyncio") and child.startswith("asyncio")
