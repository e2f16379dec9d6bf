"""Syntax tree to graph: give every step and block its id, resolve every outcome.

Two passes: the first builds the nodes (a chain's stages in the order data moves, so the
rightmost first; groups in a chain are flattened, ``in``/``out`` dropped); the second
resolves outcomes, jumps and references now that every label is known. What cannot be
resolved is left as ``None`` for the checker to report: the compiler itself never fails
on a program that parsed, so even a broken program can be drawn.
"""

from __future__ import annotations

from pathlib import Path

from smolcpu.lang import _ast as ast
from smolcpu.lang._declarations import Scope
from smolcpu.lang._ir import Block, Case, Chain, Graph, Node, Outcome, Step


def compile_program(program: ast.Program, scope: Scope, *, path: str | Path = "<flow>") -> Graph:
    """The graph of ``program``, its workers bound through ``scope``."""
    compiler = _Compiler(program, scope)
    graph = compiler.graph
    graph.path = str(path)
    graph.bindings = dict(scope.bindings)
    graph.policy = scope.policy
    chain = program.chain or ast.Chain(())
    root = Chain("main", None, chain.line, chain.column)
    graph.nodes[root.id] = root
    root.children = compiler.stages(chain, root.id)
    places = graph.places()
    for node_id, written in compiler.pending:
        compiler.resolve(graph[node_id], written, places[node_id])
    for node_id, ref in compiler.binds:
        graph[node_id].bind_target = compiler.reference(ref.label, ref.step)  # type: ignore[attr-defined]
    return graph


def stages(chain: ast.Chain) -> list[ast.Block | ast.Worker]:
    """The stages of a chain in the order data moves through them (groups flattened)."""
    found: list[ast.Block | ast.Worker] = []
    for element in reversed(chain.elements):
        if isinstance(element, ast.Chain):
            found += stages(element)
        elif not isinstance(element, ast.Io):
            found.append(element)
    return found


class _Compiler:
    def __init__(self, program: ast.Program, scope: Scope) -> None:
        self.scope = scope
        self.graph = Graph()
        self.counts: dict[str, int] = {}
        self.repeats: dict[str, int] = {}
        self.labels: dict[str, str] = {}
        self.taken = {"main", *_labels(program.chain)} if program.chain else {"main"}
        self.pending: list[tuple[str, tuple[ast.Outcome, ...]]] = []
        self.binds: list[tuple[str, ast.Ref]] = []

    def new_id(self, wanted: str) -> str:
        node_id, n = wanted, self.repeats.get(wanted, 1)
        while node_id in self.taken:
            n += 1
            node_id = f"{wanted}#{n}"
        self.taken.add(node_id)
        self.repeats[wanted] = n  # the next repeat of `wanted` starts counting here
        return node_id

    def add(self, node: Node) -> str:
        self.graph.nodes[node.id] = node
        return node.id

    # ---- pass 1: nodes ----------------------------------------------------------------

    def stages(self, chain: ast.Chain, parent: str) -> list[str]:
        """Build in source order (so ordinals read top to bottom), list in data order."""
        built = [self.stage(s, parent) for s in reversed(stages(chain))]
        return built[::-1]

    def stage(self, node: ast.Block | ast.Worker | ast.Step | ast.Case | ast.Chain, parent: str) -> str:
        if isinstance(node, ast.Block):
            return self.block(node, parent)
        if isinstance(node, ast.Worker):
            step = ast.Step(node, (ast.Outcome("next", line=node.line, column=node.column),))
            return self.step(step, parent, at=node)
        if isinstance(node, ast.Step):
            return self.step(node, parent, at=node)
        if isinstance(node, ast.Case):
            case = Case(self.new_id(f"{parent}.{node.pattern}"), parent, node.line, node.column, pattern=node.pattern)
            self.pending.append((case.id, node.outcomes))
            return self.add(case)
        inner = stages(node)
        if len(inner) == 1 and isinstance(inner[0], ast.Block):
            return self.stage(inner[0], parent)
        siblings = self.graph.children(parent)
        chain = Chain(self.new_id(f"{parent}.{len(siblings) + 1}"), parent, node.line, node.column)
        self.add(chain)
        chain.children = self.stages(node, chain.id)
        return chain.id

    def block(self, node: ast.Block, parent: str) -> str:
        if node.label and node.label not in self.labels:
            block_id = node.label
        else:
            self.counts[node.kind] = self.counts.get(node.kind, 0) + 1
            block_id = self.new_id(f"{node.kind}{self.counts[node.kind]}")
        block = Block(block_id, parent, node.line, node.column, block=node.kind, label=node.label, limit=node.limit)
        if node.label:
            self.labels.setdefault(node.label, block_id)
        self.add(block)
        for item in node.body:
            block.children.append(self.stage(item, block_id))
        return block_id

    def step(self, node: ast.Step, parent: str, *, at: ast.Node) -> str:
        worker = node.worker
        step = Step(
            self.new_id(f"{parent}.{worker.name}"),
            parent,
            at.line,
            at.column,
            worker=worker.name,
            binding=self.scope.binding(worker.name),
            limit=worker.limit,
            bind=str(node.bind) if node.bind else None,
        )
        self.pending.append((step.id, node.outcomes))
        if node.bind is not None:
            self.binds.append((step.id, node.bind))
        return self.add(step)

    # ---- pass 2: outcomes, jumps, references ------------------------------------------

    def reference(self, label: str, step: str | None) -> str | None:
        """The id of ``label`` (a block) or of its step ``step``; None if there is none."""
        block_id = self.labels.get(label)
        if block_id is None or step is None:
            return block_id
        for child in self.graph.children(block_id):
            if isinstance(self.graph[child], Step) and self.graph[child].worker == step:  # type: ignore[attr-defined]
                return child
        return None

    def resolve(self, node: Node, written: tuple[ast.Outcome, ...], index: int) -> None:
        """Give ``node`` (the ``index``-th child of its parent) its outcomes, resolved."""
        assert isinstance(node, (Step, Case)) and node.parent is not None
        parent = self.graph[node.parent]
        siblings = self.graph.children(parent.id)
        kind = parent.kind
        for source in written:
            outcome = Outcome(source.name, source.count, written=str(source), line=source.line, column=source.column)
            name = source.name
            if name == "jump" and source.jump is not None:
                outcome.target = self.reference(source.jump.label, source.jump.step)
            elif name in ("send", "timeout") or (kind == "match" and name == "continue"):
                outcome.exit = parent.id
            elif kind == "select" and name in ("next", "back", "continue"):
                outcome.target = parent.id
            elif kind in ("switch", "chain") and name in ("next", "continue"):
                if index + 1 < len(siblings):
                    outcome.target = siblings[index + 1]
                else:
                    outcome.exit = parent.id
            elif kind == "switch" and name == "back" and source.count > 0:
                outcome.target = siblings[max(index - source.count, 0)]  # clamped; the checker warns
            node.outcomes.append(outcome)


def _labels(chain: ast.Chain) -> set[str]:
    found: set[str] = set()
    for element in chain.elements:
        if isinstance(element, ast.Chain):
            found |= _labels(element)
        elif isinstance(element, ast.Block):
            if element.label:
                found.add(element.label)
            for item in element.body:
                if isinstance(item, ast.Chain):
                    found |= _labels(item)
    return found


__all__ = ["compile_program", "stages"]
