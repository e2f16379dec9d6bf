"""The compiled form of a flow program: a graph of steps and blocks (the Neuro-Net).

Every node has a stable id that traces and drawings use: a block is named by its label
(``step2``) or by its kind and ordinal (``switch1``, ``match2``), a step by its block and
worker (``step2.analyze``; a repeated worker gets ``#2``), a match case by its match and
pattern (``match1.default``), a join branch that is a longer chain by its join and place
(``join1.2``), and the whole program is the chain ``main``.

Control is explicit and resolved: each :class:`Outcome` either enters a node
(``target``), leaves a block (``exit``: the block's output is the step's output, or its
input for ``continue``), or neither (``cancel``). In a ``select``, ``next``/``back``/
``continue`` target the select itself: back to its chooser. ``Chain.children`` and
``Block.children`` list nodes in the order data moves through them. :meth:`Graph.edges`
derives the data and control edges for drawings; :func:`flow` derives where control can
go after a node, for the checker and the optimiser.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from itertools import pairwise
from typing import Any

from smolcpu.lang._declarations import Binding
from smolcpu.lang._policy import Policy

BLOCK_KINDS = ("switch", "select", "match", "join")
SOURCE, SINK, CANCEL = "in", "out", "cancel"


@dataclass
class Outcome:
    """One resolved alternative: where control goes when a step takes it."""

    kind: str  # next, back, continue, send, cancel, timeout, jump
    count: int = 1
    target: str | None = None  # the node entered
    exit: str | None = None  # the block left
    written: str = ""  # as in the source, e.g. "back * 2", "[step2.analyze.jump]"
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.target is not None:
            return f"{self.written}->{self.target}"
        if self.exit is not None:
            return f"{self.written}->exit:{self.exit}"
        return self.written if self.kind == "cancel" else f"{self.written}->?"


@dataclass
class Node:
    """What every node has: id, parent, where it was written, what the optimiser did to it."""

    id: str
    parent: str | None
    line: int = 0
    column: int = 0
    parallel: str | None = None  # id of the group it may run concurrently with
    notes: list[str] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return type(self).__name__.lower()

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **asdict(self)}


@dataclass
class Step(Node):
    """A worker run on an input, with its ordered outcomes."""

    worker: str = ""
    binding: Binding | None = None
    limit: int | None = None
    bind: str | None = None  # the reference as written, e.g. "step2.analyze.out"
    bind_target: str | None = None  # the node whose latest output is the input
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def deterministic(self) -> bool:
        return self.binding is not None and self.binding.deterministic

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data["binding"] = self.binding.to_dict() if self.binding else None
        data["deterministic"] = self.deterministic
        return data


@dataclass
class Case(Node):
    """A match case: the first whose pattern holds routes the input."""

    pattern: str = ""
    outcomes: list[Outcome] = field(default_factory=list)


@dataclass
class Block(Node):
    """A ``switch``, ``select``, ``match`` or ``join`` with its children in order."""

    block: str = "switch"
    label: str | None = None
    limit: int | None = None
    children: list[str] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return self.block

    @property
    def head(self) -> str:
        return self.block + (f"[{self.label}]" if self.label else "") + (
            f"<{self.limit}>" if self.limit is not None else ""
        )


@dataclass
class Chain(Node):
    """Stages run one after another, each on the output of the one before."""

    children: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    kind: str  # "data" or "control"
    label: str = ""


@dataclass
class Graph:
    """A compiled program: nodes by id, the bindings they run on, what the optimiser did."""

    nodes: dict[str, Node] = field(default_factory=dict)
    bindings: dict[str, Binding] = field(default_factory=dict)
    path: str = "<flow>"
    root: str = "main"
    optimised: bool = False
    optimisations: list[str] = field(default_factory=list)
    policy: Policy | None = None  # what the program's `policy` lines allow a run; None: no line

    def __getitem__(self, node_id: str) -> Node:
        return self.nodes[node_id]

    def steps(self) -> Iterator[Step]:
        return (n for n in self.nodes.values() if isinstance(n, Step))

    def children(self, node_id: str) -> list[str]:
        node = self.nodes[node_id]
        return node.children if isinstance(node, (Block, Chain)) else []

    def walk(self, node_id: str | None = None, depth: int = 0) -> Iterator[tuple[Node, int]]:
        """Every node under ``node_id`` (the root by default), parents first, in order (a
        stack, not recursion: nested generators cost at every level)."""
        todo = [(node_id or self.root, depth)]
        while todo:
            current, level = todo.pop()
            yield self.nodes[current], level
            todo += [(child, level + 1) for child in reversed(self.children(current))]

    def places(self) -> dict[str, int]:
        """Where each node stands among its parent's children, to look up instead of search."""
        return {child: i for node_id in self.nodes for i, child in enumerate(self.children(node_id))}

    def answering_steps(self) -> set[str]:
        """The steps whose output, when they succeed, is the run's output: every outcome of
        theirs sends it out of a block that is the last stage of the program's chain (what a
        stream may show as the answer while such a step is still being decoded)."""
        root = self.nodes[self.root]
        last = self.children(self.root)[-1:] if isinstance(root, Chain) else []
        return {
            step.id
            for step in self.steps()
            if step.outcomes
            and all(outcome.kind == "send" and outcome.exit is not None for outcome in step.outcomes)
            and step.outcomes[0].exit in last
        }

    def ancestors(self, node_id: str) -> Iterator[Node]:
        parent = self.nodes[node_id].parent
        while parent is not None:
            yield self.nodes[parent]
            parent = self.nodes[parent].parent

    # ---- edges: derived from the structure and the resolved outcomes ------------------

    def edges(self) -> list[Edge]:
        edges: list[Edge] = []
        for node, _ in self.walk():
            if isinstance(node, Chain):
                stages = node.children
                if node.id == self.root:
                    stages = [SOURCE, *stages, SINK]
                else:
                    edges += [Edge(node.id, c, "control", "enter") for c in stages[:1]]
                edges += [Edge(a, b, "data", "") for a, b in pairwise(stages)]
            elif isinstance(node, Block):
                edges += self._block_edges(node)
            if isinstance(node, (Step, Case)):
                edges += [self._outcome_edge(node.id, o) for o in node.outcomes]
            if isinstance(node, Step) and node.bind_target:
                edges.append(Edge(node.bind_target, node.id, "data", "ref"))
        return edges

    def _block_edges(self, node: Block) -> list[Edge]:
        children = node.children
        if node.block == "switch":
            edges = [Edge(node.id, c, "control", "enter") for c in children[:1]]
            after = pairwise([*children, node.id])
            nested = [(c, n) for c, n in after if not isinstance(self[c], Step)]
            return edges + [Edge(c, n, "control", "next") for c, n in nested]
        if node.block == "select":
            return [Edge(node.id, c, "control", "choose") for c in children]
        if node.block == "match":
            return [Edge(node.id, c, "control", self[c].pattern) for c in children]  # type: ignore[attr-defined]
        return [Edge(node.id, c, "data", "fork") for c in children] + [
            Edge(c, node.id, "data", "fan-in") for c in children
        ]

    def _outcome_edge(self, node_id: str, outcome: Outcome) -> Edge:
        target = outcome.target or outcome.exit or CANCEL
        return Edge(node_id, target, "control", outcome.written)

    # ---- forms: JSON, text dump, Graphviz, Mermaid -------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "root": self.root,
            "optimised": self.optimised,
            "optimisations": list(self.optimisations),
            "bindings": {name: b.to_dict() for name, b in self.bindings.items()},
            "policy": self.policy.to_dict() if self.policy is not None else None,
            "nodes": [node.to_dict() for node, _ in self.walk()],
            "edges": [asdict(e) for e in self.edges()],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    def dump(self) -> str:
        """The graph as indented text: one node a line, with what the optimiser did."""
        lines = [f"flow {self.path}" + ("  (optimised)" if self.optimised else "")]
        if self.bindings:
            lines.append("bindings:")
            for name, b in sorted(self.bindings.items()):
                params = ", ".join(f"{k}={v!r}" for k, v in b.params.items())
                lines.append(
                    f"  {name} = {b.unit}"
                    + (" (deterministic)" if b.deterministic else "")
                    + (f" {b.instruction!r}" if b.instruction else "")
                    + (f" with {params}" if params else "")
                )
        if self.policy is not None:
            lines.append(f"policy: {self.policy}")
        lines.append("nodes:")
        for node, depth in self.walk():
            lines.append("  " * (depth + 1) + _describe(node))
        if self.optimisations:
            lines.append("optimiser:")
            lines += [f"  - {note}" for note in self.optimisations]
        return "\n".join(lines) + "\n"

    def to_dot(self) -> str:
        """Graphviz: blocks are clusters around a port node that stands for their entry/exit."""
        out = ["digraph flow {", "  rankdir=TB; compound=true;", '  node [fontname="Helvetica"];']
        out += [
            f'  "{SOURCE}" [shape=circle label="in"];',
            f'  "{SINK}" [shape=doublecircle label="out"];',
            f'  "{CANCEL}" [shape=octagon label="cancel" color=red];',
        ]

        def emit(node_id: str, indent: str) -> None:
            node = self[node_id]
            if isinstance(node, (Block, Chain)):
                title = node.head if isinstance(node, Block) else f"chain {node.id}"
                style = ' style="dashed" color="blue"' if node.parallel else ""
                out.append(f'{indent}subgraph "cluster_{node.id}" {{ label="{_esc(title)}";{style}')
                out.append(f'{indent}  "{node.id}" [shape=point width=0.12 xlabel="{_esc(node.id)}"];')
                for child in node.children:
                    emit(child, indent + "  ")
                out.append(f"{indent}}}")
            else:
                shape = "diamond" if isinstance(node, Case) else "box"
                extra = ' color="blue"' if node.parallel else ""
                out.append(f'{indent}"{node.id}" [shape={shape} label="{_esc(_label(node))}"{extra}];')

        emit(self.root, "  ")
        for edge in self.edges():
            style = "dotted" if edge.label == "ref" else ("solid" if edge.kind == "data" else "dashed")
            out.append(f'  "{edge.source}" -> "{edge.target}" [label="{_esc(edge.label)}" style={style}];')
        out.append("}")
        return "\n".join(out) + "\n"

    def to_mermaid(self) -> str:
        """Mermaid flowchart (for the web UI): blocks are subgraphs, data edges are thick."""
        out = [
            "flowchart TD",
            f'  {_mid(SOURCE)}(("in"))',
            f'  {_mid(SINK)}((("out")))',
            f"  {_mid(CANCEL)}{{{{cancel}}}}",
        ]

        def emit(node_id: str, indent: str) -> None:
            node = self[node_id]
            if isinstance(node, (Block, Chain)):
                title = node.head if isinstance(node, Block) else f"chain {node.id}"
                out.append(f'{indent}subgraph {_mid(node.id)}_box["{_mq(title)}"]')
                out.append(f'{indent}  {_mid(node.id)}(["{_mq(node.id)}"])')
                for child in node.children:
                    emit(child, indent + "  ")
                out.append(f"{indent}end")
            elif isinstance(node, Case):
                out.append(f'{indent}{_mid(node.id)}{{"{_mq(_label(node))}"}}')
            else:
                out.append(f'{indent}{_mid(node.id)}["{_mq(_label(node))}"]')

        emit(self.root, "  ")
        for edge in self.edges():
            backwards = edge.label.startswith("back") or edge.label == "ref"
            arrow = "==>" if edge.kind == "data" else ("-.->" if backwards else "-->")
            label = f"|{_mq(edge.label)}|" if edge.label else ""
            out.append(f"  {_mid(edge.source)} {arrow}{label} {_mid(edge.target)}")
        return "\n".join(out) + "\n"


def _describe(node: Node) -> str:
    where = f"  @{node.line}:{node.column}" if node.line else ""
    flags = (f"  parallel:{node.parallel}" if node.parallel else "") + "".join(f"  [{n}]" for n in node.notes)
    if isinstance(node, Step):
        binding = node.binding
        unit = binding.unit + ("" if binding.declared else " (default)") if binding else "?"
        parts = [f"{node.id}  step {node.worker}{f'<{node.limit}>' if node.limit is not None else ''}  unit={unit}"]
        if node.bind:
            parts.append(f"input={node.bind}->{node.bind_target or '?'}")
        parts.append("outcomes: " + " | ".join(str(o) for o in node.outcomes))
        return "  ".join(parts) + where + flags
    if isinstance(node, Case):
        outcomes = " | ".join(str(o) for o in node.outcomes)
        return f"{node.id}  case {node.pattern!r}  outcomes: {outcomes}{where}{flags}"
    if isinstance(node, Block):
        return f"{node.id}  {node.head}" + where + flags
    return f"{node.id}  chain: " + " <- ".join(reversed(node.children)) + where + flags  # type: ignore[attr-defined]


def _label(node: Node) -> str:
    if isinstance(node, Case):
        return node.pattern
    assert isinstance(node, Step)
    unit = node.binding.unit if node.binding else "?"
    limit = f"<{node.limit}>" if node.limit is not None else ""
    return f"{node.worker}{limit}\n{unit}" + ("\n∥" if node.parallel else "")


def _esc(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _mid(node_id: str) -> str:
    return "n_" + re.sub(r"[^A-Za-z0-9_]", "_", node_id)


def _mq(text: str) -> str:
    return text.replace('"', "#quot;").replace("\n", "<br/>")


# ---- control flow: where control can go next, for the checker and the optimiser -----

Place = tuple[str, str]  # ("enter", id) or ("exit", id)
Components = tuple[dict[Place, int], int]  # each place's strongly connected component, and their count


def flow(graph: Graph) -> dict[Place, set[Place]]:
    """Every place control can move to from each place, all alternatives included: also a
    consumed step skipped as ``continue`` (a step with a limit), a refused entry into a
    block whose entries are spent, and a select that ends because its steps are consumed."""
    moves: dict[Place, set[Place]] = {}
    places = graph.places()

    def add(a: Place, b: Place) -> None:
        moves.setdefault(a, set()).add(b)

    for node, _ in graph.walk():
        enter, leave = ("enter", node.id), ("exit", node.id)
        moves.setdefault(enter, set())
        parent = graph[node.parent] if node.parent is not None else None
        siblings = graph.children(parent.id) if parent is not None else []
        place = places.get(node.id, 0) + 1
        after = siblings[place] if place < len(siblings) else None
        if isinstance(node, (Step, Case)):
            for outcome in node.outcomes:
                if outcome.target is not None:
                    add(enter, ("enter", outcome.target))
                elif outcome.exit is not None:
                    add(enter, ("exit", outcome.exit))
            if isinstance(node, Step) and node.limit is not None and parent is not None and parent.kind != "select":
                add(enter, ("enter", after) if after else ("exit", parent.id))
        else:
            children = graph.children(node.id)
            fan_out = isinstance(node, Block) and node.block in ("select", "match", "join")
            for child in children if fan_out else children[:1]:
                add(enter, ("enter", child))
            if not children or (isinstance(node, Block) and node.limit is not None):
                add(enter, leave)
            if isinstance(node, Block) and node.block == "select" and all(
                getattr(graph[c], "limit", None) is not None for c in children
            ):
                add(enter, leave)
        if parent is None:
            add(leave, ("exit", SINK))
        elif isinstance(parent, Block) and parent.block == "select":
            add(leave, ("enter", parent.id))
        elif isinstance(parent, Block) and parent.block == "join":
            add(leave, ("exit", parent.id))
        elif not isinstance(node, (Step, Case)):
            add(leave, ("enter", after) if after else ("exit", parent.id))
    return moves


def reachable(moves: dict[Place, set[Place]], start: Place | list[Place]) -> set[Place]:
    """The places reachable from ``start`` (a place or several)."""
    todo = list(start) if isinstance(start, list) else [start]
    seen: set[Place] = set(todo)
    while todo:
        for nxt in moves.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def used(graph: Graph, live: set[Place]) -> set[str]:
    """The nodes control can reach (``live``: the reachable places): those entered or left,
    and their ancestors (a jump can enter a block inside a chain that is never entered)."""
    found: set[str] = set()
    for _, node_id in live:
        while node_id in graph.nodes and node_id not in found:
            found.add(node_id)
            node_id = graph[node_id].parent or ""
    return found


def components(moves: dict[Place, set[Place]]) -> Components:
    """The strongly connected components of the flow (Tarjan's, without recursion): each
    place's component number, and how many there are. Numbers go against the flow: every
    move leads to a component with the same or a lower number."""
    number: dict[Place, int] = {}
    low: dict[Place, int] = {}
    component: dict[Place, int] = {}
    stack: list[Place] = []
    on_stack: set[Place] = set()
    count = 0
    for root in moves:
        if root in number:
            continue
        work = [(root, iter(moves.get(root, ())))]
        number[root] = low[root] = len(number)
        stack.append(root)
        on_stack.add(root)
        while work:
            place, successors = work[-1]
            for nxt in successors:
                if nxt not in number:
                    number[nxt] = low[nxt] = len(number)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(moves.get(nxt, ()))))
                    break
                if nxt in on_stack:
                    low[place] = min(low[place], number[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[place])
                if low[place] == number[place]:
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component[member] = count
                        if member == place:
                            break
                    count += 1
    return component, count


def on_cycles(moves: dict[Place, set[Place]], found: Components) -> set[Place]:
    """The places control can come back to: those on a loop of the flow (``found``: its
    :func:`components`)."""
    component, count = found
    sizes = [0] * count
    for c in component.values():
        sizes[c] += 1
    return {p for p, c in component.items() if sizes[c] > 1 or p in moves.get(p, ())}


def reach_sets(moves: dict[Place, set[Place]], found: Components, seeds: dict[Place, int]) -> dict[Place, int]:
    """For each place, which seeds can reach it, as a bit set: ``seeds`` maps a place to the
    bits it starts with. One pass over the flow's components (``found``) in flow order, so
    asking for many seeds at once costs about as much as asking for one."""
    component, count = found
    bits = [0] * count
    for place, seed in seeds.items():
        if place in component:
            bits[component[place]] |= seed
    members: list[list[Place]] = [[] for _ in range(count)]
    for place, c in component.items():
        members[c].append(place)
    for c in range(count - 1, -1, -1):  # components in flow order
        if bits[c]:
            for place in members[c]:
                for nxt in moves.get(place, ()):
                    if component[nxt] != c:
                        bits[component[nxt]] |= bits[c]
    return {place: bits[c] for place, c in component.items()}


def dominated_by(moves: dict[Place, set[Place]], start: Place, marks: dict[Place, int]) -> dict[Place, int]:
    """For each place reachable from ``start``, which of the marked places every path from
    ``start`` to it passes through (the place itself included), as a bit set of ``marks``.

    The classic dominator equations, iterated to their fixed point in reverse postorder,
    over bit sets of the marked places only (the checker marks the steps that read a
    reference); places ``start`` cannot reach are left out.
    """
    order: list[Place] = []
    seen = {start}
    work = [(start, iter(moves.get(start, ())))]
    while work:
        place, successors = work[-1]
        for nxt in successors:
            if nxt not in seen:
                seen.add(nxt)
                work.append((nxt, iter(moves.get(nxt, ()))))
                break
        else:
            order.append(place)
            work.pop()
    order.reverse()
    before: dict[Place, list[Place]] = {p: [] for p in order}
    for place in order:
        for nxt in moves.get(place, ()):
            before[nxt].append(place)
    every = 0
    for mark in marks.values():
        every |= mark
    through = {place: every for place in order}
    through[start] = marks.get(start, 0)
    changed = True
    while changed:
        changed = False
        for place in order[1:]:
            common = every
            for previous in before[place]:
                common &= through[previous]
            common |= marks.get(place, 0)
            if common != through[place]:
                through[place] = common
                changed = True
    return through


__all__ = [
    "BLOCK_KINDS",
    "Block",
    "Case",
    "Chain",
    "Edge",
    "Graph",
    "Node",
    "Outcome",
    "Step",
    "components",
    "dominated_by",
    "flow",
    "on_cycles",
    "reach_sets",
    "reachable",
    "used",
]
