"""Soak: ``smol serve`` under steady load from loopback clients while its model workers are
killed at random; then every artifact it recorded is read back.

Needs the MiniLM model (``./smol models install minilm``).

The server (a process of its own, a fresh SMOL_HOME) serves two programs: ``calc`` (the
math tool, in the server's process) and ``embed`` (MiniLM in a Lifecycle worker process,
with a retry by policy: ``e => send | continue`` then a second embed step). N clients send
chat completions back to back, half to each, for ``--seconds``; a killer SIGKILLs one of
the server's worker processes every ``--kill-every`` seconds or so (uniform ±50 %), and a
sampler reads the server's process tree's memory (PSS, every page counted once) every
second. Then the server is stopped as Ctrl-C stops it and the store is verified.

Reported: requests served and errors by kind (a 429 is a clean refusal, not a loss),
latency, the kills, how many runs ended how, artifacts written (indexed) against verified
(read back intact) — which must be equal — and memory over time: its peak against the
budget, and the mean of the last quarter against the second (growth). Prints a table and
writes bench/results/soak.json (with the memory series).

    ./smol bench soak [--clients 4] [--seconds 120] [--kill-every 10] [--seed 0]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import random
import signal
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench._report import report
from smolcpu import config
from smolcpu.testing import ServerProcess

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

EMBED = """\
; Embed the text; when the worker fails (the soak kills it now and then), try once more.
smol >= 0.1
use e = embed
use again = embed
out <= switch <= (
  e => send | continue
  again => send
) <= in
"""
WORDS = "the quick brown fox jumps over a lazy dog while small models answer many questions".split()
WORKER = "smolcpu.runtime._worker_main"
"""What a worker process's command line names (the recorder and sandbox children are spared)."""
MB = 1024**2


def question(rng: random.Random) -> tuple[str, str]:
    """A program and its input, half arithmetic for ``calc``, half a sentence for ``embed``."""
    if rng.random() < 0.5:
        return "smol/calc", f"{rng.randint(1, 999)} * {rng.randint(1, 99)} + {rng.randint(0, 9)}"
    return "smol/embed", " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12)))


def error_kind(status: int, text: str) -> str:
    """What went wrong with one request, in a few words."""
    if status == 429:
        return "429 queue full (clean refusal)"
    for marker in ("WorkerCrashed", "UnitStopped", "timeout", "BudgetError"):
        if marker in text:
            return f"{status} {marker}"
    return f"{status} other: {text[:80]}"


async def client(url: str, rng: random.Random, until: float, log: list[dict[str, Any]]) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=120) as http:
        while time.monotonic() < until:
            model, text = question(rng)
            began = time.monotonic()
            try:
                answer = await http.post(
                    "/v1/chat/completions", json={"model": model, "messages": [{"role": "user", "content": text}]}
                )
                status, body = answer.status_code, answer.text
            except httpx.TransportError as exc:
                status, body = 0, f"transport {type(exc).__name__}"
            log.append({"model": model, "status": status, "seconds": time.monotonic() - began,
                        "kind": "" if status == 200 else error_kind(status, body)})  # fmt: skip
            if status == 429:
                await asyncio.sleep(0.2)


def workers_of(pid: int) -> list[psutil.Process]:
    try:
        tree = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    found = []
    for process in tree:
        try:
            if WORKER in " ".join(process.cmdline()):
                found.append(process)
        except psutil.Error:
            pass
    return found


async def killer(pid: int, rng: random.Random, every: float, until: float, kills: list[dict[str, Any]]) -> None:
    start = time.monotonic()
    while True:
        await asyncio.sleep(every * rng.uniform(0.5, 1.5))
        if time.monotonic() >= until:
            return
        workers = workers_of(pid)
        if workers:
            victim = rng.choice(workers)
            try:
                victim.send_signal(signal.SIGKILL)
                kills.append({"at": round(time.monotonic() - start, 1), "pid": victim.pid})
            except psutil.NoSuchProcess:
                pass


def tree_memory(pid: int) -> int:
    """Proportional set size of ``pid`` and its descendants (shared pages split, not repeated)."""
    total = 0
    try:
        processes = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    for process in processes:
        try:
            total += process.memory_full_info().pss
        except psutil.Error:
            pass
    return total


async def sampler(pid: int, until: float, samples: list[tuple[float, int]]) -> None:
    start = time.monotonic()
    while time.monotonic() < until:
        samples.append((round(time.monotonic() - start, 1), await asyncio.to_thread(tree_memory, pid)))
        await asyncio.sleep(1.0)


async def load(server: ServerProcess, args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    until = time.monotonic() + args.seconds
    log: list[dict[str, Any]] = []
    kills: list[dict[str, Any]] = []
    samples: list[tuple[float, int]] = []
    async with asyncio.TaskGroup() as tasks:
        for _ in range(args.clients):
            tasks.create_task(client(server.url, random.Random(rng.random()), until, log))
        tasks.create_task(killer(server.pid, rng, args.kill_every, until, kills))
        tasks.create_task(sampler(server.pid, until, samples))
    return {"log": log, "kills": kills, "samples": samples}


def audit(home: Path) -> dict[str, Any]:
    """Read back what the server recorded: runs by status, failed steps (every error artifact
    of a run: only kills fail steps here), artifacts indexed against intact."""
    os.environ["SMOL_HOME"] = str(home)
    from smolcpu.artifact import ERROR, RunIndex, open_store

    with RunIndex(config.index_path()) as index, open_store(config.store_url(), index=index) as store:
        runs = index.runs()
        crashed = sum(record.type == ERROR for run in runs for record in index.artifacts(run.id))
        written = len(index.keys())
        found = store.verify()
    return {"runs": dict(collections.Counter(run.status for run in runs)), "crashed_steps": crashed, "written": written,
            "intact": found.intact, "corrupt": len(found.corrupt), "missing": len(found.missing),
            "leftovers": len(found.leftovers)}  # fmt: skip


def quantile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def main() -> None:
    parser = argparse.ArgumentParser(prog="smol bench soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=4, help="Clients sending requests back to back.")
    parser.add_argument("--seconds", type=float, default=120, help="How long the load lasts.")
    parser.add_argument("--kill-every", type=float, default=10, help="Mean seconds between two worker kills.")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="smol-soak-"))
    programs = home / "programs"
    programs.mkdir()
    (programs / "calc.smol").write_text((EXAMPLES / "calc.smol").read_text())
    (programs / "embed.smol").write_text(EMBED)
    env = {**os.environ, "SMOL_HOME": str(home)}
    env.pop("SMOL_STORE", None)
    env.pop("SMOL_INDEX", None)
    with ServerProcess(programs, env=env, log=home / "serve.log") as server:
        measured = asyncio.run(load(server, args))
        alive = len(workers_of(server.pid))
    audited = audit(home)

    log, samples = measured["log"], [size for _, size in measured["samples"]]
    served = [entry for entry in log if entry["status"] == 200]
    errors = collections.Counter(entry["kind"] for entry in log if entry["status"] != 200)
    latencies = sorted(entry["seconds"] for entry in served) or [0.0]
    quarter = max(1, len(samples) // 4)
    second, last = statistics.mean(samples[quarter : 2 * quarter] or samples), statistics.mean(samples[-quarter:])
    budget = config.MEMORY_BUDGET_BYTES
    lost = audited["corrupt"] + audited["missing"]
    rows: list[list[Any]] = [
        ["requests sent", len(log)],
        ["requests served (200)", len(served)],
        ["served per second", len(served) / args.seconds],
        ["latency p50 / p99 (s)", f"{quantile(latencies, 0.5):.3f} / {quantile(latencies, 0.99):.3f}"],
        *[[f"error: {kind}", count] for kind, count in sorted(errors.items())],
        ["worker processes killed", len(measured["kills"])],
        ["steps that failed (a kill), each retried by the program", audited["crashed_steps"]],
        ["worker processes alive at the end", alive],
        ["runs by status", ", ".join(f"{status} {count}" for status, count in sorted(audited["runs"].items()))],
        ["artifacts written (indexed)", audited["written"]],
        ["artifacts verified (read back intact)", audited["intact"]],
        ["artifacts corrupt / missing", f"{audited['corrupt']} / {audited['missing']}"],
        ["artifacts lost (corrupt + missing)", lost],
        ["memory peak / budget (MB)", f"{max(samples, default=0) / MB:,.0f} / {budget / MB:,.0f}"],
        ["memory mean, 2nd quarter → last quarter (MB)", f"{second / MB:,.0f} → {last / MB:,.0f}"],
    ]
    report(
        "soak",
        f"smol serve soak: {args.clients} clients, {args.seconds:g} s, a worker killed every ~{args.kill_every:g} s",
        ["figure", "value"],
        rows,
        clients=args.clients,
        seconds=args.seconds,
        kill_every=args.kill_every,
        seed=args.seed,
        errors=dict(errors),
        kills=measured["kills"],
        memory_series=measured["samples"],
        audit=audited,
        home=str(home),
    )


if __name__ == "__main__":
    main()
