"""Tokens/s through the LLM unit against xllamacpp called directly, same model, same run.

For each model (Qwen2.5-Coder 0.5B and 1.5B, Q4_K_M) the same greedy chat request is
answered, interleaved run by run, by: the LLM unit in a worker process, reached by a
request through the runtime (how Smol runs it), against xllamacpp's server object called
directly in a process of its own; and the LLM unit against xllamacpp both in this process.
The figure is completion tokens over wall time of the whole call, so every overhead of
the unit counts; the target is >= 95% of direct placed the same way.

    ./smol bench neural_llm [--runs 5] [--max-tokens 128] [--models qwen2.5-coder-0.5b,...]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable

import xllamacpp

from bench._report import report
from bench.neural_llm._direct import serve_direct
from smolcpu import config
from smolcpu.artifact import Artifact
from smolcpu.models import model_path
from smolcpu.runtime import ActorSystem
from smolcpu.units.neural import LLM, server_params

PROMPT = "Write a Python function that parses an ISO 8601 date, with a docstring and three doctests."
SEED = 7
CONTEXT = 4096


def request(max_tokens: int) -> dict:
    return {
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": max_tokens,
        "temperature": 0.0,
        "seed": SEED,
    }


async def measure_model(name: str, *, runs: int, max_tokens: int) -> list[list]:
    file = model_path(name)
    threads = config.LLM_THREADS
    spawn = multiprocessing.get_context("spawn")
    parent_end, child_end = spawn.Pipe()
    child = spawn.Process(target=serve_direct, args=(child_end, str(file)), kwargs={"context": CONTEXT, "threads": threads})
    child.start()
    child_end.close()
    parent_end.recv()

    def call_child() -> int:
        parent_end.send(request(max_tokens))
        return parent_end.recv()

    direct = xllamacpp.Server(server_params(file, context=CONTEXT, threads=threads))

    def call_direct() -> int:
        return direct.handle_chat_completions(request(max_tokens))["usage"]["completion_tokens"]

    local = LLM(model=str(file), context=CONTEXT, threads=threads)
    await local.init(None)

    async def call_local() -> int:
        reply = await local.handle(None, None, Artifact.json(request(max_tokens)))
        return int(reply.attr("completion_tokens"))

    os.environ["SMOL_LLM_MODEL"] = str(file)
    os.environ["SMOL_LLM_CONTEXT"] = str(CONTEXT)
    async with ActorSystem(record=False) as system:
        worker = await system.spawn("llm", LLM, process=True)

        async def call_worker() -> int:
            reply = await worker.request(Artifact.json(request(max_tokens)), timeout=config.LLM_TIMEOUT_S)
            return int(reply.attr("completion_tokens"))

        # each unit path is compared with xllamacpp placed the same way: a process of its own
        # with one model, or this process (which then holds two models)
        paths: dict[str, tuple[str, Callable[[], Awaitable[int]]]] = {
            "xllamacpp direct, own process": ("xllamacpp direct, own process", lambda: asyncio.to_thread(call_child)),
            "LLM unit, worker process": ("xllamacpp direct, own process", call_worker),
            "xllamacpp direct, this process": (
                "xllamacpp direct, this process",
                lambda: asyncio.to_thread(call_direct),
            ),
            "LLM unit, this process": ("xllamacpp direct, this process", call_local),
        }
        for _, call in paths.values():  # warm-up: first-call allocations, page cache
            await call()
        figures: dict[str, list[float]] = {label: [] for label in paths}
        tokens: dict[str, set[int]] = {label: set() for label in paths}
        for run in range(runs):
            labels = list(paths)
            for label in labels[run % len(labels) :] + labels[: run % len(labels)]:
                started = time.perf_counter()
                count = await paths[label][1]()
                figures[label].append(count / (time.perf_counter() - started))
                tokens[label].add(count)
                print(f"{name} run {run + 1}/{runs} {label}: {figures[label][-1]:.1f} tokens/s", file=sys.stderr)
    parent_end.send(None)
    child.join(timeout=30)
    local.engine.close()
    del direct
    rows = []
    for label, values in figures.items():
        median = statistics.median(values)
        baseline = statistics.median(figures[paths[label][0]])
        rows.append([name, label, "/".join(map(str, sorted(tokens[label]))), median, min(values), max(values), f"{median / baseline:.1%}"])
    return rows


async def main() -> None:
    parser = argparse.ArgumentParser(prog="smol bench neural_llm")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--models", default="qwen2.5-coder-0.5b,qwen2.5-coder-1.5b")
    options = parser.parse_args()
    load_before = os.getloadavg()
    rows = []
    for name in options.models.split(","):
        rows += await measure_model(name, runs=options.runs, max_tokens=options.max_tokens)
    report(
        "neural_llm",
        f"LLM tokens/s (wall time, greedy, {options.max_tokens} tokens, median of {options.runs})",
        ["model", "path", "tokens", "tokens/s", "min", "max", "vs direct"],
        rows,
        prompt=PROMPT,
        seed=SEED,
        context=CONTEXT,
        threads=config.LLM_THREADS,
        runs=options.runs,
        max_tokens=options.max_tokens,
        target="unit >= 95% of direct",
        load_avg_before=load_before,
        note="2 shared cores: other processes' load makes single runs vary; paths are interleaved run by run",
    )


if __name__ == "__main__":
    asyncio.run(main())
