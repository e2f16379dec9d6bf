"""The checker: everything that makes a parsed program wrong (errors) or suspicious (warnings).

It looks at the compiled graph, where every name is already resolved or visibly not, and
at the syntax tree for the few things the graph no longer shows (where ``in`` and ``out``
stand). Each node kind is checked by one method; the checks that need the whole flow
(unreachable steps, references read before they can be written) use :func:`flow`.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from smolcpu import config
from smolcpu.lang import _ast as ast
from smolcpu.lang._declarations import DEFAULT_UNIT, Scope
from smolcpu.lang._diagnostics import Diagnostic, did_you_mean, error, warning
from smolcpu.lang._ir import (
    Block,
    Case,
    Chain,
    Components,
    Graph,
    Node,
    Outcome,
    Place,
    Step,
    components,
    dominated_by,
    flow,
    on_cycles,
    reach_sets,
    reachable,
    used,
)

ALLOWED = {
    "switch": {"next", "back", "continue", "send", "cancel", "timeout", "jump"},
    "select": {"next", "back", "continue", "send", "cancel", "timeout", "jump"},
    "match": {"send", "continue", "cancel", "timeout", "jump"},
    "chain": {"next"},
}
"""The outcomes a step (or case) may name, by the kind of what holds it."""


def validate(program: ast.Program, graph: Graph, scope: Scope, *, path: str | Path = "<flow>") -> list[Diagnostic]:
    """Every diagnostic of ``program``: its declarations', then its flow's, in source order."""
    checker = _Checker(graph, scope, str(path))
    if program.chain is None:
        checker.report(warning("no-flow", "this file only declares workers (a library); there is nothing to run"))
    else:
        checker.io(program.chain)
        for node, _ in graph.walk():
            getattr(checker, f"check_{node.kind}")(node)
        checker.flow()
        checker.unused(program)
    return scope.diagnostics + sorted(checker.found, key=lambda d: (d.line, d.column))


class _Checker:
    def __init__(self, graph: Graph, scope: Scope, path: str) -> None:
        self.graph = graph
        self.scope = scope
        self.path = path
        self.found: list[Diagnostic] = []
        self.undeclared: set[str] = set()
        self.labels: dict[str, str] = {}
        self.places = graph.places()
        self.uses = Counter(step.worker for step in graph.steps())  # steps per worker name
        self.names: dict[str, Counter[str]] = {}  # block id: its steps per worker name
        for node in graph.nodes.values():
            if isinstance(node, Block) and node.label:
                self.labels.setdefault(node.label, node.id)
            if isinstance(node, Step) and node.parent is not None:
                self.names.setdefault(node.parent, Counter())[node.worker] += 1

    def report(self, diagnostic: Diagnostic) -> None:
        self.found.append(diagnostic)

    def at(self, node: Node | Outcome) -> dict[str, object]:
        return {"path": self.path, "line": node.line, "column": node.column}

    # ---- one method per node kind -----------------------------------------------------

    def check_step(self, node: Step) -> None:
        binding = node.binding
        if binding is not None and not binding.declared and node.worker not in self.undeclared | self.scope.failed:
            self.undeclared.add(node.worker)
            others = self.uses[node.worker] - 1
            hint = did_you_mean(node.worker, self.scope.bindings) or f'declare it, e.g. use {node.worker} = llm "..."'
            self.report(warning(
                "undeclared",
                f"`{node.worker}` has no declaration: it runs as the default neural worker ({DEFAULT_UNIT})"
                + (f" (here and in {others} more step{'s' * (others > 1)})" if others else ""),
                hint=hint,
                **self.at(node),
            ))
        self.allowed(node)
        self.limit(node, node.limit, "step")
        parent = self.graph[node.parent] if node.parent else None
        if isinstance(parent, Block) and parent.block == "join":
            self.report(error(
                "join-step",
                f"`{node.worker} => ...` in a join: a join's branches are chains, not steps with outcomes",
                hint=f"write the branch as a chain, e.g. `out <= {node.worker} <= in`",
                **self.at(node),
            ))
            return
        self.outcomes(node, parent)
        if node.bind is not None and node.bind_target is None:
            self.report(error(
                "unknown-ref",
                f"`{node.bind}` refers to nothing: {self.missing(node.bind.removesuffix('.out'))}",
                hint=self.suggest(node.bind.removesuffix(".out")),
                **self.at(node),
            ))
        elif node.bind is not None:
            self.ambiguous(node.bind, node.bind_target, node)

    def allowed(self, node: Step) -> None:
        """A step on a unit kind the program's own policy does not allow: an error before anything runs."""
        policy = self.scope.policy
        unit = node.binding.unit if node.binding is not None else DEFAULT_UNIT
        if policy is None or policy.units is None or unit in policy.units or node.worker in self.scope.failed:
            return
        self.report(error(
            "policy-unit",
            f"`{node.worker}` runs on unit kind `{unit}`, which the program's policy does not allow"
            f" (units = [{', '.join(sorted(policy.units))}])",
            hint=f"add `{unit}` to the policy's units, or bind `{node.worker}` to an allowed kind",
            **self.at(node),
        ))

    def ambiguous(self, written: str, target: str | None, at: Node | Outcome) -> None:
        """A reference to a step by its worker name, where its block has two steps of that name."""
        node = self.graph.nodes.get(target or "")
        if not isinstance(node, Step) or node.parent is None or self.names[node.parent][node.worker] < 2:
            return
        count = self.names[node.parent][node.worker]
        self.report(error(
            "ambiguous-ref",
            f"`{written}` is ambiguous: {node.parent} has {count} steps named `{node.worker}`",
            hint="label a block of its own around the one you mean, or rename one of the workers",
            **self.at(at),
        ))

    def check_case(self, node: Case) -> None:
        self.outcomes(node, self.graph[node.parent] if node.parent else None)
        if node.pattern == "done" and not any(isinstance(a, Block) and a.limit for a in self.graph.ancestors(node.id)):
            self.report(warning(
                "done-never",
                "`done` holds on the last allowed entry of a limited block, but no enclosing block has a limit",
                hint="give the block a limit, e.g. switch[loop]<5>",
                **self.at(node),
            ))

    def check_switch(self, node: Block) -> None:
        self.block(node)

    def check_select(self, node: Block) -> None:
        self.block(node)
        exits = {"send", "cancel", "timeout", "jump"}
        endless = any(getattr(self.graph[c], "limit", None) is None for c in node.children)  # else all get consumed
        if endless and not any(
            o.kind in exits for c in node.children for o in getattr(self.graph[c], "outcomes", [])
        ):
            self.report(warning(
                "select-no-exit",
                f"no step of {node.id} can send, cancel or jump: it repeats until the step budget runs out",
                **self.at(node),
            ))

    def check_match(self, node: Block) -> None:
        self.block(node)
        seen: dict[str, Case] = {}
        for child in node.children:
            case = self.graph[child]
            assert isinstance(case, Case)
            if "default" in seen and case.pattern not in seen:
                self.report(warning(
                    "default-not-last",
                    f"case `{case.pattern}` comes after `default`, which is taken only when no other case holds:"
                    " it is tried first all the same",
                    hint="write `default` last, where it is tried",
                    **self.at(case),
                ))
            elif case.pattern in seen:
                self.report(warning(
                    "duplicate-case",
                    f"case `{case.pattern}` repeats line {seen[case.pattern].line}: only the first one runs",
                    **self.at(case),
                ))
            seen.setdefault(case.pattern, case)
        if node.children and "default" not in seen:
            self.report(warning(
                "no-default",
                f"{node.id} has no `default` case: an input no pattern matches fails the step",
                hint="end the match with `default => send` (or cancel)",
                **self.at(node),
            ))

    def check_join(self, node: Block) -> None:
        self.block(node)
        if len(node.children) < 2:
            self.report(error(
                "join-branches",
                f"a join runs two or more chains side by side; {node.id} has {len(node.children)}",
                hint="add a branch, or drop the join and write the chain alone",
                **self.at(node),
            ))

    def check_chain(self, node: Chain) -> None:
        """Nothing to check: a chain's parts are checked one by one."""

    # ---- shared checks ----------------------------------------------------------------

    def block(self, node: Block) -> None:
        self.limit(node, node.limit, "block")
        if node.label and self.labels.get(node.label) != node.id:
            self.report(error(
                "duplicate-label",
                f"label `{node.label}` is already used by the block on line {self.graph[self.labels[node.label]].line}",
                hint="labels name one block each; rename one",
                **self.at(node),
            ))
        if not node.children and node.block != "join":
            self.report(error("empty-block", f"{node.head} has an empty body", **self.at(node)))

    def limit(self, node: Node, limit: int | None, what: str) -> None:
        if limit is None:
            return
        if limit < 1:
            self.report(error(
                "limit",
                f"a {what} limit of {limit} means it can never run",
                hint="a limit counts runs: use 1 or more, or no limit",
                **self.at(node),
            ))
        elif limit > config.STEP_BUDGET:
            self.report(warning(
                "limit",
                f"limit {limit} is above the run's step budget ({config.STEP_BUDGET}); the budget ends the run first",
                **self.at(node),
            ))

    def outcomes(self, node: Step | Case, parent: Node | None) -> None:
        kind = parent.kind if parent is not None else "chain"
        allowed = ALLOWED.get(kind, set())
        seen: set[str] = set()
        for outcome in node.outcomes:
            if outcome.written in seen:
                self.report(warning("duplicate-outcome", f"`{outcome.written}` is listed twice", **self.at(outcome)))
            seen.add(outcome.written)
            if outcome.kind not in allowed:
                self.report(error(
                    "outcome",
                    f"`{outcome.written}` has no meaning in a {kind}",
                    hint=f"a {kind} allows: {', '.join(sorted(allowed))}",
                    **self.at(outcome),
                ))
            elif outcome.kind == "back":
                self.back(node, outcome, kind)
            elif outcome.kind == "jump" and outcome.target is None:
                name = outcome.written.strip("[]").removesuffix(".jump")
                self.report(error(
                    "unknown-jump",
                    f"`{outcome.written}` leads nowhere: {self.missing(name)}",
                    hint=self.suggest(name),
                    **self.at(outcome),
                ))
            elif outcome.kind == "jump":
                self.ambiguous(outcome.written, outcome.target, outcome)

    def back(self, node: Step | Case, outcome: Outcome, kind: str) -> None:
        if outcome.count < 1:
            self.report(error("outcome", "`back * 0` goes nowhere; use back * 1 or more", **self.at(outcome)))
        elif kind == "select" and outcome.count > 1:
            self.report(error(
                "outcome",
                f"`{outcome.written}` in a select: its steps have no order to count back in",
                hint="use `back` (return to the chooser)",
                **self.at(outcome),
            ))
        elif kind == "switch":
            position = self.places[node.id] + 1
            if outcome.count >= position:
                self.report(warning(
                    "back-clamped",
                    f"`{outcome.written}` from step {position} of its switch would go before the first step; "
                    f"it goes back to {outcome.target}",
                    hint=f"write back * {position - 1}" if position > 1 else "write `next` or a jump instead",
                    **self.at(outcome),
                ))

    def missing(self, name: str) -> str:
        label, _, step = name.partition(".")
        if label not in self.labels:
            return f"no block is labelled `{label}`"
        return f"block `{label}` has no step `{step}`"

    def suggest(self, name: str) -> str | None:
        label, _, step = name.partition(".")
        if label not in self.labels:
            return did_you_mean(label, self.labels)
        workers = [getattr(self.graph[c], "worker", "") for c in self.graph.children(self.labels[label])]
        return did_you_mean(step, [w for w in workers if w])

    # ---- whole-program checks ---------------------------------------------------------

    def io(self, chain: ast.Chain) -> None:
        """``in`` only at the right end of a chain, ``out`` only at its left end."""
        last = len(chain.elements) - 1
        for index, element in enumerate(chain.elements):
            if isinstance(element, ast.Io) and index != (last if element.name == "in" else 0):
                self.report(error(
                    "io-position",
                    f"`{element.name}` stands at the {'right' if element.name == 'in' else 'left'} end of a chain",
                    hint="data moves right to left: out <= ... <= in",
                    path=self.path,
                    line=element.line,
                    column=element.column,
                ))
            elif isinstance(element, ast.Chain):
                self.io(element)
            elif isinstance(element, ast.Block):
                for item in element.body:
                    if isinstance(item, ast.Chain):
                        self.io(item)

    def flow(self) -> None:
        """The checks that follow control through the whole program, each linear in its size."""
        moves = flow(self.graph)
        root: Place = ("enter", self.graph.root)
        live = reachable(moves, root)
        kept = used(self.graph, live)
        for node, _ in self.graph.walk():
            if node.id not in kept and (node.parent is None or node.parent in kept):
                self.report(warning(
                    "unreachable",
                    f"{node.id} can never run: no outcome, jump or stage leads to it",
                    **self.at(node),
                ))
        found = components(moves)
        self.references(moves, found, root, live)
        again = on_cycles(moves, found)
        for step in self.graph.steps():
            if step.limit is not None and step.limit > 1 and ("enter", step.id) not in again:
                self.report(warning(
                    "limit-unused",
                    f"{step.id} can run only once per run, so its limit <{step.limit}> never applies",
                    **self.at(step),
                ))

    def references(self, moves: dict[Place, set[Place]], found: Components, root: Place, live: set[Place]) -> None:
        """``ref-unset``: a reference that no path writes before its reader first runs.

        A path writes it first when it reaches the writer without passing the reader, and
        then goes on to the reader: the reader does not stand on every path to the writer
        (:func:`dominated_by`), and the writer's output reaches the reader (:func:`reach_sets`).
        Both are worked out for all references at once.
        """
        readers = [s for s in self.graph.steps() if s.bind_target is not None and ("enter", s.id) in live]
        if not readers:
            return
        bit = {step.id: 1 << i for i, step in enumerate(readers)}
        through = dominated_by(moves, root, {("enter", step.id): bit[step.id] for step in readers})
        written: dict[Place, int] = {}
        for step in readers:
            target = step.bind_target or ""
            starts = moves.get(("enter", target), set()) if isinstance(self.graph[target], Step) else {("exit", target)}
            for place in starts:
                written[place] = written.get(place, 0) | bit[step.id]
        reach = reach_sets(moves, found, written)
        for step in readers:
            target = step.bind_target or ""
            writer: Place = ("enter", target) if isinstance(self.graph[target], Step) else ("exit", target)
            first = writer in through and not through[writer] & bit[step.id]
            if first and reach.get(("enter", step.id), 0) & bit[step.id]:
                continue
            self.report(warning(
                "ref-unset",
                f"`{step.bind}` has no output yet when {step.id} first runs: no path runs {target} before it,"
                " so that read fails and the step takes its alternative",
                hint="data moves right to left: bind to a step that runs earlier, "
                "or move the labelled block to the right of this one",
                **self.at(step),
            ))

    def unused(self, program: ast.Program) -> None:
        used = {s.worker for s in self.graph.steps()}
        for declaration in program.declarations:
            if isinstance(declaration, ast.Use) and declaration.name not in used:
                self.report(warning(
                    "unused",
                    f"`{declaration.name}` is declared but no step uses it",
                    path=self.path,
                    line=declaration.line,
                    column=declaration.column,
                ))


__all__ = ["ALLOWED", "validate"]
