"""The unit registry: one-line registration, lookup with suggestions, creation with options."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from smolcpu.artifact import JSON, TEXT, Artifact
from smolcpu.errors import UsageError
from smolcpu.runtime import ActorSystem, Unit
from smolcpu.units import Tool, _registry, create_unit, register, unit_kind, unit_kinds
from smolcpu.units.tools import MathTool, Registers, StorageTool


@pytest.fixture
def scratch_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Kinds registered in a test vanish after it."""
    unit_kinds()
    monkeypatch.setattr(_registry, "_kinds", dict(_registry._kinds))


def test_the_three_tools_are_registered_with_their_interface() -> None:
    kinds = {kind.name: kind for kind in unit_kinds()}
    assert {"math", "registers", "storage"} <= set(kinds)
    assert kinds["math"].factory is MathTool
    assert kinds["math"].output == TEXT
    assert "expression" in kinds["math"].inputs
    assert kinds["storage"].parameters == ["root", "folders"]  # folders: a run's policy sets them
    assert [kind.name for kind in unit_kinds()] == sorted(kinds)


def test_create_unit_passes_options(tmp_path: Path) -> None:
    unit = create_unit("storage", root=tmp_path / "files")
    assert isinstance(unit, StorageTool)
    assert unit.storage.root == tmp_path / "files"


def test_create_unit_with_an_unknown_option_says_which_it_takes() -> None:
    with pytest.raises(UsageError, match=r"unit 'storage' takes root"):
        create_unit("storage", rooot="/tmp")


def test_unknown_kind_suggests_the_closest() -> None:
    with pytest.raises(UsageError, match=r"no unit kind 'maht'; did you mean math"):
        unit_kind("maht")


@pytest.mark.usefixtures("scratch_registry")
def test_register_is_one_decorator_line() -> None:
    @register
    class Shout(Tool):
        name = "shout"
        description = "Say it louder."
        inputs = {"text": {"type": "string", "description": "what to say"}}
        output = TEXT

        def forward(self, text: str) -> str:
            return text.upper()

    kind = unit_kind("shout")
    assert (kind.description, kind.output, list(kind.inputs)) == ("Say it louder.", TEXT, ["text"])
    assert isinstance(create_unit("shout"), Shout)


@pytest.mark.usefixtures("scratch_registry")
def test_register_a_plain_unit_or_factory_needs_a_name() -> None:
    class Echo(Unit):
        """Send back what came in."""

        def __init__(self, *, prefix: str = "") -> None:
            self.prefix = prefix

    with pytest.raises(UsageError, match="needs name="):
        register(Echo)
    register(Echo, name="echo")
    kind = unit_kind("echo")
    assert kind.description == "Send back what came in."
    assert kind.parameters == ["prefix"]
    assert kind.output == JSON
    assert create_unit("echo", prefix=">").prefix == ">"


@pytest.mark.usefixtures("scratch_registry")
def test_a_taken_name_is_refused() -> None:
    class Other(Unit):
        """Another unit."""

    with pytest.raises(
        UsageError, match=r"'math' is already registered by smolcpu.units.tools._math.MathTool"
    ):
        register(Other, name="math")


def test_registered_units_run_in_the_runtime_and_share_registers() -> None:
    registers = Registers()

    async def scenario() -> tuple[Artifact, Artifact]:
        async with ActorSystem(record=False) as system:
            store = await system.spawn("registers", lambda: create_unit("registers", registers=registers))
            math = await system.spawn("math", lambda: create_unit("math", registers=registers))
            run = {"run": "run-1"}
            await store.request(Artifact.json({"op": "set", "name": "price", "value": 10}, attributes=run))
            reply = await math.request(Artifact.text("$price * 1.2", attributes=run))
            missing = await math.request(Artifact.text("$price * 1.2", attributes={"run": "run-2"}))
            return reply, missing

    reply, missing = asyncio.run(scenario())
    assert (reply.as_text(), reply.attr("run")) == ("12", "run-1")
    assert missing.is_error
    assert "no register 'price' in run run-2 or global" in missing.error_message


def smol(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "smolcpu", *args], capture_output=True, text=True, timeout=120
    )


def test_smol_units_lists_the_registered_kinds() -> None:
    table = smol("units")
    assert table.returncode == 0, table.stderr
    for name in ("math", "registers", "storage"):
        assert name in table.stdout
    listing = smol("units", "--json")
    assert listing.returncode == 0, listing.stderr
    kinds = {kind["name"]: kind for kind in json.loads(listing.stdout)}
    assert kinds["storage"]["parameters"] == ["root", "folders"]
    assert kinds["math"]["inputs"]["expression"]["type"] == "string"


def test_smol_tool_call_runs_any_unit(tmp_path: Path) -> None:
    root = f"root={tmp_path}"
    written = smol("tool", "call", "storage", '{"op": "write", "path": "a.txt", "content": "hi"}', "-o", root)
    assert written.returncode == 0, written.stderr
    assert (tmp_path / "a.txt").read_text() == "hi"
    refused = smol("tool", "call", "storage", '{"op": "read", "path": "../a.txt"}', "-o", root)
    assert refused.returncode == 2
    assert "contains '..'" in refused.stderr and "Traceback" not in refused.stderr
    unknown = smol("tool", "call", "stroage", "x")
    assert unknown.returncode == 2 and "did you mean storage" in unknown.stderr


def test_identity_passes_its_input_on() -> None:
    import asyncio

    from smolcpu.artifact import Artifact
    from smolcpu.units import create_unit

    given = Artifact.text("unchanged")
    assert asyncio.run(create_unit("identity").handle(None, None, given)) is given
