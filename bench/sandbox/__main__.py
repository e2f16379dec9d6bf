"""Code sandbox start-up: what each isolation layer costs per snippet.

Every snippet gets a fresh interpreter, so start-up is the sandbox's floor. Side by side in
one run, interleaved round by round so that load from other processes hits all alike: the
bare interpreter (``python -I -S -c pass``, no jail), the venv's ``python -c pass`` (what
``-I -S`` saves), and ``run_snippet("pass")`` through each jail that works here (bwrap,
unshare, rlimits only), end to end (scratch directory, spawn, limits, pipes, clean-up) and
as the snippet process's own lifetime; then the sandbox tool handling an artifact. A
second snippet does a little work (sum of squares below 10^5). Medians of RUNS rounds; no
model, no data set, no randomness (seed: none). Target: ≤ 100 ms median end to end.

    ./smol bench sandbox [RUNS]
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

from bench._report import report
from smolcpu.artifact import Artifact
from smolcpu.units.tools import SandboxTool, available_jails, run_snippet
from smolcpu.units.tools._sandbox_jail import INTERPRETER

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 30
TARGET_MS = 100.0
SNIPPETS = {"pass": "pass", "work": "print(sum(i * i for i in range(10**5)))"}

Measure = Callable[[], Awaitable[tuple[float, float | None]]]


def spawn(*command: str) -> Measure:
    """Wall time of one plain subprocess, with no sandbox around it."""

    async def measure() -> tuple[float, float | None]:
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        return time.perf_counter() - start, None

    return measure


def snippet(code: str, jail: str) -> Measure:
    """End-to-end wall time of ``run_snippet`` and the snippet process's own lifetime."""

    async def measure() -> tuple[float, float | None]:
        start = time.perf_counter()
        result = await run_snippet(code, isolation=jail)
        wall = time.perf_counter() - start
        if not result.ok:
            raise RuntimeError(f"{jail}: the benchmark snippet failed: {result.stderr or result.killed_by}")
        return wall, result.duration_s

    return measure


def tool_request(code: str) -> Measure:
    """The sandbox tool handling an artifact: parsing, the run, the JSON reply artifact."""
    tool = SandboxTool()

    async def measure() -> tuple[float, float | None]:
        start = time.perf_counter()
        reply = await tool.handle(None, None, Artifact.text(code))
        wall = time.perf_counter() - start
        if reply.is_error or reply.as_json()["exit_status"] != 0:
            raise RuntimeError(f"the sandbox tool failed: {reply.payload[:300]!r}")
        return wall, reply.as_json()["duration_s"]

    return measure


async def main() -> None:
    jails = available_jails()
    variants: dict[str, Measure] = {
        "python -I -S, no jail": spawn(str(INTERPRETER), "-I", "-S", "-c", "pass"),
        "venv python (site), no jail": spawn(sys.executable, "-c", "pass"),
    }
    for name, code in SNIPPETS.items():
        for jail in jails:
            variants[f"{jail}: {name}"] = snippet(code, jail)
    variants["tool (auto): pass"] = tool_request("pass")
    for measure in variants.values():  # warm-up: probes, imports, page cache
        await measure()
    figures: dict[str, list[tuple[float, float | None]]] = {label: [] for label in variants}
    for _ in range(RUNS):
        for label, measure in variants.items():
            figures[label].append(await measure())

    bare = statistics.median(wall for wall, _ in figures["python -I -S, no jail"]) * 1000
    rows = []
    for label, runs in figures.items():
        wall = statistics.median(w for w, _ in runs) * 1000
        lifetimes = [d for _, d in runs if d is not None]
        process = f"{statistics.median(lifetimes) * 1000:.1f}" if lifetimes else "-"
        rows.append([label, round(wall, 1), process, round(wall / bare, 2), "yes" if wall <= TARGET_MS else "NO"])
    report(
        "sandbox",
        f"sandbox start-up per snippet, median of {RUNS} interleaved rounds (ms)",
        ["variant", "end to end ms", "process ms", "× bare python", f"≤ {TARGET_MS:.0f} ms"],
        rows,
        runs=RUNS,
        jails=jails,
        interpreter=str(INTERPRETER),
        snippets=SNIPPETS,
        model=None,
        seed=None,
        target_ms=TARGET_MS,
    )


if __name__ == "__main__":
    asyncio.run(main())
