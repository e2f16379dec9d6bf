"""Make a checked graph cheaper to run without changing what it computes.

Four passes, each writing one line per decision into ``Graph.optimisations`` (and a note
on the node) so that ``smol compile`` shows what was done and why:

1. prune match cases that repeat an earlier case's pattern (they can never run);
2. prune nodes no outcome, jump or stage can reach (e.g. steps after a ``send``);
3. inline steps whose worker is bound to the trivial ``identity`` unit: control that
   entered them enters what follows them;
4. mark what may run concurrently: the branches of a ``join``, and runs of checks in a
   switch (only ``continue``/``cancel`` outcomes) that all see the same input and whose
   units declare themselves free of side effects: only there could no program tell.
"""

from __future__ import annotations

import copy

from smolcpu.lang._declarations import IDENTITY
from smolcpu.lang._ir import Block, Case, Graph, Node, Outcome, Step, flow, reachable, used

SIDE_EFFECT_OUTCOMES = {"continue", "cancel"}


def optimise(graph: Graph) -> Graph:
    """An optimised copy of ``graph`` (which must have passed the checker)."""
    graph = copy.deepcopy(graph)
    _prune_cases(graph)
    _prune_unreachable(graph)
    _inline_identity(graph)
    _mark_parallel(graph)
    graph.optimised = True
    return graph


def _note(graph: Graph, node: Node, text: str) -> None:
    node.notes.append(text)
    graph.optimisations.append(f"{node.id}: {text}")


def _remove(graph: Graph, node_id: str) -> None:
    for child in list(graph.children(node_id)):
        _remove(graph, child)
    node = graph.nodes.pop(node_id)
    if node.parent is not None and node.parent in graph.nodes:
        graph.children(node.parent).remove(node_id)


def _prune_cases(graph: Graph) -> None:
    """A case whose pattern an earlier case of its match already has never runs: the first
    holds (or is chosen) in its place. Cases after ``default`` do run (LANGUAGE.md §4:
    ``default`` is taken only when no other case holds)."""
    for block in [n for n in graph.nodes.values() if isinstance(n, Block) and n.block == "match"]:
        seen: set[str] = set()
        for child in list(block.children):
            pattern = graph[child].pattern  # type: ignore[attr-defined]
            if pattern in seen:
                graph.optimisations.append(f"{child}: pruned, an earlier case of {block.id} has its pattern")
                _remove(graph, child)
            seen.add(pattern)


def _prune_unreachable(graph: Graph) -> None:
    kept = used(graph, reachable(flow(graph), ("enter", graph.root)))
    dead = [n.id for n, _ in graph.walk() if n.id not in kept]
    for node_id in dead:
        if node_id in graph.nodes:
            graph.optimisations.append(f"{node_id}: pruned, nothing leads to it")
            _remove(graph, node_id)


def _inline_identity(graph: Graph) -> None:
    referenced = {s.bind_target for s in graph.steps()}
    entering: dict[str, list[Outcome]] = {}  # node id: the outcomes that enter it
    for node in graph.nodes.values():
        for outcome in getattr(node, "outcomes", ()):
            if outcome.target is not None:
                entering.setdefault(outcome.target, []).append(outcome)
    for step in list(graph.steps()):
        binding = step.binding
        first = step.outcomes[0] if step.outcomes else None
        if (
            binding is None
            or binding.unit != IDENTITY
            or step.limit is not None
            or step.bind_target is not None  # it passes on what it reads, not what flows in
            or step.id in referenced
            or first is None
            or first.kind not in ("next", "continue")
        ):
            continue
        parent = graph[step.parent] if step.parent else None
        if parent is None or parent.kind not in ("switch", "chain"):
            continue
        for outcome in entering.pop(step.id, []):
            _follow(outcome, first)
            if outcome.target is not None:
                entering.setdefault(outcome.target, []).append(outcome)
        graph.optimisations.append(f"{step.id}: inlined, `{step.worker}` is the identity unit")
        _remove(graph, step.id)


def _follow(outcome: Outcome, onward: Outcome) -> None:
    """Make ``outcome`` go where the removed step's own first outcome went."""
    outcome.target, outcome.exit = onward.target, onward.exit


def _mark_parallel(graph: Graph) -> None:
    outcomes = [o for n in graph.nodes.values() if isinstance(n, (Step, Case)) for o in n.outcomes]
    targets = {o.target for o in outcomes if o.kind in ("back", "jump")}  # entered out of order
    for block in [n for n in graph.nodes.values() if isinstance(n, Block)]:
        if block.block == "join" and len(block.children) > 1:
            for child in block.children:
                graph[child].parallel = block.id
            _note(graph, block, f"branches {', '.join(block.children)} run in parallel")
        elif block.block == "switch":
            _mark_side_effects(graph, block, targets)


def _mark_side_effects(graph: Graph, block: Block, targets: set[str | None]) -> None:
    """Checks free of side effects (see :func:`_side_effect`) all see the same input, so a
    run of them may start at once; a step entered out of order (by ``back`` or a jump)
    begins a new run."""
    runs: list[list[Step]] = [[]]
    for child in block.children:
        node = graph[child]
        if not (isinstance(node, Step) and node.bind_target is None and _side_effect(node)):
            runs.append([])
            continue
        if node.id in targets:
            runs.append([])
        runs[-1].append(node)
    for number, run in enumerate([r for r in runs if len(r) > 1], start=1):
        for step in run:
            step.parallel = f"{block.id}.parallel{number}"
        _note(graph, block, f"{', '.join(s.id for s in run)} see the same input: run in parallel")


def _side_effect(step: Step) -> bool:
    """A check whose only use is its verdict: it passes its input on (or cancels), and its
    unit declares itself free of side effects (deterministic), so running it beside others
    is something no program could tell (LANGUAGE.md §1)."""
    return step.deterministic and bool(step.outcomes) and {o.kind for o in step.outcomes} <= SIDE_EFFECT_OUTCOMES


__all__ = ["optimise"]
