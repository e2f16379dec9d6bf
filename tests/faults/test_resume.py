"""A run cut short goes on from its last recorded step: the index marks it ``interrupted``
when its process is gone, and ``Replay`` hands the new run what the old one recorded."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from smolcpu.artifact import INTERRUPTED, ArtifactStore, RunIndex, open_store
from smolcpu.errors import UsageError
from smolcpu.testing import Reply, ScriptedChooser
from smolcpu.vm import Choice, Chooser, Executor, Replay, RunResult, Status
from tests.vm.flows import graph_of, workers_for

LOOP = "out <= switch <= (\n a => next\n b => next | back\n c => send\n) <= in"
SELECT = "out <= select <= (\n a<1> => next\n x => send\n y => send\n) <= in"
NEVER = Reply(fail="a recorded step ran again")


class NoChooser(Chooser):
    """Fails the test if a recorded decision is asked again."""

    async def choose(self, choice: Choice) -> str:
        raise AssertionError(f"{choice.block} was decided again")


def cut_short(store: ArtifactStore, source: str, scripts: dict, *, stuck: str, **options: object) -> str:
    """Run ``source`` until worker ``stuck`` is called, then stop everything; the run id."""
    graph = graph_of(source)
    workers = workers_for(graph, {**scripts, stuck: [Reply(delay=60)]})

    async def go() -> str:
        async with Executor(graph, workers=workers, store=store, **options) as executor:
            execution = executor.start("in")
            while not workers[stuck].calls:
                await asyncio.sleep(0.01)
            execution.cancel("the power went out")
            await asyncio.gather(execution.task, return_exceptions=True)
            return execution.run_id

    return asyncio.run(go())


def resume(store: ArtifactStore, source: str, run_id: str, scripts: dict, **options: object) -> tuple[RunResult, dict]:
    graph = graph_of(source)
    workers = workers_for(graph, scripts)
    replay = Replay.load(run_id, store)

    async def go() -> RunResult:
        async with Executor(graph, workers=workers, store=store, **options) as executor:
            return await executor.run(replay.given, replay=replay)

    return asyncio.run(go()), workers


@pytest.fixture
def store(tmp_path: Path):  # noqa: ANN201
    with RunIndex(tmp_path / "index.db") as index, open_store(str(tmp_path / "store"), index=index) as opened:
        yield opened


def test_a_resumed_run_takes_its_recorded_steps_and_runs_only_the_rest(store: ArtifactStore) -> None:
    old = cut_short(store, LOOP, {"b": [Reply(outcome="back"), Reply()]}, stuck="c")
    result, workers = resume(store, LOOP, old, {"a": [NEVER], "b": [NEVER]})
    assert result.status is Status.OK
    assert result.output.as_text() == "in>a>b>a>b>c", "the recorded outputs led it along the same path"
    assert [str(v) for v in result.path] == [
        "switch1.a:next", "switch1.b:back", "switch1.a:next", "switch1.b:next", "switch1.c:send"
    ]
    assert (len(workers["a"].calls), len(workers["b"].calls), len(workers["c"].calls)) == (0, 0, 1)
    records = store.index.artifacts(result.run_id)
    replayed = [store.load(r.key) for r in records if store.load(r.key).attr("replayed")]
    assert len(replayed) == 4 and all(store.get(a.attr("replayed")).attr("run") == old for a in replayed)
    assert store.index.run(old).artifact_count == len(store.index.artifacts(old)), "the old run's record is kept"
    assert store.verify().ok


def test_a_resumed_run_takes_the_recorded_decisions(store: ArtifactStore) -> None:
    old = cut_short(store, SELECT, {}, stuck="x", chooser=ScriptedChooser(["a", "x"]))
    result, workers = resume(store, SELECT, old, {"a": [NEVER]}, chooser=NoChooser())
    assert result.status is Status.OK and result.output.as_text() == "in>a>x"
    assert len(workers["x"].calls) == 1 and not workers["y"].calls


def test_a_run_with_no_input_recorded_cannot_be_resumed(store: ArtifactStore) -> None:
    store.index.start_run("run-empty")
    with pytest.raises(UsageError, match="recorded no input"):
        Replay.load("run-empty", store)
    with pytest.raises(UsageError, match="no run"):
        Replay.load("run-nothing", store)


def test_runs_of_a_dead_process_are_marked_interrupted_and_live_ones_are_not(tmp_path: Path) -> None:
    path = tmp_path / "index.db"
    started = "from smolcpu.artifact import RunIndex; RunIndex({!r}).start_run('run-dead')".format(str(path))
    subprocess.run([sys.executable, "-c", started], check=True, timeout=60)
    with RunIndex(path) as index:
        index.start_run("run-alive")
        assert index.mark_interrupted() == ["run-dead"]
        assert index.run("run-dead").status == INTERRUPTED and index.run("run-dead").finished_ns is not None
        assert index.run("run-alive").status == "running"
        assert index.mark_interrupted() == []
