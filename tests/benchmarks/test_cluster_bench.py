"""bench/cluster's options, batch and tables, on figures made up here (no model, no Ray, no ../shared)."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from bench.cluster import _program
from bench.cluster.__main__ import parser, tool_rows
from bench.cluster._nodes import MODES, latencies, nodes_of
from smolcpu.runtime import read_placement


def test_options_default_to_a_bounded_run_with_smollm2() -> None:
    args = parser().parse_args([])
    assert (args.workload, args.model, args.requests, args.rounds, args.concurrency, args.seconds) == (
        "all", "smollm2", 4, 2, 2, 60.0,
    )  # fmt: skip
    args = parser().parse_args(["--workload", "program", "--model", "qwen2.5-coder-1.5b", "--requests", "6", "--seconds", "30.5"])
    assert (args.workload, args.model, args.requests, args.seconds) == ("program", "qwen2.5-coder-1.5b", 6, 30.5)


@pytest.mark.parametrize("argv", [["--requests", "0"], ["--seconds", "-1"], ["--rounds", "x"], ["--workload", "both"]])
def test_bad_options_are_a_usage_message(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        parser().parse_args(argv)
    assert exited.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


def test_the_batch_is_word_problems_then_the_chat_line() -> None:
    assert _program.requests_of(["a", "b", "c"], 3) == ["a", "b", _program.CHAT]
    assert _program.requests_of(["a"], 1) == [_program.CHAT]


def test_the_placement_lets_four_runs_at_once_fit_on_two_cpus(tmp_path: Path) -> None:
    path = tmp_path / "placement.toml"
    path.write_text(_program.PLACEMENT)
    kinds = read_placement("auto", path).kinds  # each run starts its own actors of these kinds
    assert 4 * sum(kind.cpus * kind.replicas for kind in kinds.values()) <= 2
    assert set(kinds) <= set(read_placement("auto").kinds)  # only kinds placed by default


class _Session:
    """Answers every request after a moment, as a Session would, with a fixed number of steps."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def ask(self, text: str) -> Any:
        self.asked.append(text)
        await asyncio.sleep(0.01)
        return SimpleNamespace(steps=4, status="ok", tokens=10)


def test_a_batch_runs_every_request_and_starts_none_past_its_seconds() -> None:
    session = _Session()
    done = asyncio.run(_program.run_batch(session, ["a", "b", "c"], concurrency=2, seconds=60))
    assert sorted(session.asked) == ["a", "b", "c"] and done["skipped"] == 0
    assert [run["steps"] for run in done["runs"]] == [4, 4, 4]
    late = asyncio.run(_program.run_batch(_Session(), ["a", "b", "c"], concurrency=1, seconds=0.005))
    assert len(late["runs"]) == 1 and late["skipped"] == 2


def _measured(seconds: float) -> dict[str, Any]:
    runs = [{"seconds": seconds, "steps": 10, "status": "ok", "tokens": 5}, {"seconds": 2 * seconds, "steps": 10, "status": "error", "tokens": 5}]
    batch = {"runs": runs, "skipped": 1, "wall": 4 * seconds, "resident_mb": 900.0}
    return {"ready": {"warm_up_s": 1.0, "warm_up_status": "ok", "base_mb": 700.0}, "batches": [batch, batch]}


def test_the_summary_and_rows_of_the_default_program() -> None:
    figures = _program.summary({mode: _measured(1.0 + i) for i, mode in enumerate(MODES)})
    embedded = figures["embedded"]
    assert embedded["runs"] == 4 and embedded["ok"] == 2 and embedded["skipped"] == 2
    assert embedded["runs_per_s"] == pytest.approx(0.5)
    assert embedded["p50_ms"] == pytest.approx(1500) and embedded["p99_ms"] == pytest.approx(2000)
    assert embedded["ms_per_step"] == pytest.approx(150)
    rows = _program.program_rows(figures, "smollm2")
    assert len(rows) == 3 * len(MODES)
    assert [row[6] for row in rows[: len(MODES)]] == pytest.approx([0, 150, 300])
    assert rows[len(MODES)][2:6] == ("2 / 4 / 2", "2.5 tokens/s", "5 tokens", "10 steps")
    assert rows[-1][6] == "900 / 700"


def test_the_summary_of_a_mode_that_ran_nothing_is_not_a_crash() -> None:
    empty = {"ready": {"warm_up_s": 1.0, "warm_up_status": "error", "base_mb": 1.0}, "batches": [{"runs": [], "skipped": 3, "wall": 1.0, "resident_mb": 2.0}]}
    figures = _program.summary({"embedded": empty})
    assert figures["embedded"]["runs"] == 0 and math.isnan(figures["embedded"]["p50_ms"])
    assert not figures["embedded"]["warm_up_ok"]


def test_the_tool_rows_give_the_overhead_over_embedded() -> None:
    def got(ms: float) -> dict[str, Any]:
        one = {"runs_per_s": 1.0, "p50_ms": ms, "p99_ms": ms, "ms_per_step": ms}
        return {"request": one, "step": one, "fan-out": one, "tool batch": one, "resident_mb": 50.0}

    rows = tool_rows({"embedded": got(1.0), "ray, 1 node": got(3.5), "ray, 2 nodes": got(4.0)})
    assert [row[6] for row in rows[:3]] == [0.0, 2.5, 3.0]
    assert rows[-1] == ("resident memory (MB), tools", "ray, 2 nodes", "", "", "", "", 50.0)


def test_latencies_and_nodes() -> None:
    figures = latencies([0.1, 0.2, 0.3], wall=1.5, steps=2)
    assert figures["runs_per_s"] == pytest.approx(2) and figures["ms_per_step"] == pytest.approx(100)
    assert [nodes_of(mode) for mode in MODES] == [0, 1, 2]
