"""The cluster backend's cost: the same workloads embedded and on Ray with 1 and 2 nodes, in one run.

Tool workloads (tool units only, no model; recording off, so the runtime is what is measured):
  request     one math unit asked REQUESTS times in a row by the driver (ref.request)
  step        a one-step math program run RUNS_SEQ times in a row (the executor's step)
  fan-out     a program that joins FANOUT math steps, BATCH runs, CONCURRENCY at a time
  tool batch  math, math, then the sandbox (a fresh isolated process per snippet),
              TOOL_BATCH runs, TOOL_CONCURRENCY at a time
The default program (bench/cluster/_program.py): the shipped default program with an LLM from
the registry on a batch of word problems and a chat line (--model, --requests, --rounds,
--concurrency, --seconds), the modes interleaved.
Modes: ``embedded`` (every unit in this process, the default); ``ray, 1 node`` (a local
Ray, 2 CPUs); ``ray, 2 nodes`` (two Ray nodes of 1 CPU each on this machine, via
``ray.cluster_utils``). On Ray, math and the sandbox have REPLICAS actors each; the driver
(the executor) stays in this process. Each mode runs in a process of its own (Ray starts
once per process). Figures: runs per second, p50/p99 latency of a run, latency per step,
and the overhead per step over embedded; plus the resident memory of the driver and every
process it started (Ray's included), against the 2 GB budget.

On one 2-core machine the "nodes" share the cores: this measures what Ray adds per step,
not what more machines would give (docs/cluster.md projects that).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from typing import Any

from bench._report import report
from bench.solve._suite import MissingData
from bench.cluster import _program
from bench.cluster._nodes import MODES, latencies, nodes_of, resident_mb, start_ray, stop_ray

REQUESTS = 300
RUNS_SEQ = 100
FANOUT = 4
BATCH = 40
CONCURRENCY = 8
TOOL_BATCH = 12
TOOL_CONCURRENCY = 4
REPLICAS = 2
WORKLOADS = ("all", "tools", "program")

STEP = "use calc = math\nout <= switch <= (\n    calc => next\n) <= in\n"
FAN_OUT = (
    "".join(f"use m{i} = math\n" for i in range(FANOUT))
    + "out <= join <= (\n"
    + "".join(f"    out <= m{i} <= in\n" for i in range(FANOUT))
    + ") <= in\n"
)
TOOLS = (
    "use a = math\nuse b = math\nuse run = sandbox\n"
    "out <= switch <= (\n    a => next\n    b => next\n    run => next\n) <= in\n"
)


async def batch(executor: Any, inputs: list[str], concurrency: int) -> tuple[list[float], float]:
    """Run ``inputs`` through ``executor``, ``concurrency`` at a time: each run's seconds, and the wall time."""
    gate = asyncio.Semaphore(concurrency)

    async def one(text: str) -> float:
        async with gate:
            start = time.perf_counter()
            result = await executor.run(text)
            assert result.ok, (result.status, result.reason)
            return time.perf_counter() - start

    start = time.perf_counter()
    seconds = await asyncio.gather(*(one(text) for text in inputs))
    return list(seconds), time.perf_counter() - start


async def measure(mode: str) -> dict[str, Any]:
    from smolcpu.lang import compile_source
    from smolcpu.runtime import ActorSystem, KindPlacement, Placement
    from smolcpu.units import unit_kind
    from smolcpu.artifact import Artifact
    from smolcpu.vm import Executor, FirstChooser

    placement = None
    if mode != "embedded":
        kind = KindPlacement(replicas=REPLICAS, cpus=0.5)
        placement = Placement("auto", {"math": kind, "sandbox": kind})
    figures: dict[str, Any] = {}
    async with ActorSystem(record=False, cluster=placement) as system:
        ref = await system.spawn("math", unit_kind("math").factory, kind="math")
        question = Artifact.text("6 * 7")
        await ref.request(question)
        seconds = []
        start = time.perf_counter()
        for _ in range(REQUESTS):
            begun = time.perf_counter()
            await ref.request(question)
            seconds.append(time.perf_counter() - begun)
        figures["request"] = latencies(seconds, time.perf_counter() - start, 1)
        await ref.stop()
        for name, source, inputs, concurrency, steps in (
            ("step", STEP, ["6 * 7"] * RUNS_SEQ, 1, 1),
            ("fan-out", FAN_OUT, [f"{i} * 7" for i in range(BATCH)], CONCURRENCY, FANOUT),
            ("tool batch", TOOLS, [f"{i} + 1" for i in range(TOOL_BATCH)], TOOL_CONCURRENCY, 3),
        ):
            graph = compile_source(source).runnable()
            async with Executor(graph, system=system, chooser=FirstChooser(), record=False) as executor:
                await batch(executor, inputs[:concurrency], concurrency)  # warm-up: units started
                seconds, wall = await batch(executor, inputs, concurrency)
            figures[name] = latencies(seconds, wall, steps)
        figures["resident_mb"] = resident_mb()
    return figures


def one_mode(mode: str) -> dict[str, Any]:
    """Measure the tool workloads in ``mode`` in this process (Ray, if any, started here and shut down after)."""
    cluster = start_ray(nodes_of(mode)) if nodes_of(mode) else None
    try:
        return asyncio.run(measure(mode))
    finally:
        if nodes_of(mode):
            stop_ray(cluster)


def measure_tools() -> dict[str, dict[str, Any]]:
    """The tool workloads, each mode in a process of its own, one after another."""
    results: dict[str, dict[str, Any]] = {}
    for mode in MODES:
        done = subprocess.run(
            [sys.executable, "-m", "bench.cluster", "--mode", mode], capture_output=True, text=True, timeout=600
        )
        if done.returncode != 0:
            sys.exit(f"bench cluster: mode {mode!r} failed:\n{done.stderr[-3000:]}")
        results[mode] = json.loads(done.stdout.strip().splitlines()[-1])
    return results


def tool_rows(results: dict[str, dict[str, Any]]) -> list[tuple[Any, ...]]:
    """The table's rows for the tool workloads: figures per mode, overhead over embedded, memory."""
    rows: list[tuple[Any, ...]] = []
    for workload in ("request", "step", "fan-out", "tool batch"):
        base = results["embedded"][workload]["ms_per_step"]
        for mode, measured in results.items():
            got = measured[workload]
            rows.append((workload, mode, got["runs_per_s"], got["p50_ms"], got["p99_ms"], got["ms_per_step"],
                         got["ms_per_step"] - base))  # fmt: skip
    rows += [("resident memory (MB), tools", mode, "", "", "", "", got["resident_mb"]) for mode, got in results.items()]
    return rows


def positive(kind: type) -> Any:
    """An argparse type: a number of ``kind`` above 0."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be above 0, not {text}")
        return value

    return parse


def parser() -> argparse.ArgumentParser:
    """The benchmark's options (``smol bench cluster --help``)."""
    options = argparse.ArgumentParser(prog="smol bench cluster", description=__doc__.split("\n\n")[0])
    options.add_argument("--workload", choices=WORKLOADS, default="all",
                         help="the tool workloads, the default program, or both (default)")  # fmt: skip
    options.add_argument("--model", default="smollm2", help="the default program's LLM: a registry name (smollm2)")
    options.add_argument("--requests", type=positive(int), default=4,
                         help="requests in the default program's batch: word problems and a chat line (4)")  # fmt: skip
    options.add_argument("--rounds", type=positive(int), default=2, help="batches each mode runs, interleaved (2)")
    options.add_argument("--concurrency", type=positive(int), default=2, help="requests under way at once (2)")
    options.add_argument("--seconds", type=positive(float), default=60.0,
                         help="a mode starts no request this long after its batch began (60)")  # fmt: skip
    options.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)
    options.add_argument("--serve", choices=MODES, help=argparse.SUPPRESS)
    return options


def check_model(name: str) -> None:
    """Exit with a message unless ``name`` is a registry LLM that is installed."""
    from smolcpu.models import KNOWN

    llms = sorted(model for model, entry in KNOWN.items() if entry.role.startswith("llm"))
    if name not in llms:
        sys.exit(f"bench cluster: --model {name!r} is not an LLM of the registry; known: {', '.join(llms)}")
    if not KNOWN[name].installed:
        sys.exit(f"bench cluster: {name} is not installed: ./smol models install {name}")


def main() -> None:
    args = parser().parse_args()
    if args.mode:
        print(json.dumps(one_mode(args.mode)))
        return
    if args.serve:
        _program.serve(args.serve, args.model)
        return
    rows: list[tuple[Any, ...]] = []
    meta: dict[str, Any] = {}
    if args.workload in ("all", "program"):
        check_model(args.model)
        try:
            requests = _program.load_requests(args.requests)
        except MissingData as exc:
            sys.exit(f"bench cluster: {exc}")
        measured = _program.interleaved(
            requests, model=args.model, rounds=args.rounds, concurrency=args.concurrency, seconds=args.seconds
        )
        figures = _program.summary(measured)
        rows += _program.program_rows(figures, args.model)
        meta["program"] = {
            "model": args.model, "requests": requests, "seed": _program.SEED, "rounds": args.rounds,
            "concurrency": args.concurrency, "seconds": args.seconds, "max_tokens": _program.MAX_TOKENS,
            "placement": _program.PLACEMENT,
            "figures": figures, "measured": measured,
        }  # fmt: skip
    if args.workload in ("all", "tools"):
        results = measure_tools()
        rows += tool_rows(results)
        meta["tools"] = {
            "results": results,
            "workloads": {"step": STEP, "fan-out": FAN_OUT, "tool batch": TOOLS},
            "sizes": {
                "requests": REQUESTS, "sequential_runs": RUNS_SEQ, "fan_out": FANOUT, "batch": BATCH,
                "concurrency": CONCURRENCY, "tool_batch": TOOL_BATCH, "tool_concurrency": TOOL_CONCURRENCY,
                "replicas": REPLICAS,
            },
        }  # fmt: skip
    report(
        "cluster",
        "Cluster backend: embedded vs Ray (1 and 2 nodes on this machine), recording off",
        ["workload", "mode", "runs/s", "p50 ms", "p99 ms", "ms per step", "overhead ms per step"],
        rows,
        **meta,
    )


if __name__ == "__main__":
    main()
