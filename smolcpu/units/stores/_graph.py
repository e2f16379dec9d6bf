"""The graph store: nodes and typed edges in SQLite, walked with recursive queries.

Two graphs live here: the memory vault's link graph (note → note, relation ``link``) and
artifact lineage (artifact → parent, relation ``parent``, so ancestors are reached going
out and descendants coming in). SQLite is already in the process and its recursive common
table expressions answer "everything reachable within N hops" without loading the graph:
about 5 MB of RSS at 500k edges, where networkx holds 160 MB and is not persistent
(``./smol bench neural_vision``). Kuzu would add a native engine and a buffer pool to
size against the 2 GB budget for queries this simple.
Global is the same API served over HTTP (:func:`~smolcpu.units.stores._service.serve`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar

from smolcpu import config
from smolcpu.artifact import Artifact, ArtifactRecord
from smolcpu.errors import UsageError
from smolcpu.units._registry import register
from smolcpu.units.stores._service import RemoteStore, StoreTool
from smolcpu.units.stores._sqlite import connect, transaction

MAX_DEPTH = 64
"""Deepest walk a query may ask for: lineage and link chains are far shorter."""
LINK = "link"
PARENT = "parent"
RUN_ATTRIBUTE = "run"
_DIRECTIONS = {
    "out": ("source", "target"),
    "in": ("target", "source"),
}


class LocalGraph:
    """An embedded graph store in one SQLite file (``":memory:"`` for a throwaway one)."""

    API: ClassVar[frozenset[str]] = frozenset(
        {
            "add_node",
            "add_edge",
            "add_edges",
            "node",
            "neighbours",
            "reachable",
            "path",
            "ancestors",
            "descendants",
            "count",
        }
    )

    def __init__(self, path: str | Path = ":memory:") -> None:
        self.location = str(path)
        self.db = connect(path)
        with transaction(self.db):
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS nodes (id TEXT PRIMARY KEY, kind TEXT NOT NULL, attrs TEXT NOT NULL)"
            )
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS edges (source TEXT NOT NULL, target TEXT NOT NULL, relation TEXT NOT NULL, "
                "PRIMARY KEY (source, relation, target))"
            )
            self.db.execute("CREATE INDEX IF NOT EXISTS edges_by_target ON edges (target, relation, source)")

    def __repr__(self) -> str:
        counts = self.count()
        return f"<LocalGraph {self.location} {counts['nodes']} nodes, {counts['edges']} edges>"

    def close(self) -> None:
        """Close the database file."""
        self.db.close()

    def add_node(self, id: str, *, kind: str = "", attrs: dict[str, Any] | None = None) -> None:
        """Add node ``id`` or update its kind and attributes."""
        self.db.execute(
            "INSERT INTO nodes VALUES (?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, attrs = excluded.attrs",
            (id, kind, json.dumps(attrs or {})),
        )

    def add_edge(self, source: str, target: str, *, relation: str = LINK) -> None:
        """Add the edge ``source → target`` (creating either node if new)."""
        self.add_edges([(source, target)], relation=relation)

    def add_edges(self, edges: Iterable[tuple[str, str]], *, relation: str = LINK) -> int:
        """Add many edges of one relation in one transaction; returns how many were given."""
        pairs = [(str(source), str(target)) for source, target in edges]
        with transaction(self.db):
            self.db.executemany(
                "INSERT OR IGNORE INTO nodes VALUES (?, '', '{}')", [(node,) for pair in pairs for node in pair]
            )
            self.db.executemany(
                "INSERT OR IGNORE INTO edges VALUES (?, ?, ?)", [(source, target, relation) for source, target in pairs]
            )
        return len(pairs)

    def node(self, id: str) -> dict[str, Any] | None:
        """Node ``id`` with its kind and attributes, or None."""
        row = self.db.execute("SELECT id, kind, attrs FROM nodes WHERE id = ?", (id,)).fetchone()
        return None if row is None else {"id": row[0], "kind": row[1], "attrs": json.loads(row[2])}

    def count(self) -> dict[str, int]:
        """How many nodes and edges the graph holds."""
        nodes = self.db.execute("SELECT count(*) FROM nodes").fetchone()[0]
        edges = self.db.execute("SELECT count(*) FROM edges").fetchone()[0]
        return {"nodes": nodes, "edges": edges}

    def _steps(self, direction: str) -> list[tuple[str, str]]:
        if direction == "both":
            return list(_DIRECTIONS.values())
        if direction not in _DIRECTIONS:
            raise UsageError(f"direction is 'out', 'in' or 'both', not {direction!r}")
        return [_DIRECTIONS[direction]]

    def neighbours(self, id: str, *, direction: str = "out", relation: str | None = None) -> list[str]:
        """The nodes one edge away from ``id``, sorted."""
        return self.reachable(id, direction=direction, relation=relation, depth=1)

    def reachable(
        self, id: str, *, direction: str = "out", relation: str | None = None, depth: int = MAX_DEPTH
    ) -> list[str]:
        """Every node reachable from ``id`` within ``depth`` edges (``id`` itself excluded), sorted.

        Raises:
            UsageError: a bad direction or depth.
        """
        if not 1 <= depth <= MAX_DEPTH:
            raise UsageError(f"depth must be between 1 and {MAX_DEPTH}, not {depth}")
        steps = " UNION ".join(
            f"SELECT e.{to}, walk.depth + 1 FROM edges e JOIN walk ON e.{frm} = walk.node "
            "WHERE walk.depth < :depth AND (:relation IS NULL OR e.relation = :relation)"
            for frm, to in self._steps(direction)
        )
        rows = self.db.execute(
            f"WITH RECURSIVE walk(node, depth) AS (SELECT :id, 0 UNION {steps}) "
            "SELECT DISTINCT node FROM walk WHERE node != :id ORDER BY node",
            {"id": id, "depth": depth, "relation": relation},
        ).fetchall()
        return [row[0] for row in rows]

    def path(
        self, source: str, target: str, *, direction: str = "out", relation: str | None = None, depth: int = MAX_DEPTH
    ) -> list[str] | None:
        """A shortest path ``[source, ..., target]`` (breadth first), or None if there is none."""
        previous: dict[str, str | None] = {source: None}
        frontier = [source]
        for _ in range(depth):
            if target in previous or not frontier:
                break
            following = []
            for node in frontier:
                for neighbour in self.neighbours(node, direction=direction, relation=relation):
                    if neighbour not in previous:
                        previous[neighbour] = node
                        following.append(neighbour)
            frontier = following
        if target not in previous:
            return None
        route = [target]
        while (step := previous[route[-1]]) is not None:
            route.append(step)
        return route[::-1]

    def ancestors(self, id: str) -> list[str]:
        """Every artifact ``id`` was derived from (its lineage), sorted."""
        return self.reachable(id, direction="out", relation=PARENT)

    def descendants(self, id: str) -> list[str]:
        """Every artifact derived from ``id``, sorted."""
        return self.reachable(id, direction="in", relation=PARENT)


def load_links(graph: Any, links: Any) -> int:
    """Load a memory vault's link graph as ``link`` edges (note → linked note); returns the edge count.

    ``links`` is a vault (anything with ``graph()`` giving ``nodes`` and ``(source, target,
    count)`` edges, as :class:`~smolcpu.units.tools.Vault` does; its notes become nodes of
    kind ``note``, linked or not) or plain ``(source, target)`` pairs.
    """
    if hasattr(links, "graph"):
        vault_graph = links.graph()
        for note in vault_graph.nodes:
            graph.add_node(note, kind="note")
        return graph.add_edges([(source, target) for source, target, _ in vault_graph.edges], relation=LINK)
    return graph.add_edges(list(links), relation=LINK)


def load_lineage(graph: Any, artifacts: Iterable[Artifact | ArtifactRecord]) -> int:
    """Load artifacts as nodes (type, origin, role, run) and their ``parent`` edges; returns the count.

    Takes artifacts themselves or the run index's records of them, so a whole run loads with
    ``load_lineage(graph, RunIndex().artifacts(run_id))``.
    """
    count = 0
    edges = []
    for item in artifacts:
        run = item.attr(RUN_ATTRIBUTE) if isinstance(item, Artifact) else item.run
        graph.add_node(
            item.id, kind="artifact", attrs={"type": item.type, "origin": item.origin, "role": item.role, "run": run}
        )
        edges.extend((item.id, parent) for parent in item.parents)
        count += 1
    graph.add_edges(edges, relation=PARENT)
    return count


def remote_graph(url: str) -> RemoteStore:
    """The global graph store served at ``url``: the same methods as :class:`LocalGraph`."""
    return RemoteStore(url, kind=LocalGraph)


@register
class Graph(StoreTool):
    """The graph store as a unit: ``{"op": "ancestors", "args": {"id": "..."}}``."""

    name = "graph"
    description = "Store and query links between notes and the lineage of artifacts (neighbours, paths, ancestors)."

    kind = LocalGraph
    default_path = config.graph_path


__all__ = ["LINK", "PARENT", "Graph", "LocalGraph", "load_lineage", "load_links", "remote_graph"]
