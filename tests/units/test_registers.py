"""Registers: run and global scopes, JSON and artifact values, and the unit over them."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from smolcpu.artifact import JSON, Artifact
from smolcpu.errors import UsageError
from smolcpu.units.tools import Registers, RegistersTool, shared_registers
from smolcpu.units.tools._registers import MAX_VALUE_BYTES


def test_a_run_register_shadows_the_global_one_only_in_that_run() -> None:
    registers = Registers()
    assert registers.set("price", 10) == "global"
    assert registers.set("price", 12, run="a") == "run"
    assert registers.get("price", run="a") == 12
    assert registers.get("price", run="b") == 10
    assert registers.get("price") == 10
    assert registers.get("price", run="a", scope="global") == 10
    assert registers.items(run="a") == {"price": 12}
    assert registers.items(run="a", scope="global") == {"price": 10}


def test_missing_register_lists_what_there_is() -> None:
    registers = Registers()
    registers.set("tax", 0.2)
    with pytest.raises(UsageError, match=r"no register 'price' in run a or global; registers there: tax"):
        registers.get("price", run="a")
    with pytest.raises(UsageError, match=r"no register 'price' in global; there are none"):
        Registers().get("price")


def test_values_are_copies_of_json_data() -> None:
    registers = Registers()
    value: dict[str, Any] = {"items": [1, 2]}
    registers.set("basket", value)
    value["items"].append(3)
    fetched = registers.get("basket")
    fetched["items"].append(4)
    assert registers.get("basket") == {"items": [1, 2]}


def test_an_artifact_value_comes_back_as_the_same_artifact() -> None:
    registers = Registers()
    note = Artifact.text("draft", origin="writer")
    registers.set("draft", note, run="r")
    assert registers.get("draft", run="r") is note


def test_delete_and_clear_run() -> None:
    registers = Registers()
    registers.set("x", 1)
    registers.set("x", 2, run="r")
    registers.set("y", 3, run="r")
    assert registers.delete("x", run="r") is True
    assert registers.delete("x", run="r") is False
    assert registers.get("x", run="r") == 1
    registers.clear_run("r")
    assert registers.items(run="r") == {"x": 1}


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda r: r.set("1st", 1), "bad register name '1st'"),
        (lambda r: r.set("a-b", 1), "bad register name"),
        (lambda r: r.set("x", {1, 2}), "must be JSON data or an artifact"),
        (lambda r: r.set("x", float("nan")), "must be JSON data or an artifact"),
        (lambda r: r.set("x", "a" * MAX_VALUE_BYTES), "over the 1000000-byte limit"),
        (lambda r: r.set("x", 1, scope="run"), "scope 'run' needs a run"),
        (lambda r: r.set("x", 1, run="r", scope="local"), "bad register scope 'local'"),
        (lambda r: r.items(scope="run"), "scope 'run' needs a run"),
    ],
)
def test_bad_use_is_a_clear_usage_error(call: Any, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        call(Registers())


def test_threads_can_share_registers() -> None:
    registers = Registers()

    def fill(run: str) -> None:
        for index in range(200):
            registers.set(f"r{index}", index, run=run)

    threads = [threading.Thread(target=fill, args=(f"run{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(len(registers.items(run=f"run{n}")) == 200 for n in range(4))


def test_the_process_shares_one_set_of_registers() -> None:
    assert shared_registers() is shared_registers()
    assert RegistersTool().registers is shared_registers()


def ask(tool: RegistersTool, payload: Any, *, run: str | None = "run-1") -> Artifact:
    """Send the tool one request, as text (a bare op) or JSON, in ``run``."""
    attributes = {"run": run} if run else None
    if isinstance(payload, str):
        return asyncio.run(tool.handle(None, None, Artifact.text(payload, attributes=attributes)))
    return asyncio.run(tool.handle(None, None, Artifact.json(payload, attributes=attributes)))


def test_the_unit_sets_in_the_run_of_the_artifact_and_replies_in_it() -> None:
    tool = RegistersTool(registers=Registers())
    request = Artifact.json({"op": "set", "name": "price", "value": 10}, attributes={"run": "run-1"})
    reply = asyncio.run(tool.handle(None, None, request))
    assert reply.as_json() == {"set": "price", "scope": "run"}
    assert (reply.attr("run"), reply.parents, reply.origin) == ("run-1", (request.id,), "registers")
    assert ask(tool, {"op": "get", "name": "price"}).as_json() == 10
    assert ask(tool, {"op": "get", "name": "price"}, run="run-2").is_error
    ask(tool, {"op": "set", "name": "rate", "value": 0.2, "scope": "global"}, run="run-2")
    assert ask(tool, "list").as_json() == {"price": 10, "rate": 0.2}
    assert ask(tool, {"op": "delete", "name": "price"}).as_json() == {"deleted": True, "name": "price"}
    assert ask(tool, {"op": "list", "scope": "run"}).as_json() == {}


def test_the_unit_stores_an_artifact_and_get_returns_it() -> None:
    tool = RegistersTool(registers=Registers())
    stored = Artifact.json({"answer": 42}, origin="llm")
    ask(tool, {"op": "set", "name": "answer", "artifact": stored.to_dict()})
    fetched = ask(tool, {"op": "get", "name": "answer"})
    assert (fetched.id, fetched.type, fetched.as_json()) == (stored.id, JSON, {"answer": 42})
    summary = {"artifact": stored.id, "type": JSON, "bytes": len(stored.payload)}
    assert ask(tool, "list").as_json() == {"answer": summary}


def test_without_a_run_the_unit_works_on_global_registers() -> None:
    registers = Registers()
    tool = RegistersTool(registers=registers)
    ask(tool, {"op": "set", "name": "limit", "value": [1, 2]}, run=None)
    assert registers.get("limit", run="any") == [1, 2]
    refused = ask(tool, {"op": "set", "name": "x", "value": 1, "scope": "run"}, run=None)
    assert "no 'run' attribute" in refused.error_message


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"op": "sett", "name": "x"}, "unknown registers op 'sett'"),
        ({"op": "get"}, "registers get needs a 'name'"),
        ({"op": "set", "name": "x"}, "exactly one of 'value' (JSON) or 'artifact'"),
        ({"op": "set", "name": "x", "artifact": {"id": 1}}, "not an artifact's JSON form"),
        ({"op": "get", "name": "nothing"}, "no register 'nothing'"),
    ],
)
def test_the_unit_answers_mistakes_with_an_error_artifact(payload: dict[str, Any], message: str) -> None:
    reply = ask(RegistersTool(registers=Registers()), payload)
    assert reply.is_error
    assert message in reply.error_message
    assert reply.attr("run") == "run-1"
