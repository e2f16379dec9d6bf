"""Make a checked graph cheaper to run without changing what it computes.

Four passes, each writing one line per decision into ``Graph.optimisations`` (and a note
on the node) so that ``smol compile`` shows what was done and why:

1. prune match cases after an unconditional ``default`` (they can never match);
2. prune nodes no outcome, jump or stage can reach (e.g. steps after a ``send``);
3. inline steps whose worker is bound to the trivial ``identity`` unit: control that
   entered them enters what follows them;
4. mark what may run concurrently: the branches of a ``join``, and runs of side-effect
   steps in a switch (only ``continue``/``cancel`` outcomes) that all see the same input.
"""

from __future__ import annotations

import copy

from smolcpu.lang._declarations import IDENTITY
from smolcpu.lang._ir import Block, Case, Graph, Node, Outcome, Step, flow, reachable

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
    for block in [n for n in graph.nodes.values() if isinstance(n, Block) and n.block == "match"]:
        patterns = [graph[c].pattern for c in block.children]  # type: ignore[attr-defined]
        if "default" not in patterns:
            continue
        for dead in block.children[patterns.index("default") + 1 :]:
            graph.optimisations.append(f"{dead}: pruned, it comes after `default` in {block.id}")
            _remove(graph, dead)


def _prune_unreachable(graph: Graph) -> None:
    live = reachable(flow(graph), ("enter", graph.root))
    dead = [n.id for n, _ in graph.walk() if ("enter", n.id) not in live]
    for node_id in dead:
        if node_id in graph.nodes:
            graph.optimisations.append(f"{node_id}: pruned, nothing leads to it")
            _remove(graph, node_id)


def _inline_identity(graph: Graph) -> None:
    referenced = {s.bind_target for s in graph.steps()}
    for step in list(graph.steps()):
        binding = step.binding
        first = step.outcomes[0] if step.outcomes else None
        if (
            binding is None
            or binding.unit != IDENTITY
            or step.limit is not None
            or step.id in referenced
            or first is None
            or first.kind not in ("next", "continue")
        ):
            continue
        parent = graph[step.parent] if step.parent else None
        if parent is None or parent.kind not in ("switch", "chain"):
            continue
        for other in [n for n in graph.nodes.values() if isinstance(n, (Step, Case))]:
            for outcome in other.outcomes:
                if outcome.target == step.id:
                    _follow(outcome, first)
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
    """Steps that only check or record (``continue``) pass on their input: the steps after
    them see the same input, so a run of them and the step that follows may start at once."""
    run: list[Step] = []
    groups = 0

    def close(extra: Step | None) -> None:
        nonlocal groups, run
        group_steps = run + ([extra] if extra else [])
        if len(group_steps) > 1:
            groups += 1
            group = f"{block.id}.parallel{groups}"
            for step in group_steps:
                step.parallel = group
            _note(graph, block, f"{', '.join(s.id for s in group_steps)} see the same input: run in parallel")
        run = []

    for child in block.children:
        node = graph[child]
        free = isinstance(node, Step) and node.bind_target is None and (not run or node.id not in targets)
        if not free:
            close(None)
            if isinstance(node, Step) and node.bind_target is None and _side_effect(node):
                run = [node]
            continue
        assert isinstance(node, Step)
        if _side_effect(node):
            run.append(node)
        else:
            close(node)
    close(None)


def _side_effect(step: Step) -> bool:
    return bool(step.outcomes) and {o.kind for o in step.outcomes} <= SIDE_EFFECT_OUTCOMES


__all__ = ["optimise"]
