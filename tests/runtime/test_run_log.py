"""The RunLog: a raw request's run recorded off its path, in order, all of it by ``close``."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from smolcpu.artifact import Artifact, RunIndex, open_store
from smolcpu.runtime import RunLog, StoreProcess


async def test_a_run_noted_to_the_log_is_in_the_index_and_store_once_it_closes(tmp_path: Path) -> None:
    index_path = tmp_path / "index.sqlite"
    store = StoreProcess(str(tmp_path / "artifacts"), index_path=index_path)
    asked = Artifact.json({"op": "chat"}, attributes={"run": "run-a"})
    answer = Artifact.text("hello", attributes={"run": "run-a"}, parents=(asked.id,))
    with RunIndex(index_path) as index:
        run_log = RunLog(index=index, store=store)
        run_log.start("run-a", program="llm:smollm2", input_summary="hi")
        run_log.finish("run-a", "ok", (asked, answer))
        assert index.run("run-a") is None  # only noted: nothing written on the request's path
        await run_log.close()
        await asyncio.to_thread(store.close)
        assert index.run("run-a").status == "ok"
        assert index.run("run-a").program == "llm:smollm2"
        with open_store(str(tmp_path / "artifacts"), index=index) as opened:
            assert opened.get(answer.id).as_text() == "hello"
            assert {record.id for record in index.artifacts("run-a")} == {asked.id, answer.id}


async def test_a_write_that_fails_is_logged_and_the_rest_still_written(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = StoreProcess(str(tmp_path / "artifacts"), index_path=tmp_path / "index.sqlite")
    with RunIndex(tmp_path / "index.sqlite") as index:
        run_log = RunLog(index=index, store=store)
        run_log.finish("run-never-started", "ok")  # the index refuses: no such run
        run_log.start("run-b", program="llm:smollm2")
        run_log.finish("run-b", "cancelled")
        with caplog.at_level(logging.ERROR, logger="smolcpu.runtime"):
            await run_log.close()
        await asyncio.to_thread(store.close)
        assert "could not finish run run-never-started" in caplog.text
        assert index.run("run-b").status == "cancelled"
