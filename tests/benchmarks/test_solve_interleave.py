"""The solve benchmark's interleaved run (systems started at once, asked item by item in turn),
and where the smolagents runner stops its agent on HumanEval.

The systems are scripted runners (the benchmark's own protocol, a fixed answer each), so
no model is needed; what is checked is the order, what each result records, and the table.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace
from collections.abc import Iterator
from typing import IO

import pytest
from rich.progress import Progress

from bench.solve import __main__ as solve
from bench.solve._suite import Item
from bench.solve._systems import System
from bench.solve._written import stop_when_defined


@pytest.fixture
def log(tmp_path: Path) -> Iterator[IO[str]]:
    with (tmp_path / "solve.log").open("w", encoding="utf-8") as file:
        yield file


def item(number: int) -> Item:
    return Item(suite="gsm8k", id=str(number), task=f"{number} + 0?", messages=[], reference=str(number))


def scripted(name: str, answer: str, *, log: IO[str]) -> System:
    """A system whose runner answers every item with ``answer``, 7 tokens generated, 30 read."""
    reply = {"output": answer, "tokens": 7, "prompt_tokens": 30, "steps": 1}
    code = f"from bench.solve._runner import serve; serve(lambda: (lambda item: {reply!r}, {{'name': {name!r}}}))"
    return System(name, [lambda _: [sys.executable, "-c", code]], log=log)


def test_the_turn_passes_from_item_to_item_and_skips_what_is_done() -> None:
    items = [item(number) for number in range(4)]
    todo = {"smol": items, "smolagents": [items[0], items[2], items[3]]}
    order = [(name, chosen.id) for name, chosen in solve.interleaved(todo, items)]
    assert order == [
        ("smol", "0"), ("smolagents", "0"),
        ("smol", "1"),
        ("smol", "2"), ("smolagents", "2"),
        ("smolagents", "3"), ("smol", "3"),
    ]  # fmt: skip
    assert solve.interleaved({}, items) == [], "nothing to run (--report): no turns"


def test_interleaved_systems_answer_in_turn_and_each_result_records_tokens_and_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, log: IO[str]
) -> None:
    monkeypatch.setattr(solve, "ITEMS", tmp_path / "items.jsonl")
    options = solve.options_from(["--systems", "smol,smolagents", "--interleave"])
    key = solve.run_key(options)
    assert key["interleaved"] is True
    systems = [scripted("smol", "#### 1", log=log), scripted("smolagents", "#### 2", log=log)]
    items = [item(1), item(2)]
    with Progress(disable=True) as progress:
        announced, notes = solve.run_interleaved(
            systems, {"smol": items, "smolagents": items}, items, options=options, key=key, progress=progress
        )
    assert notes == {} and announced["smolagents"]["name"] == "smolagents"
    assert all(not system.runners for system in systems), "every runner is stopped at the end"
    records = [json.loads(line) for line in solve.ITEMS.read_text().splitlines()]
    assert [(record["system"], record["id"], record["correct"]) for record in records] == [
        ("smol", "1", True), ("smolagents", "1", False), ("smolagents", "2", True), ("smol", "2", False)
    ]  # fmt: skip
    assert all(record["tokens"] == 7 and record["prompt_tokens"] == 30 and record["load"] >= 0 for record in records)
    results = solve.earlier_results(key)
    rows = solve.table_rows({"gsm8k": items}, ["smol", "smolagents"], results, {})
    columns = ["suite", "system", "items", "accuracy", "median s", "p90 s", "peak GB", "median tokens", "load", "notes"]
    smol = dict(zip(columns, rows[0], strict=True))
    assert smol["accuracy"] == "50.0%" and smol["median tokens"] == 7 and "-" in smol["load"]


def test_a_system_that_cannot_start_is_noted_and_the_others_still_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, log: IO[str]
) -> None:
    monkeypatch.setattr(solve, "ITEMS", tmp_path / "items.jsonl")
    options = solve.options_from(["--systems", "smol,smolagents", "--interleave"])
    code = "from bench.solve._runner import serve; serve(lambda: 1 / 0)"
    broken = System("smolagents", [lambda _: [sys.executable, "-c", code]], log=log)
    items = [item(1)]
    with Progress(disable=True) as progress:
        _, notes = solve.run_interleaved(
            [scripted("smol", "#### 1", log=log), broken],
            {"smol": items, "smolagents": items},
            items,
            options=options,
            key=solve.run_key(options),
            progress=progress,
        )
    assert "ZeroDivisionError" in notes["smolagents"]
    assert [json.loads(line)["system"] for line in solve.ITEMS.read_text().splitlines()] == ["smol"]


class Agent:
    """What the step callback needs of a smolagents agent: a way to interrupt it."""

    def __init__(self) -> None:
        self.interrupted = 0

    def interrupt(self) -> None:
        self.interrupted += 1


def step(code: str | None, *, error: Exception | None = None, final: bool = False) -> SimpleNamespace:
    return SimpleNamespace(code_action=code, error=error, is_final_answer=final)


def test_the_agent_is_stopped_at_the_first_code_that_defines_the_function_and_runs() -> None:
    written: list[str] = []
    callback = stop_when_defined("add_all", written)
    agent = Agent()
    callback(step("x = add_all_numbers([1])"), agent)
    callback(step("def add_all(numbers):\n    return numbers[0]\n", error=RuntimeError("it failed")), agent)
    callback(step("def add_all(n):\n    return 1\nfinal_answer(inspect.getsource(add_all))", final=True), agent)
    callback(step(None), agent)
    assert written == [] and agent.interrupted == 0, "a mention, a failing definition, a final answer: the run goes on"
    callback(step("from typing import *\ndef add_all(numbers):\n    return sum(numbers)\n"), agent)
    callback(step("def add_all(numbers):\n    return 0\n"), agent)
    assert written == ["from typing import *\ndef add_all(numbers):\n    return sum(numbers)\n"]
    assert agent.interrupted == 1
