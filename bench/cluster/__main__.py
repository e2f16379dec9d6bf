"""The cluster backend's cost: the same workload embedded and on Ray with 1 and 2 nodes, in one run.

Workloads (tool units only, no model; recording off, so the runtime is what is measured):
  request     one math unit asked REQUESTS times in a row by the driver (ref.request)
  step        a one-step math program run RUNS_SEQ times in a row (the executor's step)
  fan-out     a program that joins FANOUT math steps, BATCH runs, CONCURRENCY at a time
  tool batch  math, math, then the sandbox (a fresh isolated process per snippet),
              TOOL_BATCH runs, TOOL_CONCURRENCY at a time
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
import statistics
import subprocess
import sys
import time
from typing import Any

import psutil

from bench._report import report

REQUESTS = 300
RUNS_SEQ = 100
FANOUT = 4
BATCH = 40
CONCURRENCY = 8
TOOL_BATCH = 12
TOOL_CONCURRENCY = 4
REPLICAS = 2
OBJECT_STORE_BYTES = 80 * 1024**2
MODES = ("embedded", "ray, 1 node", "ray, 2 nodes")

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


def start_ray(nodes: int) -> Any:
    """A Ray of ``nodes`` nodes on this machine (the driver connected to it); the cluster handle, if any."""
    import ray

    if nodes == 1:
        ray.init(
            address="local", num_cpus=2, include_dashboard=False, object_store_memory=OBJECT_STORE_BYTES,
            log_to_driver=False,
        )  # fmt: skip
        return None
    from ray.cluster_utils import Cluster

    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 1, "object_store_memory": OBJECT_STORE_BYTES, "include_dashboard": False},
    )
    for _ in range(nodes - 1):
        cluster.add_node(num_cpus=1, object_store_memory=OBJECT_STORE_BYTES)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False)
    return cluster


def resident_mb() -> float:
    """Resident memory of this process and every process under it, in MB."""
    me = psutil.Process()
    total = 0
    for process in [me, *me.children(recursive=True)]:
        try:
            total += process.memory_info().rss
        except psutil.Error:
            continue
    return total / 1024**2


def latencies(seconds: list[float], wall: float, steps: int) -> dict[str, float]:
    ordered = sorted(seconds)
    return {
        "runs_per_s": len(seconds) / wall,
        "p50_ms": statistics.median(ordered) * 1e3,
        "p99_ms": ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))] * 1e3,
        "ms_per_step": statistics.median(ordered) * 1e3 / steps,
    }


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
    """Measure ``mode`` in this process (Ray, if any, started here and shut down after)."""
    cluster = None
    if mode != "embedded":
        cluster = start_ray(int(mode.split()[1]))
    try:
        return asyncio.run(measure(mode))
    finally:
        if mode != "embedded":
            import ray

            ray.shutdown()
            if cluster is not None:
                cluster.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(prog="smol bench cluster", description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode:
        print(json.dumps(one_mode(args.mode)))
        return
    results: dict[str, dict[str, Any]] = {}
    for mode in MODES:
        done = subprocess.run(
            [sys.executable, "-m", "bench.cluster", "--mode", mode], capture_output=True, text=True, timeout=600
        )
        if done.returncode != 0:
            sys.exit(f"bench cluster: mode {mode!r} failed:\n{done.stderr[-3000:]}")
        results[mode] = json.loads(done.stdout.strip().splitlines()[-1])
    rows = []
    for workload in ("request", "step", "fan-out", "tool batch"):
        base = results["embedded"][workload]["ms_per_step"]
        for mode in MODES:
            got = results[mode][workload]
            rows.append(
                (
                    workload,
                    mode,
                    got["runs_per_s"],
                    got["p50_ms"],
                    got["p99_ms"],
                    got["ms_per_step"],
                    got["ms_per_step"] - base,
                )
            )
    rows += [("resident memory (MB)", mode, "", "", "", "", results[mode]["resident_mb"]) for mode in MODES]
    report(
        "cluster",
        "Cluster backend: embedded vs Ray (1 and 2 nodes on this machine), tool units, recording off",
        ["workload", "mode", "runs/s", "p50 ms", "p99 ms", "ms per step", "overhead ms per step"],
        rows,
        results=results,
        workloads={"step": STEP, "fan-out": FAN_OUT, "tool batch": TOOLS},
        sizes={
            "requests": REQUESTS,
            "sequential_runs": RUNS_SEQ,
            "fan_out": FANOUT,
            "batch": BATCH,
            "concurrency": CONCURRENCY,
            "tool_batch": TOOL_BATCH,
            "tool_concurrency": TOOL_CONCURRENCY,
            "replicas": REPLICAS,
        },
    )


if __name__ == "__main__":
    main()
