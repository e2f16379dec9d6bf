"""The run index: runs, their artifacts, lineage walks, and rebuilding from the store."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from smolcpu.artifact import Artifact, FileStore, RunIndex
from smolcpu.artifact._index import preview
from smolcpu.cli._runs import trace_tree
from smolcpu.errors import ArtifactError, UsageError


@pytest.fixture
def store(tmp_path: Path) -> Iterator[FileStore]:
    made = FileStore(tmp_path / "artifacts", index=RunIndex(tmp_path / "index.sqlite"))
    yield made
    made.index.close()


def diamond(store: FileStore, run: str = "r1") -> list[Artifact]:
    """a → b, a → c, (b, c) → d, d → e: lineage that branches and joins again."""
    a = Artifact.text("question", origin="in", attributes={"run": run})
    b = a.derive(b"plan", origin="planner")
    c = a.derive(b"facts", origin="search")
    d = Artifact.create(b"answer", parents=[b, c], origin="join", attributes={"run": run})
    e = d.derive(b"checked", origin="verify")
    for artifact in (a, b, c, d, e):
        store.put(artifact)
    return [a, b, c, d, e]


def test_run_lifecycle(store: FileStore) -> None:
    index = store.index
    index.start_run("r1", program="out <= llm <= in", input_summary="2+2?")
    run = index.run("r1")
    assert run is not None and run.status == "running" and run.finished_ns is None
    index.finish_run("r1", "ok")
    run = index.run("r1")
    assert run is not None and run.status == "ok" and run.finished_ns >= run.started_ns
    assert (run.program, run.input_summary) == ("out <= llm <= in", "2+2?")


def test_illegal_run_transitions_are_refused(store: FileStore) -> None:
    index = store.index
    with pytest.raises(UsageError, match="start_run"):
        index.finish_run("ghost", "ok")
    index.start_run("r1")
    with pytest.raises(UsageError, match="already started"):
        index.start_run("r1")
    index.finish_run("r1", "error")
    with pytest.raises(UsageError, match="already finished"):
        index.finish_run("r1", "ok")


def test_artifacts_recorded_before_start_make_an_unknown_run_that_start_fills_in(store: FileStore) -> None:
    store.put(Artifact.text("early", attributes={"run": "r2"}))
    assert store.index.run("r2").status == "unknown"
    store.index.start_run("r2", program="p")
    run = store.index.run("r2")
    assert (run.status, run.program, run.artifact_count) == ("running", "p", 1)


def test_runs_newest_first_with_counts(store: FileStore) -> None:
    for name in ("first", "second", "third"):
        store.index.start_run(name)
    diamond(store, run="second")
    listed = store.index.runs()
    assert [r.id for r in listed] == ["third", "second", "first"]
    assert [r.artifact_count for r in listed] == [0, 5, 0]
    assert [r.id for r in store.index.runs(limit=1)] == ["third"]
    assert store.index.find_runs("s") == ["second"]


def test_resolve_takes_a_whole_id_or_an_unambiguous_prefix(store: FileStore) -> None:
    for name in ("run-abc1", "run-abc2", "run-xyz"):
        store.index.start_run(name)
    assert store.index.resolve("run-xyz").id == "run-xyz"
    assert store.index.resolve("run-x").id == "run-xyz"
    with pytest.raises(UsageError, match="ambiguous: run-abc1, run-abc2"):
        store.index.resolve("run-abc")
    with pytest.raises(UsageError, match="no run 'nope'"):
        store.index.resolve("nope")


def test_lineage_walks_both_ways(store: FileStore) -> None:
    a, b, c, d, e = diamond(store)
    assert store.index.parents(d.id) == [b.id, c.id]
    assert store.index.children(a.id) == [b.id, c.id]
    assert store.index.lineage(e.id) == [d.id, *sorted([b.id, c.id]), a.id]
    assert store.index.lineage(a.id, descendants=True) == [*sorted([b.id, c.id]), d.id, e.id]
    assert store.index.lineage(a.id) == []
    records = store.index.artifacts("r1")
    assert [r.id for r in records] == [a.id, b.id, c.id, d.id, e.id]
    assert records[3].parents == (b.id, c.id)


def test_the_index_answers_without_the_store(store: FileStore) -> None:
    a, *_, e = diamond(store)
    shutil.rmtree(store.root)
    assert len(store.index.artifacts("r1")) == 5
    assert store.index.lineage(e.id)[-1] == a.id


def test_rebuild_from_the_store_gives_the_same_index(store: FileStore, tmp_path: Path) -> None:
    store.index.start_run("r1", program="kept")
    made = diamond(store)
    store.put(Artifact.text("other", attributes={"run": "r3"}))
    before = (store.index.artifacts("r1"), [store.index.parents(a.id) for a in made])
    fresh = RunIndex(tmp_path / "fresh.sqlite")
    result = fresh.rebuild(store)
    assert (result.indexed, result.corrupt) == (6, ())
    assert (fresh.artifacts("r1"), [fresh.parents(a.id) for a in made]) == before
    assert {r.id for r in fresh.runs()} == {"r1", "r3"}
    assert store.index.rebuild(store).indexed == 6
    assert store.index.run("r1").program == "kept"
    fresh.close()


def test_rebuild_reports_corrupt_artifacts_and_goes_on(store: FileStore) -> None:
    made = diamond(store)
    bad = store.root / store.index.key_of(made[2].id)
    bad.write_text("{not json")
    result = store.index.rebuild(store)
    assert result.indexed == 4
    assert [key for key, _ in result.corrupt] == [bad.relative_to(store.root).as_posix()]
    assert "corrupt" in result.corrupt[0][1]


def test_the_index_persists_and_refuses_use_after_close(tmp_path: Path) -> None:
    index = RunIndex(tmp_path / "i.sqlite")
    index.start_run("r1")
    index.close()
    assert "closed" in repr(index)
    with pytest.raises(UsageError, match="closed"):
        index.runs()
    with RunIndex(tmp_path / "i.sqlite") as again:
        assert again.run("r1") is not None


def test_a_damaged_index_file_says_how_to_recover(tmp_path: Path) -> None:
    path = tmp_path / "i.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ArtifactError, match="--rebuild"):
        RunIndex(path)


def test_preview_is_one_short_line() -> None:
    assert preview(Artifact.text("a\n  b\tc")) == "a b c"
    assert len(preview(Artifact.text("x" * 500))) == 80
    assert preview(Artifact.create(b"\x00" * 10)) == "<10 bytes>"
    assert preview(Artifact.error("it broke")) == "error: it broke"
    assert preview(Artifact.json({"k": 1})) == '{"k":1}'


def test_a_forged_cycle_ends(store: FileStore) -> None:
    first = Artifact.text("a", attributes={"run": "loop"})
    second = first.derive(b"b")
    store.put(first.replace(parents=(second.id,)))
    store.put(second)
    assert set(store.index.lineage(second.id)) == {first.id, second.id}
    assert set(store.index.lineage(first.id, descendants=True)) == {first.id, second.id}
    console = Console(width=120, record=True)
    console.print(trace_tree("loop", index=store.index))
    drawn = console.export_text()
    assert first.id[:8] in drawn and second.id[:8] in drawn and "shown above" in drawn


def test_a_run_is_claimed_once_for_its_caller(store: FileStore) -> None:
    index = store.index
    index.start_run("r1", caller="key-a")
    store.put(Artifact.text("later", attributes={"run": "r1", "caller": "key-b"}))
    store.put(Artifact.text("early", attributes={"run": "r2", "caller": "key-b"}))
    index.start_run("r2", caller="key-a")
    index.start_run("r3")
    assert [index.caller_of(run) for run in ("r1", "r2", "r3", "ghost")] == ["key-a", "key-b", "", ""]
    assert {run.id for run in index.runs(caller="key-b")} == {"r2"}
    assert {run.id for run in index.runs()} == {"r1", "r2", "r3"}


def test_an_index_made_before_runs_had_callers_gains_the_column(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE runs (id TEXT PRIMARY KEY, started_ns INTEGER NOT NULL, finished_ns INTEGER,"
            " status TEXT NOT NULL, program TEXT NOT NULL DEFAULT '', input_summary TEXT NOT NULL DEFAULT '')"
        )
        db.execute("INSERT INTO runs (id, started_ns, status) VALUES ('old', 1, 'ok')")
    with RunIndex(path) as index:
        assert index.caller_of("old") == "" and index.runs(caller="key-a") == []
