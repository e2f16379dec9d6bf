"""The graph store: link graphs and artifact lineage, local (SQLite) and global (served)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from smolcpu.artifact import Artifact, RunIndex
from smolcpu.errors import UnitError, UsageError
from smolcpu.units._registry import create_unit
from smolcpu.units.stores import (
    PARENT,
    Graph,
    LocalGraph,
    dispatch,
    load_lineage,
    load_links,
    remote_graph,
    serve,
)

LINKS = [("home", "projects"), ("projects", "smol"), ("smol", "home"), ("smol", "ideas"), ("ideas", "reading")]


@pytest.fixture
def vault() -> LocalGraph:
    graph = LocalGraph()
    load_links(graph, LINKS)
    return graph


def test_neighbours_and_reachability_follow_links(vault: LocalGraph) -> None:
    assert vault.count() == {"nodes": 5, "edges": 5}
    assert vault.neighbours("smol") == ["home", "ideas"]
    assert vault.neighbours("smol", direction="in") == ["projects"]
    assert vault.neighbours("home", direction="both") == ["projects", "smol"]
    assert vault.reachable("home") == ["ideas", "projects", "reading", "smol"]  # through the cycle, once each
    assert vault.reachable("home", depth=2) == ["projects", "smol"]
    assert vault.reachable("reading") == []
    assert vault.reachable("reading", direction="in") == ["home", "ideas", "projects", "smol"]


def test_shortest_path(vault: LocalGraph) -> None:
    vault.add_edge("home", "ideas")
    assert vault.path("home", "reading") == ["home", "ideas", "reading"]
    assert vault.path("reading", "home") is None
    assert vault.path("reading", "home", direction="in") == ["reading", "ideas", "home"]
    assert vault.path("home", "home") == ["home"]


def test_bad_queries_are_refused(vault: LocalGraph) -> None:
    with pytest.raises(UsageError, match="direction"):
        vault.neighbours("home", direction="sideways")
    with pytest.raises(UsageError, match="depth"):
        vault.reachable("home", depth=0)


def test_lineage_of_real_artifacts() -> None:
    question = Artifact.text("What is 2+2?", attributes={"run": "r1"})
    plan = question.derive(b"add 2 and 2")
    answer = plan.derive(b"4")
    other = Artifact.text("unrelated", attributes={"run": "r2"})
    graph = LocalGraph()
    assert load_lineage(graph, [question, plan, answer, other]) == 4
    assert graph.ancestors(answer.id) == sorted([question.id, plan.id])
    assert graph.descendants(question.id) == sorted([plan.id, answer.id])
    assert graph.ancestors(other.id) == [] and graph.descendants(other.id) == []
    assert graph.node(answer.id)["attrs"]["run"] == "r1"
    assert graph.neighbours(answer.id, relation=PARENT) == [plan.id]


def test_links_and_lineage_share_a_file_without_mixing(tmp_path: Path) -> None:
    path = tmp_path / "graph.sqlite"
    graph = LocalGraph(path)
    load_links(graph, LINKS)
    root = Artifact.text("root")
    load_lineage(graph, [root, root.derive(b"child")])
    graph.close()
    again = LocalGraph(path)
    assert again.count() == {"nodes": 7, "edges": 6}
    assert again.ancestors("smol") == []
    assert again.reachable("home", relation="link") == ["ideas", "projects", "reading", "smol"]


def test_global_graph_answers_like_the_local_one(vault: LocalGraph) -> None:
    with serve(vault) as service:
        remote = remote_graph(service.url)
        assert remote.path("home", "reading") == vault.path("home", "reading")
        remote.add_edge("reading", "notes")
        assert vault.neighbours("reading") == ["notes"]
        with pytest.raises(UsageError, match="direction"):
            remote.neighbours("home", direction="up")


def test_graph_unit(tmp_path: Path) -> None:
    unit = create_unit("graph", path=tmp_path / "g.sqlite")
    assert isinstance(unit, Graph)
    load_links(unit.store, LINKS)
    reply = asyncio.run(unit.handle(None, None, Artifact.json({"op": "reachable", "args": {"id": "smol"}})))
    assert reply.as_json() == ["home", "ideas", "projects", "reading"]


def test_a_run_from_the_run_index_loads_its_lineage(tmp_path: Path) -> None:
    question = Artifact.text("What is 2+2?", attributes={"run": "run-7"})
    answer = question.derive(b"4")
    noise = Artifact.text("another run", attributes={"run": "run-8"})
    with RunIndex(tmp_path / "index.sqlite") as index:
        for artifact in (question, answer, noise):
            index.record(artifact, key=artifact.id)
        graph = LocalGraph()
        assert load_lineage(graph, index.artifacts("run-7")) == 2
    assert graph.ancestors(answer.id) == [question.id]
    assert graph.node(question.id)["attrs"] == {"type": "text/plain", "origin": "", "role": "", "run": "run-7"}
    assert graph.node(noise.id) is None


def test_a_failing_database_is_a_unit_error_locally_and_remotely(tmp_path: Path) -> None:
    graph = LocalGraph(tmp_path / "g.sqlite")
    graph.close()
    with pytest.raises(UnitError, match="LocalGraph failed in count"):
        dispatch(graph, "count", {})
    with serve(graph) as service, pytest.raises(UnitError, match="LocalGraph failed in count"):
        remote_graph(service.url).count()
