"""Where the LLM's time goes, and what buys it back: one run, same prompts, same seed.

Sections (each configuration a process of its own, configurations interleaved run by run
so that the load of a shared machine hits all alike; figures are medians over the runs):

- ``parallel``: aggregate tokens/s of 1, 2 and 4 sequences decoded at once (4 slots).
- ``prefix``: time to the first token when two system prompts with worked examples
  alternate, with Smol's prompt cache and without it (then each switch re-evaluates the prefix).
- ``decode``: tokens/s writing a program for a word problem: plain, n-gram (prompt lookup)
  and a 0.5B draft for the 1.5B; the 0.5B beside the 1.5B.
- ``contention``: tokens/s of the LLM unit in its Lifecycle worker while the detector runs
  in a loop and a sandbox snippet spins: Smol's policy (threads that sleep at barriers, the
  CoreKeeper) against llama.cpp's defaults with no core placement; quiet as the reference.

    ./smol bench llm_speed [--runs 3] [--max-tokens 48] [--sections parallel,prefix,decode,contention]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import multiprocessing
import os
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench._report import report
from bench.llm_speed._probe import serve
from smolcpu import config
from smolcpu.artifact import BYTES, Artifact
from smolcpu.models import model_path

SEED = 7
CONTEXT = 4096
LARGE, SMALL = "qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b"
UNBOUNDED = 64 * 1024**3
"""The contention section measures speed, not memory: no worker is refused for the budget."""
SECTIONS = ("parallel", "prefix", "decode", "contention")
PHOTO = Path(__file__).resolve().parents[3] / "shared" / "bench" / "coco_sample" / "000000000285.jpg"
PROGRAM = (
    "Write one Python program that solves the problem and prints only the final number. Reply with the code only.\n\n"
    "Janet's ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes muffins for her"
    " friends every day with four. She sells the remainder at the farmers' market daily for $2 per fresh duck"
    " egg. How much in dollars does she make every day at the farmers' market?"
)
QUESTIONS = (
    "A shop sells 14 pens at $3 each and 9 notebooks at $5 each. What is the total?",
    "Tom runs 7 km a day for 12 days, then 4 km a day for 5 days. How far does he run?",
    "A tank holds 250 litres; 35 litres leak out each hour. How much is left after 6 hours?",
    "Mia has 48 stickers and gives a quarter to each of her 3 friends. How many does she keep?",
)


def system_prompt(role: str) -> str:
    """A system prompt with worked examples (about 350 tokens), one per ``role``."""
    examples = "\n".join(
        f"Example {n}: Q: {role} buys {n + 3} boxes of {2 * n + 5} apples at ${n}.25 a box and sells {n + 1} boxes."
        f" How many apples are left?\nA: print(({n + 3} - {n + 1}) * {2 * n + 5})"
        for n in range(1, 9)
    )
    return f"You are {role}. Solve each problem with one short Python program that prints the answer.\n{examples}"


def chat(content: str, max_tokens: int, *, system: str | None = None) -> dict[str, Any]:
    messages = [{"role": "system", "content": system}] if system else []
    return {
        "messages": [*messages, {"role": "user", "content": content}],
        "max_tokens": max_tokens,
        "temperature": 0.0,
        "seed": SEED,
    }


def options(model: str, **changes: Any) -> dict[str, Any]:
    """A probe's configuration: Smol's defaults for ``model`` with ``changes``."""
    return {
        "model": str(model_path(model)),
        "context": CONTEXT,
        "threads": config.LLM_THREADS,
        "prompt_cache_mb": config.LLM_PROMPT_CACHE_MB,
        "speculative": "",
        "wait_policy": config.LLM_WAIT_POLICY,
        "parallel": 1,
    } | changes


@contextlib.contextmanager
def probes(configurations: dict[str, dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """A server process per configuration; yields a function that sends one a list of requests."""
    spawn = multiprocessing.get_context("spawn")
    children = {}
    for label, given in configurations.items():
        parent_end, child_end = spawn.Pipe()
        child = spawn.Process(target=serve, args=(child_end, given), daemon=True)
        child.start()
        child_end.close()
        children[label] = (child, parent_end)
    try:
        for _, end in children.values():
            end.recv()

        def ask(label: str, requests: list[dict[str, Any]]) -> dict[str, Any]:
            end = children[label][1]
            end.send(requests)
            return end.recv()

        yield ask
    finally:
        for child, end in children.values():
            with contextlib.suppress(OSError):
                end.send(None)
            child.join(timeout=30)
            if child.is_alive():
                child.kill()


def rotated(labels: list[Any], run: int) -> list[Any]:
    return labels[run % len(labels) :] + labels[: run % len(labels)]


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def summary(section: str, label: str, values: list[float], unit: str, note: str = "") -> list[Any]:
    values = [value for value in values if not math.isnan(value)]
    return [section, label, statistics.median(values), min(values), max(values), unit, note]


def parallel(runs: int, max_tokens: int) -> list[list[Any]]:
    figures: dict[int, list[float]] = {1: [], 2: [], 4: []}
    with probes({"4 slots": options(LARGE, parallel=4)}) as ask:
        ask("4 slots", [chat(PROGRAM, 4)])
        for run in range(runs):
            for count in rotated(list(figures), run):
                requests = [chat(QUESTIONS[index] + "\nReply with a Python program.", max_tokens) for index in range(count)]
                figures[count].append(ask("4 slots", requests)["tokens_per_s"])
                log(f"parallel run {run + 1}: {count} sequences {figures[count][-1]:.1f} tokens/s")
    return [summary("parallel", f"{LARGE}, {count} at once", values, "tokens/s") for count, values in figures.items()]


def prefix(runs: int) -> list[list[Any]]:
    configurations = {
        f"prompt cache {config.LLM_PROMPT_CACHE_MB} MB": options(LARGE),
        "no prompt cache": options(LARGE, prompt_cache_mb=0),
    }
    systems = [system_prompt("Ada"), system_prompt("Grace")]
    ttft: dict[str, list[float]] = {label: [] for label in configurations}
    cached: dict[str, list[float]] = {label: [] for label in configurations}
    with probes(configurations) as ask:
        for system in systems:  # each system prompt seen once: a worker's steady state
            ask(next(iter(configurations)), [chat(QUESTIONS[0], 1, system=system)])
        for run in range(runs):
            for label in rotated(list(configurations), run):
                for index, system in enumerate(systems):  # the prompts alternate
                    answer = ask(label, [chat(QUESTIONS[(run + index) % len(QUESTIONS)], 4, system=system)])["answers"][0]
                    ttft[label].append(answer["ttft"])
                    cached[label].append(answer["cached"])
                    log(f"prefix run {run + 1}: {label} ttft {answer['ttft']:.2f} s, {answer['cached']:.0f} cached")
    return [
        summary("prefix", f"{LARGE}, {label}", values, "s to first token", f"{statistics.median(cached[label]):.0f} tokens reused")
        for label, values in ttft.items()
    ]


def decode(runs: int, max_tokens: int) -> list[list[Any]]:
    configurations = {
        f"{LARGE} plain": options(LARGE),
        f"{LARGE} n-gram": options(LARGE, speculative="ngram"),
        f"{LARGE} draft {SMALL}": options(LARGE, speculative=f"draft:{SMALL}"),
        f"{SMALL} plain": options(SMALL),
        f"{SMALL} n-gram": options(SMALL, speculative="ngram"),
    }
    figures: dict[str, list[float]] = {label: [] for label in configurations}
    accepted: dict[str, list[float]] = {label: [] for label in configurations}
    with probes(configurations) as ask:
        for label in configurations:
            ask(label, [chat(PROGRAM, 4)])
        for run in range(runs):
            for label in rotated(list(configurations), run):
                result = ask(label, [chat(PROGRAM, max_tokens)])
                answer = result["answers"][0]
                figures[label].append(result["tokens_per_s"])
                accepted[label].append(answer["draft_accepted"] / answer["draft"] if answer["draft"] else 0.0)
                log(f"decode run {run + 1}: {label} {figures[label][-1]:.1f} tokens/s")
    return [
        summary("decode", label, values, "tokens/s", f"draft accepted {statistics.median(accepted[label]):.0%}" if "plain" not in label else "")
        for label, values in figures.items()
    ]


async def contention(runs: int, max_tokens: int, baseline_runs: int) -> list[list[Any]]:
    """The LLM unit under load from the detector and a sandbox snippet, with Smol's policy and without."""
    rows = []
    for policy, baseline in ((config.LLM_WAIT_POLICY, False), ("", True)):
        quiet, loaded, detections = await _contention_runs(
            policy,
            keep_cores=not baseline,
            runs=baseline_runs if baseline else runs,
            max_tokens=max(8, max_tokens // 3) if baseline else max_tokens,  # the baseline crawls under load
        )
        name = "llama.cpp defaults, no placement" if baseline else f"Smol: {policy} waits + CoreKeeper"
        reference = statistics.median(quiet)
        rows.append(summary("contention", f"{name}, quiet", quiet, "tokens/s"))
        note = f"{statistics.median(loaded) / reference:.0%} of quiet; detector {statistics.median(detections):.1f} images/s meanwhile"
        rows.append(summary("contention", f"{name}, detector + snippet", loaded, "tokens/s", note))
    return rows


async def _contention_runs(
    policy: str, *, keep_cores: bool, runs: int, max_tokens: int
) -> tuple[list[float], list[float], list[float]]:
    """Tokens/s quiet and loaded, and the detector's images/s while loaded, run by run."""
    from smolcpu.runtime import ActorSystem
    from smolcpu.units.tools import run_snippet
    from smolcpu.vm import Lifecycle

    os.environ.pop("OMP_WAIT_POLICY", None)
    os.environ["SMOL_LLM_WAIT_POLICY"] = policy
    photo = Artifact.create(PHOTO.read_bytes(), type=BYTES)
    quiet: list[float] = []
    loaded: list[float] = []
    detections: list[float] = []
    async with ActorSystem(record=False) as system, Lifecycle(
        system, cores=keep_cores, status=False, budget=UNBOUNDED
    ) as lifecycle:
        await lifecycle.request("detect", photo, timeout=120)

        async def tokens_per_s() -> float:
            started = time.perf_counter()
            reply = await lifecycle.request("llm", Artifact.json(chat(PROGRAM, max_tokens)), timeout=600)
            return int(reply.attr("completion_tokens")) / (time.perf_counter() - started)

        await lifecycle.request("llm", Artifact.json(chat(PROGRAM, 4)), timeout=600)
        for run in range(runs):
            for busy in rotated([False, True], run):
                if not busy:
                    quiet.append(await tokens_per_s())
                    continue
                stop = asyncio.Event()

                async def detect_loop() -> int:
                    count = 0
                    while not stop.is_set():
                        await lifecycle.request("detect", photo, timeout=120)
                        count += 1
                    return count

                spin = "import time\nt = time.time()\nwhile time.time() - t < 120: pass\n"
                snippet = asyncio.create_task(run_snippet(spin, timeout_s=120))
                detector = asyncio.create_task(detect_loop())
                await asyncio.sleep(0.5)
                started = time.perf_counter()
                loaded.append(await tokens_per_s())
                stop.set()
                detections.append(await detector / (time.perf_counter() - started))
                snippet.cancel()
                await asyncio.gather(snippet, return_exceptions=True)
            log(f"contention run {run + 1} ({policy or 'default'} waits): quiet {quiet[-1]:.1f}, loaded {loaded[-1]:.1f} tokens/s")
    return quiet, loaded, detections


def main() -> None:
    parser = argparse.ArgumentParser(prog="smol bench llm_speed")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--baseline-runs", type=int, default=1, help="runs of the slow llama.cpp-defaults baseline")
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--sections", default=",".join(SECTIONS))
    args = parser.parse_args()
    sections = args.sections.split(",")
    load_before = os.getloadavg()
    started = time.perf_counter()
    rows: list[list[Any]] = []
    if "parallel" in sections:
        rows += parallel(args.runs, args.max_tokens)
    if "prefix" in sections:
        rows += prefix(args.runs)
    if "decode" in sections:
        rows += decode(args.runs, args.max_tokens)
    if "contention" in sections:
        rows += asyncio.run(contention(args.runs, args.max_tokens, args.baseline_runs))
    report(
        "llm_speed",
        f"LLM speed (greedy, {args.max_tokens} tokens, median of {args.runs} runs, {config.LLM_THREADS} threads)",
        ["section", "configuration", "median", "min", "max", "unit", "note"],
        rows,
        models={"large": LARGE, "small": SMALL},
        seed=SEED,
        context=CONTEXT,
        threads=config.LLM_THREADS,
        wait_policy=config.LLM_WAIT_POLICY,
        prompt_cache_mb=config.LLM_PROMPT_CACHE_MB,
        runs=args.runs,
        max_tokens=args.max_tokens,
        sections=sections,
        seconds=round(time.perf_counter() - started, 1),
        load_avg_before=load_before,
        targets={"contention": "detector + snippet >= 45% of quiet"},
        note="a shared 2-core machine: other processes' load makes runs vary; configurations are interleaved run by run",
    )


if __name__ == "__main__":
    main()
