"""Random programs on random scripted workers and choosers: every run ends, without a traceback.

Each case draws a program (switch, select, match and join blocks, limits, back, jumps,
references, checks free of side effects), compiles it, and runs it with workers that name
listed or unlisted outcomes, fail, raise, answer with routing attributes or overrun their
deadline, and a chooser that picks at random, each run under a wall-clock bound. Every
decision is a hash of the case's seed and what is being decided, so a failure replays from
its seed. Programs without joins and deadlines also run unoptimised: both runs must end
the same way (the optimiser never changes meaning).

The fast suite runs a few hundred cases; the slow stage ``FUZZ_RUNS`` (>= 10,000).
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections import Counter
from typing import Any

import pytest

from smolcpu.artifact import Artifact
from smolcpu.lang import Graph, compile_source
from smolcpu.testing import Reply, ScriptedWorker
from smolcpu.vm import Choice, Chooser, Executor, RunResult, Status

FUZZ_RUNS = 10_000
FAST_RUNS = 300
RUN_BOUND_S = 20.0  # a run that takes longer than this hangs
STEP_TIMEOUT_S = 0.02
DECLARED = "use p = classify\nuse q = detect\n"  # deterministic: free of side effects
WORKERS = ("a", "b", "c", "p", "q")
LABELS = ("l1", "l2", "l3")
PATTERNS = ("done", "success", "error", "timeout", "empty", "default", "review", "x", "text/*", "image/png")


def _hash(*parts: object) -> int:
    return int.from_bytes(hashlib.blake2b(repr(parts).encode(), digest_size=8).digest(), "big")


class _Program:
    """A random program; ``joins`` and ``deadlines`` say what makes runs depend on timing."""

    def __init__(self, seed: int, *, differential: bool) -> None:
        self.rng = random.Random(seed)
        self.differential = differential
        self.declarations = DECLARED + ("" if differential else "use tidy = identity\n")
        self.workers = WORKERS + (() if differential else ("tidy",))

    def limit(self, chance: float = 0.25) -> str:
        return f"<{self.rng.randint(1, 3)}>" if self.rng.random() < chance else ""

    def outcome(self, holder: str) -> str:
        rng = self.rng
        if rng.random() < 0.12:
            label = rng.choice(LABELS)
            return f"[{label}.{rng.choice(self.workers)}.jump]" if rng.random() < 0.3 else f"[{label}.jump]"
        choices = {
            "switch": ["next", "next", "back", "back * 2", "continue", "send", "cancel", "timeout"],
            "select": ["next", "back", "continue", "send", "send", "cancel", "timeout"],
            "match": ["send", "send", "continue", "cancel", "timeout"],
        }[holder]
        return rng.choice(choices)

    def outcomes(self, holder: str) -> str:
        count = self.rng.choice((1, 1, 2, 2, 3))
        return " | ".join(dict.fromkeys(self.outcome(holder) for _ in range(count)))

    def step(self, holder: str) -> str:
        rng = self.rng
        worker = rng.choice(self.workers) + self.limit()
        if rng.random() < 0.08:
            worker = f"[{worker} <= {rng.choice(LABELS)}.{rng.choice(self.workers)}.out]"
        return f"{worker} => {self.outcomes(holder)}"

    def block(self, depth: int) -> str:
        rng = self.rng
        kind = rng.choice(("switch", "switch", "select", "match") + (() if self.differential else ("join",)))
        head = kind + (f"[{rng.choice(LABELS)}]" if rng.random() < 0.6 else "") + self.limit(0.3)
        if kind == "match":
            body = [f"{rng.choice(PATTERNS)} => {self.outcomes('match')}" for _ in range(rng.randint(1, 4))]
        elif kind == "join":
            body = [self.chain(depth + 1) for _ in range(rng.randint(2, 3))]
        else:
            body = [
                self.chain(depth + 1) if depth < 2 and rng.random() < 0.15 else self.step(kind)
                for _ in range(rng.randint(1, 5))
            ]
        return f"{head} <= (\n" + "\n".join(body) + "\n)"

    def chain(self, depth: int) -> str:
        stages = [
            self.block(depth) if depth < 3 and self.rng.random() < 0.7 else self.rng.choice(self.workers)
            for _ in range(self.rng.randint(1, 3))
        ]
        return "out <= " + " <= ".join(stages)

    def source(self) -> str:
        return self.declarations + self.chain(0) + " <= in\n"


class _FuzzWorker(ScriptedWorker):
    """Answers by a hash of (seed, run, worker, input, how often it has seen that input): the
    same question gets the same answer in every run of the case, optimised or not. A unit
    that says it is deterministic answers by its input alone, as such units do. Only in runs
    with deadlines (never compared) does it raise or overrun."""

    def __init__(self, name: str, seed: int, outcomes: list[str], *, deterministic: bool, deadlines: bool) -> None:
        super().__init__(name)
        self.seed, self.outcomes, self.deterministic, self.deadlines = seed, outcomes, deterministic, deadlines
        self.seen: Counter[tuple[str | None, bytes]] = Counter()

    async def handle(self, ctx: Any, sender: Any, artifact: Artifact) -> Artifact:
        key = (artifact.attr("run"), artifact.checksum)
        self.seen[key] += 1
        nth = 0 if self.deterministic else self.seen[key]
        roll = _hash(self.seed, self.name, key, nth)
        self.script = [self.reply(roll)]
        return await super().handle(ctx, sender, artifact)

    def reply(self, roll: int) -> Reply:
        kind, pick = roll % 100, roll // 100
        if kind < 40:
            return Reply()
        if kind < 70 and self.outcomes:
            return Reply(outcome=self.outcomes[pick % len(self.outcomes)])
        if kind < 74:
            return Reply(outcome=("back", "nope", "timeout", "next")[pick % 4])
        if kind < 82:
            return Reply(error="it broke")
        if kind < 87:  # the message of a raise names the unit and the artifact: no two runs say the same
            return Reply(fail="it raised") if self.deadlines else Reply(error="it refused")
        if kind < 97:
            status = ("ok", "error", "timeout", "review")[pick % 4]
            return Reply(attributes=(("status", status), ("label", "x")))
        if kind < 98:
            return Reply(text="")
        return Reply(delay=STEP_TIMEOUT_S * 5) if self.deadlines else Reply()


class _FuzzChooser(Chooser):
    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.asked: Counter[tuple[str, str]] = Counter()

    async def choose(self, choice: Choice) -> str:
        self.asked[(choice.run, choice.block)] += 1
        roll = _hash(self.seed, choice.block, choice.options, self.asked[(choice.run, choice.block)])
        return choice.options[roll % len(choice.options)]


def _workers(source: Graph, seed: int, *, deadlines: bool) -> dict[str, _FuzzWorker]:
    """A worker for each name in ``source`` (the unoptimised graph, so that the optimised run
    gets the same workers), naming the outcomes written for it anywhere."""
    written: dict[str, list[str]] = {}
    for step in source.steps():
        written.setdefault(step.worker, []).extend(o.written for o in step.outcomes)
    return {
        name: _FuzzWorker(name, seed, sorted(set(outcomes)), deterministic=name in ("p", "q"), deadlines=deadlines)
        for name, outcomes in written.items()
    }


async def _run(graph: Graph, source: Graph, seed: int, budget: int, *, deadlines: bool) -> RunResult:
    executor = Executor(
        graph,
        workers=_workers(source, seed, deadlines=deadlines),
        chooser=_FuzzChooser(seed),
        record=False,
        budget=budget,
        step_timeout=STEP_TIMEOUT_S if deadlines else 30.0,
    )
    async with executor:
        async with asyncio.timeout(RUN_BOUND_S):
            return await executor.run("in", run_id=f"fuzz-{seed}")


def _program(seed: int) -> tuple[str, Graph, Graph, bool] | None:
    """A checked program for ``seed`` (None when it draws one with errors): source, graph,
    optimised graph, and whether its runs may be compared (no joins, no deadlines)."""
    differential = seed % 2 == 0
    source = _Program(seed, differential=differential).source()
    compilation = compile_source(source, path=f"fuzz-{seed}.smol")
    if not compilation.ok:
        return None
    return source, compilation.graph, compilation.runnable(), differential


def _check(seed: int) -> bool:
    """Run case ``seed``; False when it drew a program with errors (nothing to run)."""
    drawn = _program(seed)
    if drawn is None:
        return False
    source, graph, optimised, differential = drawn
    budget = 5 + seed % 120
    result = asyncio.run(_run(optimised, graph, seed, budget, deadlines=not differential))
    where = f"seed {seed}:\n{source}\npath: {result.path_text()}\nreason: {result.reason}"
    assert result.status in Status, where
    assert result.steps <= budget, where
    assert (result.status is Status.BUDGET) == ("BudgetError" in result.reason), where
    if differential:
        plain = asyncio.run(_run(graph, graph, seed, budget, deadlines=False))
        assert _ending(plain) == _ending(result), f"optimised and not, the runs differ; {where}\nunoptimised: {plain.path_text()}"
    return True


def _ending(result: RunResult) -> tuple[object, ...]:
    """How a run ended, as far as a program can tell (an error's message names unit ids)."""
    output = result.output
    said = output.attr("status") if output.is_error else output.payload
    return result.status, said, [str(v) for v in result.path], result.steps


def _fuzz(first: int, runs: int) -> int:
    ran, seed = 0, first
    while ran < runs:
        ran += _check(seed)
        seed += 1
    return ran


def test_random_programs_end_without_a_traceback() -> None:
    assert _fuzz(0, FAST_RUNS) == FAST_RUNS


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_ten_thousand_random_runs_end_without_a_traceback() -> None:
    assert _fuzz(1_000_000, FUZZ_RUNS) >= 10_000
