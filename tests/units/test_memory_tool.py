"""The memory unit (artifacts in, artifacts out) and ``smol memory ...`` as a user runs it."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from smolcpu.artifact import Artifact
from smolcpu.cli import app
from smolcpu.errors import UsageError
from smolcpu.runtime import ActorSystem
from smolcpu.units._registry import create_unit, unit_kind
from smolcpu.units.tools import MemoryTool


def ask(tool: MemoryTool, request: dict[str, Any]) -> Artifact:
    """Send ``request`` to the tool as its runtime would, and return the reply."""
    return asyncio.run(tool.handle(None, None, Artifact.json(request)))


def test_operations_through_artifacts(tmp_path: Path) -> None:
    tool = create_unit("memory", vault=str(tmp_path / "vault"))
    asyncio.run(tool.init(None))
    written = ask(
        tool, {"op": "write", "name": "people/Ada", "text": "---\nborn: 1815-12-10\n---\nWrote [[Notes]]. #math"}
    )
    assert written.as_json() == {"name": "people/Ada", "path": "people/Ada.md", "created": True}
    ask(tool, {"op": "write", "name": "Notes", "text": "Notes on the engine, by [[Ada]]."})
    note = (ask(tool, {"op": "read", "name": "ada"})).as_json()
    assert note["frontmatter"] == {"born": "1815-12-10"}
    assert note["tags"] == ["math"]
    assert [(link["written"], link["target"]) for link in note["links"]] == [("Notes", "Notes")]
    backlinks = (ask(tool, {"op": "backlinks", "name": "Ada"})).as_json()["links"]
    assert [link["source"] for link in backlinks] == ["Notes"]
    hits = (ask(tool, {"op": "search", "query": "engines", "limit": 5, "mode": "text"})).as_json()["hits"]
    assert [hit["name"] for hit in hits] == ["Notes"]
    renamed = (ask(tool, {"op": "rename", "name": "Ada", "new_name": "people/Ada Lovelace"})).as_json()
    assert renamed["rewritten"] == {"Notes": 1}
    assert (tmp_path / "vault" / "Notes.md").read_text() == "Notes on the engine, by [[Ada Lovelace]]."
    graph = (ask(tool, {"op": "graph"})).as_json()
    assert graph == {
        "nodes": ["Notes", "people/Ada Lovelace"],
        "edges": [["Notes", "people/Ada Lovelace", 1], ["people/Ada Lovelace", "Notes", 1]],
    }
    assert (ask(tool, {"op": "delete", "name": "Notes"})).as_json() == {"deleted": "Notes"}
    unresolved = (ask(tool, {"op": "unresolved"})).as_json()["links"]
    assert [(link["source"], link["written"]) for link in unresolved] == [("people/Ada Lovelace", "Notes")]
    assert [n["name"] for n in (ask(tool, {"op": "list", "tag": "math"})).as_json()["notes"]] == ["people/Ada Lovelace"]
    assert (ask(tool, {"op": "rebuild"})).as_json() == {"added": 1, "changed": 0, "removed": 0}


def test_mistakes_come_back_as_error_artifacts_a_person_understands(tmp_path: Path) -> None:
    tool = MemoryTool(vault=tmp_path / "vault")
    request = Artifact.json({"op": "read", "name": "Nobody"}, attributes={"run": "run-1"})
    reply = asyncio.run(tool.handle(None, None, request))
    assert reply.is_error and reply.parents == (request.id,)
    assert reply.attr("run") == "run-1"
    assert "no note 'Nobody'" in reply.error_message
    cases = {
        "memory has no op 'fly'": {"op": "fly"},
        "memory op 'write' needs 'text'": {"op": "write", "name": "x"},
        "memory op 'rename' needs 'name' and 'new_name'": {"op": "rename"},
        "which links cannot hold": {"op": "write", "name": "a#b", "text": ""},
        "search needs at least one word": {"op": "search", "query": "!!", "mode": "text"},
        "search mode must be one of text, hybrid, auto": {"op": "search", "query": "x", "mode": "fuzzy"},
    }
    for message, request_json in cases.items():
        reply = ask(tool, request_json)
        assert reply.is_error and message in reply.error_message


def test_memory_unit_in_the_actor_system(tmp_path: Path) -> None:
    async def scenario() -> list[Any]:
        async with ActorSystem(record=False) as system:
            ref = await system.spawn("memory", lambda: MemoryTool(vault=tmp_path / "vault"))
            replies = await asyncio.gather(
                *(
                    ref.request(Artifact.json({"op": "write", "name": f"n{i}", "text": f"[[n{i + 1}]]"}))
                    for i in range(5)
                )
            )
            replies.append(await ref.request(Artifact.json({"op": "backlinks", "name": "n3"})))
            replies.append(await ref.request(Artifact.json({"op": "read", "name": "n9"})))
            return replies

    *written, backlinks, missing = asyncio.run(scenario())
    assert [reply.as_json()["created"] for reply in written] == [True] * 5
    assert [link["source"] for link in backlinks.as_json()["links"]] == ["n2"]
    assert backlinks.origin == "memory" and missing.is_error and "no note 'n9'" in missing.error_message


def test_registered_as_a_unit_kind() -> None:
    kind = unit_kind("memory")
    assert kind.factory is MemoryTool
    assert kind.parameters == ["vault", "model", "op"]
    assert kind.inputs["op"]["type"] == "string"


def smol(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """``smol memory ARGS`` in a fresh process, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "smolcpu", "memory", *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )


def run(*args: str) -> str:
    """``smol memory ARGS`` in this process (quicker); returns what it printed."""
    result = CliRunner().invoke(app, ["memory", *args], env={"COLUMNS": "200"}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_cli_end_to_end(tmp_path: Path, smol_home: Path) -> None:
    vault = str(tmp_path / "v")
    created = smol("write", "Ideas", "--vault", vault, stdin="Ideas about *small* models, back to [[Home]].\n")
    assert created.returncode == 0 and "created Ideas" in created.stdout
    assert (tmp_path / "v" / "Ideas.md").read_text() == "Ideas about *small* models, back to [[Home]].\n"
    assert "created Home" in run("write", "Home", "Start at [[Ideas|my ideas]]. #hub", "--vault", vault)
    assert run("read", "ideas", "--raw", "--vault", vault) == "Ideas about *small* models, back to [[Home]].\n"
    listing = run("list", "--vault", vault)
    assert "Home" in listing and "#hub" in listing
    assert "small" in run("search", "model", "--mode", "text", "--vault", vault)
    assert "[[Ideas|my ideas]]" in run("backlinks", "Ideas", "--vault", vault)
    assert "created Notes" in run("write", "Notes", "See [the ideas](Ideas.md#Models).", "--vault", vault)
    assert "[the ideas](Ideas.md#Models)" in run("backlinks", "Ideas", "--vault", vault)
    assert "[the ideas](Ideas.md#Models)" in run("links", "Notes", "--vault", vault)
    assert "deleted Notes" in run("delete", "Notes", "--vault", vault)
    assert "rewrote 1 links in 1 notes" in run("rename", "Ideas", "Thoughts", "--vault", vault)
    assert (tmp_path / "v" / "Home.md").read_text() == "Start at [[Thoughts|my ideas]]. #hub"
    graph = json.loads(smol("graph", "--json", "--vault", vault).stdout)
    assert graph["edges"] == [
        {"source": "Home", "target": "Thoughts", "count": 1},
        {"source": "Thoughts", "target": "Home", "count": 1},
    ]
    assert "Thoughts" in run("graph", "--vault", vault)
    assert "deleted Thoughts" in run("delete", "Thoughts", "--vault", vault)
    assert "[[Thoughts|my ideas]]" in run("unresolved", "--vault", vault)
    assert "indexed 1 files" in run("rebuild", "--vault", vault)
    run("write", "Default", "in the default vault")
    assert (smol_home / "memory" / "Default.md").is_file()


def test_cli_mistakes_are_one_red_line(tmp_path: Path) -> None:
    result = smol("rename", "Nobody", "Somebody", "--vault", str(tmp_path / "v"))
    assert result.returncode == 2
    assert "no note 'Nobody'" in result.stderr and "Traceback" not in result.stderr
    with pytest.raises(UsageError, match="which links cannot hold"):
        run("write", "bad|name", "x", "--vault", str(tmp_path / "v"))


def test_made_with_an_op_it_takes_plain_text(tmp_path: Path) -> None:
    writer = MemoryTool(vault=tmp_path, op="write")
    written = asyncio.run(writer.handle(None, None, Artifact.text("Remember that the gate code is 1234.")))
    assert not written.is_error
    assert "1234" in (tmp_path / "Remembered" / "Remember that the gate code is 1234.md").read_text()
    finder = MemoryTool(vault=tmp_path, op="search")
    found = asyncio.run(finder.handle(None, None, Artifact.text("gate code")))
    assert "1234" in found.as_text()
    with pytest.raises(UsageError, match="op parameter"):
        MemoryTool(op="delete")
