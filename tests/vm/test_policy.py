"""A run is held to its resource policy: the program's, a ceiling's, the tighter of both.

Tool-only programs and the scripted LLM (no model): a run over a limit ends ``limit`` with a
reason that names the limit and the figures, and the run index keeps what it spent.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from smolcpu.artifact import Artifact, RunIndex, open_store
from smolcpu.lang import Policy
from smolcpu.runtime import Unit
from smolcpu.testing import Reply, ScriptedLLM
from smolcpu.units.tools._sandbox_jail import sandbox_layer
from smolcpu.vm import Executor, RunResult, Status
from tests.vm.flows import graph_of, run_flow, run_graph, workers_for

WORDY = ScriptedLLM(lambda messages: "one two three four five six seven eight nine ten")


def test_a_run_past_its_token_limit_ends_limit_naming_it() -> None:
    graph = graph_of('policy tokens = 12\nuse a = llm "Answer."\nuse b = llm "Again."\nout <= c <= b <= a <= in')
    result = run_graph(graph, units={"llm": WORDY})
    assert result.status is Status.LIMIT
    assert result.reason.startswith("limit tokens: the run used ")
    assert "its policy allows 12" in result.reason
    assert [str(v) for v in result.path] == ["main.a:next", "main.b:next"], "it stopped after the step that went past"
    assert result.usage["spent"]["tokens_written"] == 11, "b was left 1 token to write"


def test_an_llm_step_writes_no_more_than_the_tokens_left() -> None:
    llm = ScriptedLLM(lambda messages: "one two three four five six seven eight nine ten")
    graph = graph_of('policy tokens = 15\nuse a = llm "Answer."\nuse b = llm "Again."\nout <= b <= a <= in')
    result = run_graph(graph, units={"llm": llm})
    first, second = llm.requests
    assert first["max_tokens"] == 15 and second["max_tokens"] == 15 - 12  # a read 2 tokens and wrote 10
    assert result.usage["spent"]["tokens_written"] == 13
    assert result.status is Status.LIMIT  # b's prompt took the run past: checked after the step


def test_under_its_limits_a_run_ends_ok_and_says_what_it_spent() -> None:
    graph = graph_of('policy tokens = 1000, wall_s = 60, cpu_s = 60\nuse a = llm "Answer."\nout <= a <= in')
    result = run_graph(graph, units={"llm": WORDY})
    assert result.status is Status.OK
    assert result.usage["policy"] == {"wall_s": 60.0, "cpu_s": 60.0, "tokens": 1000}
    assert set(result.usage["spent"]) >= {"wall_s", "cpu_s", "tokens"}
    assert "reason" not in result.usage


def test_a_run_past_its_wall_time_is_stopped_in_the_middle_of_a_step() -> None:
    result, workers = run_flow("policy wall_s = 0.3\nout <= a <= b <= in", scripts={"b": [Reply(delay=60)]})
    assert result.status is Status.LIMIT
    assert result.reason.startswith("limit wall_s: the run used ")
    assert not workers["a"].calls, "nothing after the stopped step ran"


class _Burner(Unit):
    """Spends CPU in this process, then answers."""

    async def handle(self, ctx: Any, sender: Any, artifact: Artifact) -> Artifact:
        began = time.process_time()
        while time.process_time() - began < 0.5:
            pass
        return artifact.derive(b"burnt")


def test_a_run_past_its_cpu_seconds_ends_limit() -> None:
    graph = graph_of("policy cpu_s = 0.2\nout <= after <= burn <= in")
    workers = workers_for(graph)
    result = run_graph(graph, workers={**workers, "burn": _Burner()})
    assert result.status is Status.LIMIT
    assert result.reason.startswith("limit cpu_s: the run used ")
    assert not workers["after"].calls


def test_a_ceiling_refuses_a_unit_kind_before_anything_runs() -> None:
    graph = graph_of('use calc = math\nuse a = llm "Answer."\nout <= calc <= a <= in')
    llm = ScriptedLLM(lambda messages: "1+1")
    result = run_graph(graph, units={"llm": llm}, policy=Policy(units=frozenset({"math"})))
    assert result.status is Status.LIMIT
    assert result.reason == "limit units: step main.a runs on unit kind `llm`; its policy allows [math]"
    assert not llm.requests and result.path == []


def test_the_tighter_of_the_program_and_the_ceiling_holds() -> None:
    graph = graph_of('policy tokens = 1000\nuse a = llm "Answer."\nout <= a <= in')
    result = run_graph(graph, units={"llm": WORDY}, policy=Policy(tokens=5))
    assert result.status is Status.LIMIT
    assert "its policy allows 5" in result.reason
    assert result.usage["policy"]["tokens"] == 5


def test_the_index_keeps_the_spending_and_the_trace_shows_it(tmp_path: Path) -> None:
    from smolcpu.cli._runs import trace_tree

    graph = graph_of('policy tokens = 12\nuse a = llm "Answer."\nuse b = llm "Again."\nout <= b <= a <= in')

    async def go() -> RunResult:
        with RunIndex(tmp_path / "index.db") as index, open_store(str(tmp_path / "store"), index=index) as store:
            async with Executor(graph, units={"llm": WORDY}, store=store) as executor:
                result = await executor.run("in")
            run = index.run(result.run_id)
            assert run is not None and run.status == "limit"
            assert run.spending["reason"].startswith("limit tokens")
            assert run.spending["policy"] == {"tokens": 12}
            tree = trace_tree(result.run_id, index=index)
            assert "limit tokens" in str(tree.label) and "tokens" in str(tree.label)
            return result

    assert asyncio.run(go()).status is Status.LIMIT


# ---- storage folders: what an attacker would try ----------------------------------------


@pytest.fixture
def places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    storage = tmp_path / "storage"
    home, project = tmp_path / "home", tmp_path / "project"
    for folder in (storage / "notes", home / ".ssh", project):
        folder.mkdir(parents=True)
    (home / ".ssh" / "id_ed25519").write_text("SECRET KEY")
    (project / "pyproject.toml").write_text("[project]")
    (storage / "notes" / "to-home").symlink_to(home)
    monkeypatch.setenv("SMOL_STORAGE", str(storage))
    return {"storage": storage, "home": home, "project": project}


def _storage_run(places: dict[str, Path], request: dict[str, Any], *, use: str = "use keep = storage") -> RunResult:
    graph = graph_of(f'policy folders = ["notes"]\n{use}\nout <= keep <= in')
    return run_graph(graph, Artifact.json(request))


def test_storage_writes_inside_an_allowed_folder(places: dict[str, Path]) -> None:
    result = _storage_run(places, {"op": "write", "path": "notes/a.txt", "content": "hello"})
    assert result.status is Status.OK
    assert (places["storage"] / "notes" / "a.txt").read_text() == "hello"


@pytest.mark.parametrize(
    "path",
    ["elsewhere.txt", "notes/../elsewhere.txt", "../home/.ssh/id_ed25519", "notes/to-home/.ssh/id_ed25519", ""],
)
def test_storage_refuses_paths_outside_the_allowed_folders(places: dict[str, Path], path: str) -> None:
    result = _storage_run(places, {"op": "read" if "ssh" in path else "list", "path": path})
    assert result.status is Status.ERROR
    assert "SECRET" not in result.output.as_text()


@pytest.mark.parametrize("target", ["home", "project"])
def test_a_program_cannot_move_the_storage_root_past_its_policy(places: dict[str, Path], target: str) -> None:
    use = f'use keep = storage with root = "{places[target]}"'
    read = _storage_run(places, {"op": "read", "path": ".ssh/id_ed25519" if target == "home" else "pyproject.toml"}, use=use)
    write = _storage_run(places, {"op": "write", "path": "planted.txt", "content": "x"}, use=use)
    assert read.status is Status.ERROR and write.status is Status.ERROR
    assert "outside the folders the run's policy allows" in read.reason
    assert not (places[target] / "planted.txt").exists()


# ---- the sandbox's network ---------------------------------------------------------------


@pytest.fixture
def listener() -> Iterator[int]:
    """A TCP server on the host's loopback that answers `hi`."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except OSError:
                continue
            with connection:
                connection.sendall(b"hi")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    server.close()


_CONFINED = sandbox_layer("auto").confining


@pytest.mark.skipif(not _CONFINED, reason="no confining sandbox jail here (bwrap or unshare)")
@pytest.mark.parametrize(("line", "reaches"), [("", False), ("policy network = false\n", False), ("policy network = true\n", True)])
def test_the_sandbox_reaches_the_network_only_when_the_policy_allows_it(listener: int, line: str, reaches: bool) -> None:
    code = f"import socket\nprint(socket.create_connection(('127.0.0.1', {listener}), timeout=3).recv(2).decode())"
    graph = graph_of(f"{line}use run = sandbox\nout <= run <= in")
    result = run_graph(graph, Artifact.json({"code": code}))
    if reaches:
        assert result.status is Status.OK, result.reason
        assert json.loads(result.output.as_text())["stdout"].strip() == "hi"
    else:
        assert result.status is Status.ERROR
        # bwrap's own network namespace has a loopback with nothing listening on it; unshare's has none up
        assert "Connection refused" in result.reason or "Network is unreachable" in result.reason


def test_a_program_cannot_turn_the_network_on_by_a_parameter() -> None:
    graph = graph_of("use run = sandbox with network = true, isolation = \"rlimits\"\nout <= run <= in")
    result = run_graph(graph, Artifact.json({"code": "print(1)"}))
    assert result.status is Status.ERROR
    assert "keeps the sandbox off the network" in result.reason


# ---- memory -------------------------------------------------------------------------------


def test_a_model_worker_bigger_than_the_memory_limit_is_never_started(smol_home: Path) -> None:
    from smolcpu.runtime import ActorSystem
    from smolcpu.vm import Lifecycle, WorkerSpec

    graph = graph_of("policy memory_mb = 10\nuse look = embed\nout <= look <= in")
    spec = WorkerSpec("embed", "smolcpu.testing:Ballast", footprint=64 * 1024**2)

    async def go() -> tuple[RunResult, int]:
        async with ActorSystem(record=False) as system, Lifecycle(system, specs={"embed": spec}, cores=False) as lifecycle:
            async with Executor(graph, system=system, lifecycle=lifecycle, record=False) as executor:
                return await executor.run("hello"), len(lifecycle.workers)

    result, started = asyncio.run(go())
    assert result.status is Status.LIMIT
    assert result.reason == "limit memory_mb: a `embed` worker needs about 64 MB; its policy allows 10 (step main.look)"
    assert started == 0


def test_the_memory_limit_caps_the_sandbox_below_what_a_program_binds() -> None:
    from smolcpu.vm._policing import forced_params
    from smolcpu.vm._workers import Workers
    from smolcpu.lang import Binding

    forced = forced_params(Policy(memory_mb=64))
    workers = Workers(None, forced=forced)  # type: ignore[arg-type]  # completing a binding needs no system
    wide = workers.completed(Binding("run", "sandbox", params={"memory_bytes": 2 * 1024**3, "network": True}))
    narrow = workers.completed(Binding("run", "sandbox", params={"memory_bytes": 1024**2}))
    assert wide.params == {"memory_bytes": 64 * 1024**2, "network": False}
    assert narrow.params["memory_bytes"] == 1024**2
    assert workers.completed(Binding("keep", "storage", params={"folders": ["/"]})).params == {"folders": None}
