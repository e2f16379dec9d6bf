"""What a drafted program must do: predicates over its compiled graph, and a run on scripted workers.

A case's ``check`` (all must hold):

| key | holds when |
|---|---|
| ``kinds: [K, ...]`` | every unit kind K is bound by some step (an undeclared worker is ``llm``) |
| ``blocks: [B, ...]`` | the program has a block of each kind (switch, select, match, join) |
| ``outcomes: [O, ...]`` | some step or case lists each outcome kind (next, back, continue, send, cancel, jump) |
| ``outcomes_any: [O, ...]`` | some step or case lists at least one of them |
| ``back_from: K`` | a step bound to kind K goes back (``back`` or a jump) on its alternatives |
| ``limit: true`` | some step or block has a limit |
| ``min_steps: N`` | the program has at least N steps |
| ``match_words: N`` | a match has at least N plain-word cases (judged by meaning) |

A case's ``run`` runs the program on scripted workers: every worker of unit kind K answers
with ``script[K]`` in order (``-`` echo, ``!`` fail, or an outcome to name; past the end it
echoes); word matches and selects pick the first option containing one of ``hints`` (else
``default``, else the first). It holds when the run ends with ``status`` and the kinds of
the steps it ran contain ``path`` in that order (not necessarily adjacent).
"""

from __future__ import annotations

from typing import Any

from smolcpu.lang import Block, Case, Compilation, Graph, Step
from smolcpu.testing import Reply, ScriptedWorker
from smolcpu.vm import Choice, Chooser, Executor

BUILT_IN_PATTERNS = {"done", "success", "error", "timeout", "empty", "default"}
RUN_BUDGET = 40
STEP_TIMEOUT_S = 5.0


def _outcomes(graph: Graph) -> list[tuple[Step | Case, str]]:
    return [
        (node, outcome.kind)
        for node in graph.nodes.values()
        if isinstance(node, (Step, Case))
        for outcome in node.outcomes
    ]


def _kind(step: Step) -> str:
    return step.binding.unit if step.binding is not None else "llm"


def failed_checks(compilation: Compilation, check: dict[str, Any]) -> list[str]:
    """The parts of ``check`` the program does not meet (empty: it meets them all)."""
    graph = compilation.graph
    steps = list(graph.steps())
    kinds = {_kind(step) for step in steps}
    blocks = {node.block for node in graph.nodes.values() if isinstance(node, Block)}
    outcomes = {kind for _, kind in _outcomes(graph)}
    failed = [f"no {k} step" for k in check.get("kinds", []) if k not in kinds]
    failed += [f"no {b} block" for b in check.get("blocks", []) if b not in blocks]
    failed += [f"no {o} outcome" for o in check.get("outcomes", []) if o not in outcomes]
    wanted_any = check.get("outcomes_any")
    if wanted_any and not outcomes & set(wanted_any):
        failed.append(f"none of the outcomes {wanted_any}")
    if "back_from" in check:
        goes_back = any(
            _kind(node) == check["back_from"] and kind in ("back", "jump")
            for node, kind in _outcomes(graph)
            if isinstance(node, Step)
        )
        if not goes_back:
            failed.append(f"no {check['back_from']} step goes back")
    if check.get("limit") and not any(
        getattr(node, "limit", None) for node in graph.nodes.values() if isinstance(node, (Step, Block))
    ):
        failed.append("no limit")
    if len(steps) < check.get("min_steps", 0):
        failed.append(f"{len(steps)} steps, fewer than {check['min_steps']}")
    if "match_words" in check:
        words = max(
            (
                sum(1 for child in graph.children(node.id) if graph[child].pattern not in BUILT_IN_PATTERNS)
                for node in graph.nodes.values()
                if isinstance(node, Block) and node.block == "match"
            ),
            default=0,
        )
        if words < check["match_words"]:
            failed.append(f"no match with {check['match_words']} word cases")
    return failed


class HintChooser(Chooser):
    """Picks the first option that contains one of the hints, else ``default``, else the first."""

    def __init__(self, hints: list[str]) -> None:
        self.hints = [hint.lower() for hint in hints]

    async def choose(self, choice: Choice) -> str:
        for option in choice.options:
            if any(hint in option.lower() for hint in self.hints):
                return option
        return "default" if "default" in choice.options else choice.options[0]


def _reply(token: str) -> Reply:
    return {"-": Reply(), "!": Reply(error="scripted failure")}.get(token) or Reply(outcome=token)


def _is_subsequence(wanted: list[str], seen: list[str]) -> bool:
    remaining = iter(seen)
    return all(any(kind == step for step in remaining) for kind in wanted)


async def failed_run(compilation: Compilation, run: dict[str, Any]) -> list[str]:
    """Run the program on scripted workers as ``run`` says; what went otherwise than expected."""
    graph = compilation.runnable()
    scripts = run.get("script", {})
    workers = {
        step.worker: ScriptedWorker(step.worker, [_reply(t) for t in scripts.get(_kind(step), [])])
        for step in graph.steps()
    }

    async with Executor(
        graph,
        workers=workers,
        chooser=HintChooser(run.get("hints", [])),
        record=False,
        budget=RUN_BUDGET,
        step_timeout=STEP_TIMEOUT_S,
    ) as executor:
        result = await executor.run(run["input"])
    ran = [_kind(graph[visit.node]) for visit in result.path if isinstance(graph[visit.node], Step)]
    failed = []
    if result.status.value != run.get("status", "ok"):
        failed.append(f"ended {result.status.value}, not {run.get('status', 'ok')} ({result.reason})")
    if not _is_subsequence(run.get("path", []), ran):
        failed.append(f"ran {ran}, not {run['path']} in order")
    return failed


__all__ = ["HintChooser", "failed_checks", "failed_run"]
