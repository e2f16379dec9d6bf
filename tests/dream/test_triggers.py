"""When a dream is due: never dreamt, a schedule, N new runs, N edited programs; and room for it."""

from __future__ import annotations

import time
from pathlib import Path

from smolcpu.artifact import RunIndex
from smolcpu.dream._triggers import due, mark_dreamt, memory_in_use, wait_for_room


def record_runs(index: RunIndex, program: Path, count: int) -> None:
    for _ in range(count):
        run = f"run-{time.time_ns()}"
        index.start_run(run, program=str(program), input_summary="hello")
        index.finish_run(run, "ok")


def test_a_dream_is_due_by_schedule_runs_or_edits(tmp_path: Path) -> None:
    program = tmp_path / "mine.smol"
    program.write_text("smol >= 0.1\nout <= in\n")
    with RunIndex() as index:
        assert not due(index).due
        record_runs(index, program, 2)
        assert due(index).why == "never dreamt; 2 runs recorded"
        mark_dreamt(index)
        assert not due(index, after_runs=3).due
        record_runs(index, program, 3)
        assert "3 new runs" in due(index, after_runs=3).why
        mark_dreamt(index)
        program.write_text("smol >= 0.1\n; edited\nout <= in\n")
        assert "1 edited program since" in due(index, after_edits=1).why
        assert not due(index, after_edits=2).due
        assert "h ago" in due(index, every_s=0.0).why


def test_with_no_session_running_there_is_room_at_once() -> None:
    assert memory_in_use() == 0
    assert wait_for_room(timeout_s=0.0)
