"""The default program on a batch of requests, embedded and on Ray with 1 and 2 nodes, interleaved.

The batch: ``--requests`` - 1 GSM8K word problems drawn with SEED from ../shared/bench/gsm8k
(the slice bench/solve draws, as Smol is given them there) and one chat line. Each mode runs
in a process of its own that stays up for the whole benchmark (Ray starts once per process,
after a warm-up request): each round, every mode runs the whole batch, CONCURRENCY at a time, the
modes in a rotated order, so load from elsewhere on the machine falls on all of them alike;
the figures are medians over the rounds. A mode stops starting requests SECONDS after its
batch began (runs under way finish), which bounds the benchmark.

On Ray the LLM, the sandbox and the embedder (the classifier's) run as actors, one replica each
of a small CPU share (PLACEMENT). Unlike the Lifecycle's workers on one machine, placed units
belong to the run's executor: each run starts its own actors and loads its own models, so
runs under way at once each have an LLM (of the node's cores as threads: 2 on 1 node, 1 on
each of 2 nodes), and a run's share must be small enough for all of them to fit. Answers are
capped at MAX_TOKENS tokens so a model that rambles cannot take the time budget; recording is
off and distilled choosers are not consulted, so the runtime, not the store, is measured.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from bench.cluster._nodes import MODES, nodes_of, resident_mb, start_ray, stop_ray

SEED = 0
CHAT = "Hello! What can you do for me?"
WARM_UP = "Tom has 3 apples and buys 4 more. How many apples does he have now?"
MAX_TOKENS = 192
CORES = 2
START_TIMEOUT_S = 300.0


def requests_of(problems: Sequence[str], count: int) -> list[str]:
    """``count`` requests: the first ``count - 1`` of ``problems``, then the chat line."""
    return [*problems[: count - 1], CHAT] if count > 0 else []


def load_requests(count: int, seed: int = SEED) -> list[str]:
    """The batch: GSM8K word problems drawn with ``seed``, and the chat line.

    Raises:
        MissingData: GSM8K is not in ../shared/bench.
    """
    from bench.solve import _gsm8k
    from bench.solve._suite import seeded_slice

    items = seeded_slice(_gsm8k.load(), limit=max(1, count - 1), seed=seed)
    return requests_of([item.task for item in items], count)


PLACEMENT = (
    "[units.llm]\nreplicas = 1\ncpus = 0.25\n\n"
    "[units.sandbox]\nreplicas = 1\ncpus = 0.1\n\n"
    "[units.embed]\nreplicas = 1\ncpus = 0.1\n"
)
"""Where the default program's heavy units go on Ray: 0.45 CPU a run, so 4 runs at once fit on 2 CPUs."""


async def run_batch(session: Any, requests: Sequence[str], *, concurrency: int, seconds: float) -> dict[str, Any]:
    """Ask ``requests`` through the default program, ``concurrency`` at a time, starting none
    ``seconds`` after the batch began: each run's seconds, steps and status, and the wall time."""
    gate = asyncio.Semaphore(concurrency)
    began = time.perf_counter()

    async def one(text: str) -> dict[str, Any] | None:
        async with gate:
            if time.perf_counter() - began > seconds:
                return None
            start = time.perf_counter()
            answer = await session.ask(text)
            return {"seconds": time.perf_counter() - start, "steps": answer.steps, "status": answer.status,
                    "tokens": answer.tokens}  # fmt: skip

    done = await asyncio.gather(*(one(text) for text in requests))
    runs = [run for run in done if run is not None]
    return {"runs": runs, "skipped": len(done) - len(runs), "wall": time.perf_counter() - began}


def serve(mode: str, model: str) -> None:
    """A mode's process: start Ray (if any), open a Session, warm up, then run each batch read
    from stdin (one JSON line) and answer on stdout (one JSON line), until stdin ends."""
    nodes = nodes_of(mode)
    os.environ["SMOL_LLM_MAX_TOKENS"] = str(MAX_TOKENS)  # read when smolcpu's config is imported
    os.environ["SMOL_LLM_THREADS"] = str(CORES // max(1, nodes))  # Ray's workers inherit it
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # whatever else prints (Ray, llama.cpp) goes to stderr, not into the answers
    cluster = start_ray(nodes) if nodes else None
    try:
        with tempfile.TemporaryDirectory(prefix="smol-bench-") as scratch:
            if nodes:  # the Session's actor system reads these: the Ray started above, PLACEMENT
                path = Path(scratch) / "placement.toml"
                path.write_text(PLACEMENT)
                os.environ |= {"SMOL_CLUSTER": "auto", "SMOL_PLACEMENT": str(path)}
            asyncio.run(_serve(model, answers, base_mb=resident_mb()))
    finally:
        if nodes:
            stop_ray(cluster)


async def _serve(model: str, answers: TextIO, *, base_mb: float) -> None:
    from smolcpu import Session

    async with Session(model=model, record=False, distilled=False) as session:
        start = time.perf_counter()
        warm = await session.ask(WARM_UP)
        ready = {"warm_up_s": time.perf_counter() - start, "warm_up_status": warm.status, "base_mb": base_mb}
        print(json.dumps(ready), file=answers)
        while line := await asyncio.to_thread(sys.stdin.readline):
            order = json.loads(line)
            batch = await run_batch(session, order["requests"], concurrency=order["concurrency"],
                                    seconds=order["seconds"])  # fmt: skip
            print(json.dumps(batch | {"resident_mb": resident_mb()}), file=answers)


class ModeProcess:
    """One mode's :func:`serve` process, spoken to a JSON line at a time."""

    def __init__(self, mode: str, model: str) -> None:
        self.mode = mode
        self.log = tempfile.TemporaryFile("w+")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.cluster", "--serve", mode, "--model", model],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True,
        )  # fmt: skip
        self.ready = self._answer()

    def _answer(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            self.log.seek(0)
            sys.exit(f"bench cluster: mode {self.mode!r} failed:\n{self.log.read()[-3000:]}")
        return json.loads(line)

    def batch(self, requests: Sequence[str], *, concurrency: int, seconds: float) -> dict[str, Any]:
        assert self.process.stdin is not None
        order = {"requests": list(requests), "concurrency": concurrency, "seconds": seconds}
        self.process.stdin.write(json.dumps(order) + "\n")
        self.process.stdin.flush()
        return self._answer()

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def interleaved(requests: Sequence[str], *, model: str, rounds: int, concurrency: int, seconds: float) -> dict[str, Any]:
    """Every mode's warm-up and batches: ``rounds`` rounds, each mode's order rotated per round."""
    processes = []
    try:
        for mode in MODES:  # one at a time: two Rays starting at once would fight for the cores
            processes.append(ModeProcess(mode, model))
        batches: dict[str, list[dict[str, Any]]] = {mode: [] for mode in MODES}
        for number in range(rounds):
            for process in processes[number % len(MODES) :] + processes[: number % len(MODES)]:
                batches[process.mode].append(process.batch(requests, concurrency=concurrency, seconds=seconds))
    finally:
        for process in processes:
            process.close()
    return {process.mode: {"ready": process.ready, "batches": batches[process.mode]} for process in processes}


def summary(measured: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Per mode, over all rounds: runs/s (median of the rounds), p50/p99 of a run, ms per step
    (median of each run's seconds over its steps), runs ok and skipped, steps and LLM tokens
    per run (the model's answers, and so the work, can differ between modes), LLM tokens per
    second of a batch (the throughput that does not depend on how long the answers were), memory."""
    figures = {}
    for mode, got in measured.items():
        runs = [run for batch in got["batches"] for run in batch["runs"]]
        ordered = sorted(run["seconds"] for run in runs) or [float("nan")]
        figures[mode] = {
            "runs_per_s": statistics.median(len(batch["runs"]) / batch["wall"] for batch in got["batches"]),
            "p50_ms": statistics.median(ordered) * 1e3,
            "p99_ms": ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))] * 1e3,
            "ms_per_step": statistics.median([run["seconds"] / max(1, run["steps"]) for run in runs] or [float("nan")]) * 1e3,
            "steps_per_run": statistics.median([run["steps"] for run in runs] or [0]),
            "tokens_per_run": statistics.median([run["tokens"] for run in runs] or [0]),
            "tokens_per_s": statistics.median(
                sum(run["tokens"] for run in batch["runs"]) / batch["wall"] for batch in got["batches"]
            ),
            "runs": len(runs),
            "ok": sum(run["status"] == "ok" for run in runs),
            "skipped": sum(batch["skipped"] for batch in got["batches"]),
            "resident_mb": max(batch["resident_mb"] for batch in got["batches"]),
            "base_mb": got["ready"]["base_mb"],
            "warm_up_s": got["ready"]["warm_up_s"],
            "warm_up_ok": got["ready"]["warm_up_status"] == "ok",
        }
    return figures


def program_rows(figures: dict[str, dict[str, float]], model: str) -> list[tuple[Any, ...]]:
    """The table's rows for the default program: figures per mode, overhead over embedded, memory."""
    base = figures["embedded"]["ms_per_step"]
    name = f"default program ({model})"
    rows: list[tuple[Any, ...]] = []
    for mode, got in figures.items():
        rows.append((name, mode, got["runs_per_s"], got["p50_ms"], got["p99_ms"], got["ms_per_step"],
                     got["ms_per_step"] - base))  # fmt: skip
    rows += [(f"{name}: runs ok / run / skipped; tokens/s, tokens and steps a run", mode, f"{got['ok']} / {got['runs']} / {got['skipped']}",
              f"{got['tokens_per_s']:.1f} tokens/s", f"{got['tokens_per_run']:g} tokens",
              f"{got['steps_per_run']:g} steps", "")
             for mode, got in figures.items()]  # fmt: skip
    rows += [(f"{name}: resident MB, all / before the Session", mode, "", "", "", "",
              f"{got['resident_mb']:,.0f} / {got['base_mb']:,.0f}") for mode, got in figures.items()]  # fmt: skip
    return rows


__all__ = [
    "CHAT",
    "MAX_TOKENS",
    "PLACEMENT",
    "SEED",
    "ModeProcess",
    "interleaved",
    "load_requests",
    "program_rows",
    "requests_of",
    "run_batch",
    "serve",
    "summary",
]
