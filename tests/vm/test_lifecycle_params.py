"""Lifecycle with unit parameters and shared workers, in real worker processes: a unit per
kind and parameters, several kinds in one process (accounted and evicted once), the
runtime's idle check, and the executor sending parameterised neural bindings through it."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, ClassVar

import psutil
import pytest

from smolcpu.artifact import Artifact
from smolcpu.errors import UnitError, UnitStopped, UsageError
from smolcpu.lang import compile_source
from smolcpu.runtime import ActorSystem
from smolcpu.testing import Ballast
from smolcpu.units import Tool
from smolcpu.vm import Executor, Lifecycle, WorkerSpec
from tests.units.onnx_models import MINILM, model_fixture

MB = 1024**2
UNLIMITED = 8 * 1024**3
HERE = "tests.vm.test_lifecycle_params"


class Tagged(Tool):
    """A small unit with parameters (so that tests can tell its instances apart)."""

    name = "tagged"
    description = "Answers with its tag, size and process."
    inputs: ClassVar[dict[str, dict[str, Any]]] = {"text": {"type": "string", "description": "anything"}}
    output = "application/json"

    def __init__(self, *, tag: str = "", mb: int = 8) -> None:
        self.tag = tag
        self.ballast = bytearray(mb * MB)
        self.ballast[::4096] = b"\x01" * (len(self.ballast) // 4096)

    def forward(self, text: str) -> dict[str, Any]:
        return {"tag": self.tag, "mb": len(self.ballast) // MB, "pid": os.getpid(), "text": text}


SPECS = {
    "tagged": WorkerSpec("tagged", f"{HERE}:Tagged"),
    "ballast": WorkerSpec("ballast", "smolcpu.testing:Ballast"),
}


def run(test: Callable[[Lifecycle], Awaitable[None]], **options: Any) -> None:
    async def main() -> None:
        async with (
            ActorSystem(record=False) as system,
            Lifecycle(system, specs=SPECS, budget=UNLIMITED, sample_every=0.2, **options) as lifecycle,
        ):
            await test(lifecycle)

    asyncio.run(asyncio.wait_for(main(), timeout=120))


def children() -> set[int]:
    return {child.pid for child in psutil.Process().children(recursive=True)}


async def ask(lifecycle: Lifecycle, kind: str, **params: Any) -> dict[str, Any]:
    reply = await lifecycle.request(kind, Artifact.text("hi"), params=params)
    assert not reply.is_error, reply.error_message
    return reply.as_json()


def test_each_kind_and_parameters_is_a_unit_of_its_own() -> None:
    async def test(lifecycle: Lifecycle) -> None:
        plain = await ask(lifecycle, "tagged")
        red = await ask(lifecycle, "tagged", tag="red")
        big = await ask(lifecycle, "tagged", mb=40, tag="red")
        assert (plain["tag"], red["tag"], big["tag"]) == ("", "red", "red")
        assert (plain["mb"], big["mb"]) == (8, 40)
        assert len({plain["pid"], red["pid"], big["pid"]}) == 3
        assert {plain["pid"], red["pid"], big["pid"]} <= children()
        assert (await ask(lifecycle, "tagged", tag="red"))["pid"] == red["pid"], "same parameters, same unit"
        names = {worker.name for worker in lifecycle.workers}
        assert names == {"tagged", "tagged(tag='red')", "tagged(mb=40,tag='red')"}
        report = lifecycle.sample(write=True)
        assert report.workers["tagged(mb=40,tag='red')"] >= report.workers["tagged"] + 30 * MB, "each is measured"
        await lifecycle.evict("tagged(tag='red')")
        assert lifecycle.evictions == ["tagged(tag='red')"] and red["pid"] not in children()

    run(test)


def test_parameters_a_unit_does_not_take_fail_its_start() -> None:
    async def test(lifecycle: Lifecycle) -> None:
        with pytest.raises(UnitError, match="colour"):
            await lifecycle.ref("tagged", params={"colour": "red"})
        assert lifecycle.workers == []

    run(test)


def test_a_shared_worker_hosts_its_kinds_in_one_process_accounted_and_evicted_once() -> None:
    async def test(lifecycle: Lifecycle) -> None:
        before = children()
        tagged = await lifecycle.ref("tagged")
        (worker,) = lifecycle.workers
        assert worker.name == "pair" and set(worker.units) == {"tagged", "ballast"}, "both load together"
        assert await lifecycle.ref("ballast") == worker.units["ballast"]
        assert children() - before == {worker.pid}, "one process for both"
        one = await ask(lifecycle, "tagged")
        other = await ask(lifecycle, "ballast")
        assert one["pid"] == other["pid"] == worker.pid
        assert (one["tag"], one["mb"], other["mb"]) == ("", 8, Ballast.MB), "each request reached its own unit"
        report = lifecycle.sample(write=True)
        assert set(report.workers) == {"pair"} and report.workers["pair"] >= (8 + Ballast.MB) * MB
        own = await ask(lifecycle, "tagged", tag="solo")
        assert own["pid"] != worker.pid, "with parameters, a worker of its own"
        await lifecycle.evict("ballast")
        assert lifecycle.evictions == ["pair"] and worker.pid not in children()
        with pytest.raises(UnitStopped):
            await tagged.request(Artifact.text("gone?"))
        again = await ask(lifecycle, "tagged")
        assert again["pid"] not in (worker.pid, own["pid"]), "asked again, the shared worker starts anew"

    run(test, shared={"pair": ("tagged", "ballast")})


def test_the_host_refuses_mail_that_names_none_of_its_units() -> None:
    async def test(lifecycle: Lifecycle) -> None:
        await lifecycle.ref("tagged")
        (worker,) = lifecycle.workers
        reply = await worker.ref.request(Artifact.text("who am I for?"))
        assert reply.is_error and "lifecycle.pair.<name>" in reply.error_message

    run(test, shared={"pair": ("tagged", "ballast")})


def test_a_worker_busy_with_a_request_sent_outside_a_lease_is_not_evicted() -> None:
    async def test(lifecycle: Lifecycle) -> None:
        ref = await lifecycle.ref("ballast")
        pending = asyncio.create_task(ref.request(Artifact.text("sleep 1")))
        await asyncio.sleep(0.2)
        (worker,) = lifecycle.workers
        assert worker.busy and worker.leases == 0, "the runtime's idle check sees the request"
        with pytest.raises(UsageError, match="busy"):
            await lifecycle.evict("ballast")
        assert not (await pending).is_error
        assert not worker.busy
        await lifecycle.evict("ballast")
        assert lifecycle.evictions == ["ballast"]

    run(test, shared={})


minilm = model_fixture(MINILM)


def test_the_executor_runs_a_parameterised_neural_binding_through_lifecycle(minilm: Path) -> None:
    source = f'use vec = embed with model_path="{minilm}"\nout <= switch <= (\n vec => send\n) <= in'

    async def main() -> None:
        async with (
            ActorSystem(record=False) as system,
            Lifecycle(system, budget=UNLIMITED, status=False) as lifecycle,
            Executor(compile_source(source).runnable(), system=system, lifecycle=lifecycle, record=False) as executor,
        ):
            result = await executor.run("a cat on a mat")
            assert len(result.output.as_json()["vector"]) == 384
            (worker,) = lifecycle.workers
            assert worker.name == f"embed(model_path={str(minilm)!r})" and worker.pid in children()
            assert worker.specs[0].model == str(minilm), "estimated and accounted with the given model"
            assert lifecycle.sample().workers[worker.name] > 50 * MB

    asyncio.run(asyncio.wait_for(main(), timeout=120))
