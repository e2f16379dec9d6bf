"""Tokens/s through the LLM unit against xllamacpp called directly, same model, same run.

For each model (Qwen2.5-Coder 0.5B and 1.5B, Q4_K_M) the same greedy chat request is
answered, interleaved run by run, by: llama.cpp's server object called directly; the LLM
unit in this process; and the LLM unit in a worker process, reached by a request through
the runtime (how Smol runs it). The figure is completion tokens over wall time of the
whole call, so every overhead of the unit counts; the target is >= 95% of direct.

    ./smol bench neural_llm [--runs 5] [--max-tokens 128] [--models qwen2.5-coder-0.5b,...]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections.abc import Awaitable, Callable

import xllamacpp

from bench._report import report
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

        paths: dict[str, Callable[[], Awaitable[int]]] = {
            "xllamacpp direct": lambda: asyncio.to_thread(call_direct),
            "LLM unit, in process": call_local,
            "LLM unit, worker process": call_worker,
        }
        for call in paths.values():  # warm-up: first-call allocations, page cache
            await call()
        figures: dict[str, list[float]] = {label: [] for label in paths}
        tokens: dict[str, set[int]] = {label: set() for label in paths}
        for run in range(runs):
            labels = list(paths)
            for label in labels[run % len(labels) :] + labels[: run % len(labels)]:
                started = time.perf_counter()
                count = await paths[label]()
                figures[label].append(count / (time.perf_counter() - started))
                tokens[label].add(count)
    local.engine.close()
    del direct
    baseline = statistics.median(figures["xllamacpp direct"])
    rows = []
    for label, values in figures.items():
        median = statistics.median(values)
        rows.append([name, label, "/".join(map(str, sorted(tokens[label]))), median, min(values), max(values), f"{median / baseline:.1%}"])
    return rows


async def main() -> None:
    parser = argparse.ArgumentParser(prog="smol bench neural_llm")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--models", default="qwen2.5-coder-0.5b,qwen2.5-coder-1.5b")
    options = parser.parse_args()
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
    )


if __name__ == "__main__":
    asyncio.run(main())
