"""Lifecycle on ballast units in real worker processes: first use, LRU eviction, the budget,
crash and restart, and ``smol status``; the real small models in the slow stage."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import psutil
import pytest

from smolcpu import config
from smolcpu.artifact import Artifact
from smolcpu.errors import BudgetError, UnitStopped, UsageError
from smolcpu.runtime import ActorSystem
from smolcpu.testing import Ballast
from smolcpu.vm import Lifecycle, WorkerSpec

BALLAST = "smolcpu.testing:Ballast"
MB = 1024**2
UNLIMITED = 8 * 1024**3


def run(test: Callable[[Lifecycle], Awaitable[None]], *, specs: dict[str, WorkerSpec] | None = None) -> None:
    """Run ``test`` with a Lifecycle of ballast kinds a, b, c (no budget to speak of until set)."""

    async def main() -> None:
        async with ActorSystem(record=False) as system:
            kinds = specs or {kind: WorkerSpec(kind, BALLAST) for kind in "abc"}
            async with Lifecycle(system, specs=kinds, budget=UNLIMITED, sample_every=0.2) as lifecycle:
                await test(lifecycle)

    asyncio.run(asyncio.wait_for(main(), timeout=120))


def children() -> set[int]:
    return {child.pid for child in psutil.Process().children(recursive=True)}


def smol(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "smolcpu", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )


async def squeeze(lifecycle: Lifecycle) -> int:
    """Set the budget to what is used now plus half a ballast worker (so one more never fits); its size."""
    report = lifecycle.sample(write=True)
    worker = max(report.workers.values())
    lifecycle.budget = report.total + worker // 2
    return worker


def test_a_worker_starts_on_first_use_in_its_own_process() -> None:
    async def test(lifecycle: Lifecycle) -> None:
        assert lifecycle.workers == []
        ref = await lifecycle.ref("a")
        assert ref.pid != os.getpid() and ref.pid in children()
        assert await lifecycle.ref("a") == ref, "a second use reuses the running worker"
        report = lifecycle.sample(write=True)
        assert report.workers["a"] >= Ballast.MB * MB, "the worker's ballast is counted"
        assert report.total == report.main + report.workers["a"]
        reply = (await lifecycle.request("a", Artifact.text("hi"))).as_json()
        assert reply == {"pid": ref.pid, "mb": Ballast.MB}
        assert lifecycle.peak >= report.total
        assert lifecycle.status_file is not None
        written = json.loads(lifecycle.status_file.read_text())
        assert written["owner"] == os.getpid()
        assert [(w["kind"], w["pid"]) for w in written["workers"]] == [("a", ref.pid)]
        (worker,) = lifecycle.workers
        later = Lifecycle(lifecycle.system, status=False)
        assert later.estimate(WorkerSpec("x", BALLAST)) == worker.peak, "the next process estimates with the measure"
        assert later.estimate(WorkerSpec("y", "smolcpu.testing:BigBallast")) == config.WORKER_OVERHEAD_BYTES

    run(test)


def test_least_recently_used_idle_workers_are_evicted_first() -> None:
    async def test(lifecycle: Lifecycle) -> None:
        a = await lifecycle.ref("a")
        b = await lifecycle.ref("b")
        await lifecycle.request("a", Artifact.text("use a again"))  # now b is the least recently used
        await squeeze(lifecycle)
        c = await lifecycle.ref("c")
        assert lifecycle.evictions == ["b"]
        assert [w.name for w in lifecycle.workers] == ["a", "c"]
        assert a.pid in children() and c.pid in children()
        with pytest.raises(UnitStopped):
            b.pid  # noqa: B018
        await lifecycle.ref("b")  # a is the least recently used now
        assert lifecycle.evictions == ["b", "a"]
        assert lifecycle.measure().total <= lifecycle.budget

    run(test)


def test_a_busy_worker_is_not_evicted() -> None:
    async def test(lifecycle: Lifecycle) -> None:
        await lifecycle.ref("a")
        await lifecycle.ref("b")
        async with lifecycle.acquire("a") as a:  # a is the least recently used, but held
            await squeeze(lifecycle)
            await lifecycle.ref("c")
            assert lifecycle.evictions == ["b"]
            assert (await a.request(Artifact.text("still there"))).as_json()["pid"] == a.pid
            with pytest.raises(UsageError, match="busy"):
                await lifecycle.evict("a")

    run(test)


def test_a_request_that_cannot_fit_is_refused_before_any_process_starts() -> None:
    async def test(lifecycle: Lifecycle) -> None:
        before = children()
        with pytest.raises(BudgetError) as refused:
            await lifecycle.ref("huge")
        message = str(refused.value)
        assert "'huge'" in message and "needs about 10,240 MB" in message
        assert "budget" in message and "SMOL_MEMORY_BUDGET" in message and "smaller model" in message
        assert children() == before, "no worker process was started"

        async with lifecycle.acquire("a"):
            await squeeze(lifecycle)
            with pytest.raises(BudgetError, match=r"busy: a"):
                await lifecycle.ref("b")
        assert children() == before | {(await lifecycle.ref("a")).pid}

    specs = {
        "a": WorkerSpec("a", BALLAST),
        "b": WorkerSpec("b", BALLAST),
        "huge": WorkerSpec("huge", BALLAST, footprint=10 * 1024 * MB),
    }
    run(test, specs=specs)


def test_a_crashed_worker_is_restarted_and_accounted_again() -> None:
    async def test(lifecycle: Lifecycle) -> None:
        ref = await lifecycle.ref("a")
        first = ref.pid
        crashed = await lifecycle.request("a", Artifact.text("crash"))
        assert crashed.is_error and "WorkerCrashed" in crashed.as_text()
        deadline = time.monotonic() + 30
        while True:
            try:
                if ref.pid != first and (await ref.request(Artifact.text("up?"))).as_json()["pid"] == ref.pid:
                    break
            except UnitStopped:
                pass
            assert time.monotonic() < deadline, "the worker was not restarted"
            await asyncio.sleep(0.05)
        lifecycle.sample(write=True)
        (worker,) = lifecycle.workers
        assert worker.pid == ref.pid != first and worker.restarts == 1
        assert worker.memory >= Ballast.MB * MB, "the new process is measured"
        assert first not in children()
        assert lifecycle.status_file is not None
        written = json.loads(lifecycle.status_file.read_text())["workers"][0]
        assert (written["pid"], written["restarts"]) == (ref.pid, 1)

    run(test)


def test_smol_status_shows_units_processes_and_memory(smol_home: Path) -> None:
    async def test(lifecycle: Lifecycle) -> None:
        a = await lifecycle.ref("a")
        lifecycle.sample(write=True)
        shown = await asyncio.to_thread(smol, "status")
        assert shown.returncode == 0, shown.stderr
        assert f"smol process {os.getpid()}" in shown.stdout
        assert "lifecycle.a" in shown.stdout and str(a.pid) in shown.stdout and "idle" in shown.stdout
        assert "budget" in shown.stdout
        listed = json.loads((await asyncio.to_thread(smol, "status", "--json")).stdout)
        (process,) = listed["processes"]
        (worker,) = process["workers"]
        assert worker["alive"] and worker["pid"] == a.pid
        assert worker["memory"] >= Ballast.MB * MB
        assert process["total"] >= process["main"] + worker["memory"] - 8 * MB

    run(test)
    shown = smol("status")
    assert shown.returncode == 0 and "no Smol process holds units now" in shown.stdout
    assert not list((smol_home / "lifecycle").glob("[0-9]*.json")), "a closed Lifecycle removes its file"


def test_smol_status_drops_the_file_of_a_process_that_died(smol_home: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    stale = smol_home / "lifecycle" / f"{pid}.json"
    stale.parent.mkdir(parents=True)
    stale.write_text(json.dumps({"owner": pid, "owner_started": 1.0, "budget": 1, "workers": []}))
    shown = smol("status")
    assert shown.returncode == 0
    assert f"process {pid} is gone" in shown.stdout and "no Smol process holds units now" in shown.stdout
    assert not stale.exists()


def test_an_unknown_kind_is_a_usage_error() -> None:
    async def test(lifecycle: Lifecycle) -> None:
        with pytest.raises(UsageError, match="no unit kind 'lmm'"):
            await lifecycle.ref("lmm")

    run(test)


@pytest.mark.slow
def test_real_models_load_on_first_use_and_are_accounted(monkeypatch: pytest.MonkeyPatch) -> None:
    from smolcpu.models import model_path

    try:
        smollm2 = model_path("smollm2")
        for name in ("minilm", "yolox-nano"):
            model_path(name)
    except UsageError as exc:
        pytest.skip(f"models not installed ({exc})")
    monkeypatch.setenv("SMOL_LLM_MODEL", str(smollm2))
    specs = {"llm": WorkerSpec("llm", "smolcpu.units.neural:LLM", model=str(smollm2))}

    async def test(lifecycle: Lifecycle) -> None:
        lifecycle.budget = 2 * 1024**3
        answer = await lifecycle.request("llm", Artifact.text("Say hi."), timeout=120)
        assert not answer.is_error and answer.as_text().strip()
        vector = (await lifecycle.request("embed", Artifact.text("a cat on a mat"))).as_json()["vector"]
        assert len(vector) == 384
        report = lifecycle.sample(write=True)
        assert set(report.workers) == {"llm", "onnx"}, "the ONNX models share one worker"
        assert {"embed", "detect"} <= set(lifecycle.workers[-1].units)
        assert report.workers["llm"] >= smollm2.stat().st_size // 2
        lifecycle.budget = report.total + 16 * MB  # a second embedder cannot fit beside both: llm goes first
        await lifecycle.ref("embed", params={"model_path": "minilm"})
        assert lifecycle.evictions == ["llm"]
        assert lifecycle.measure().total <= lifecycle.budget

    run(test, specs=specs)


def test_a_measured_footprint_past_the_budget_does_not_refuse_the_worker_for_good() -> None:
    from smolcpu.vm._lifecycle import footprint_key
    from smolcpu.vm._lifecycle_status import save_footprints

    spec = WorkerSpec("ballast", BALLAST, footprint=10 * 1024**2)
    save_footprints({footprint_key((spec,)): 3 * 1024**3})  # measured by an older Smol that leaked

    async def check() -> None:
        async with ActorSystem(record=False) as system, Lifecycle(system, budget=2 * 1024**3) as lifecycle:
            assert lifecycle.estimate(spec) == 10 * 1024**2

    asyncio.run(check())


def test_one_lookup_of_the_processes_gives_every_tree_under_this_one() -> None:
    from smolcpu.vm._lifecycle_status import process_parents, process_tree, subtree

    sleeper = "import time; time.sleep(60)"
    script = f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {sleeper!r}]); time.sleep(60)"
    child = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 30
        while len(process_tree(child.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        parents = process_parents(os.getpid())
        assert sorted(subtree(parents, child.pid)) == sorted(process_tree(child.pid))
        assert set(subtree(parents, os.getpid())) >= {os.getpid(), *process_tree(child.pid)}
        assert subtree(parents, 999_999_999) == [999_999_999]  # not looked up: only itself
    finally:
        for pid in reversed(process_tree(child.pid)):
            psutil.Process(pid).kill()
        child.wait()


@pytest.mark.skipif(not os.path.exists(f"/proc/{os.getpid()}/smaps_rollup"), reason="needs Linux 4.14's smaps_rollup")
def test_smaps_rollup_gives_the_same_memory_as_parsing_smaps() -> None:
    from smolcpu.vm import _lifecycle_status as status

    script = "import time; print('ready', flush=True); time.sleep(60)"
    sleeper = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    try:
        assert sleeper.stdout is not None and sleeper.stdout.readline() == b"ready\n"  # settled: its memory stays put
        status._SHARED_SEEN.clear()
        parsed = status._parse_smaps(sleeper.pid)
        assert status._mappings(sleeper.pid) == parsed  # first look: smaps parsed
        assert sleeper.pid in status._SHARED_SEEN
        assert status._mappings(sleeper.pid) == parsed  # then: smaps_rollup, the shared pages kept
        groups = {"": [os.getpid()], "sleeper": [sleeper.pid]}
        with_rollup = status.resident(groups)
        status._SHARED_SEEN.clear()
        without = status.resident({"sleeper": [sleeper.pid]})
        assert with_rollup["sleeper"] <= without["sleeper"]  # its shared libraries counted once, under ""
        assert status.resident({"sleeper": [sleeper.pid]}) == without
    finally:
        sleeper.kill()
        sleeper.wait()
