"""``smol serve`` under load, beside llama.cpp's own server on the same model, in one run.

Each system is a server process of its own on loopback, started, measured and stopped in
turn (never two models at once on the shared cores), all with the same model file, threads,
prompts, ``max_tokens`` and seed:

- ``llama.cpp``: llama.cpp's OpenAI-compatible server through xllamacpp (as bench/solve
  starts it), the raw model;
- ``smol raw``: ``smol serve``, the same model by its registry name (the LLM unit in its
  Lifecycle worker, behind the job queue);
- ``smol program``: ``smol serve``, model ``smol``: the default program on its LLM
  (``--program-model``, the 1.5B by default), on short questions.

Two phases. Overhead: one client, one request after another, to llama.cpp's server and
``smol serve`` raw in turn (both up at once, only one computing: what load there is on the
machine falls on both alike); a server's own cost per request is the client's latency less
the model's own time (llama.cpp's ``timings`` in its answer, Smol's ``Server-Timing: llm``
header). Smol's ``Server-Timing`` splits its cost: ``engine`` (the call into llama.cpp in the
LLM's worker process, less the model's time: llama.cpp's queue and chat template, which
llama.cpp's server spends too), ``unit`` (the request to the LLM unit, less ``engine``: the
trip to the worker process and back) and the rest, the HTTP layer and the job queue. Load:
N clients at once, each sending requests back to back, bounded by a count and a time, one
system at a time; p50/p99 latency, aggregate answer tokens/s, and errors (any answer that
is not 200 or a clean 429/503 is lost). Prints a table and writes bench/results/server.json.

    ./smol bench server [--clients 4] [--requests 24] [--seconds 300] [--max-tokens 64]
                        [--overhead 30] [--overhead-tokens 4]
                        [--systems llama.cpp,smol-raw,smol-program] [--smolagents] [--bfcl N]

``--smolagents`` also runs smolagents' ``OpenAIServerModel`` against ``smol serve``;
``--bfcl N`` sends N BFCL simple_python items in their OpenAI function-calling form.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from bench._report import report
from smolcpu import config

QUESTIONS = (
    "A shop sells 14 pens at $3 each and 9 notebooks at $5 each. What is the total?",
    "Tom runs 7 km a day for 12 days, then 4 km a day for 5 days. How far does he run?",
    "A tank holds 250 litres; 35 litres leak out each hour. How much is left after 6 hours?",
    "Mia has 48 stickers and gives a quarter to each of her 3 friends. How many does she keep?",
    "Write a Python function that returns the largest of three numbers.",
    "What is 17 * 23 + 4?",
)
SEED = 7
CLEAN_REFUSALS = (429, 503)
"""Statuses that are an answer too: the server said, in time, that it has no room."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_up(url: str, process: subprocess.Popen[Any], *, seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with code {process.returncode}")
        try:
            if httpx.get(url, timeout=5).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not come up within {seconds}s")


@contextmanager
def smol_server(model: str) -> Iterator[str]:
    """``smol serve`` on a free loopback port (its programs' LLM: ``model``); its /v1 URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "smolcpu", "serve", "--port", str(port), "--model", model, "--capacity", "64"],
        env=os.environ | {"SMOL_API_KEYS": ""},
    )
    try:
        wait_up(f"http://127.0.0.1:{port}/health", process)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        process.wait(60)


@contextmanager
def llama_server(model: str) -> Iterator[str]:
    """llama.cpp's own server on ``model`` with the LLM unit's parameters; its /v1 URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.solve._endpoint", "--model", model,
         "--context", str(config.LLM_CONTEXT), "--threads", str(config.LLM_THREADS)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env=os.environ | {"OMP_WAIT_POLICY": config.LLM_WAIT_POLICY.upper()},  # threads wait as the LLM unit's do
    )  # fmt: skip
    try:
        line = json.loads(process.stdout.readline() or '{"error": "no answer"}')
        if "ready" not in line:
            raise RuntimeError(f"llama.cpp's server did not start: {line.get('error')}")
        yield line["ready"]["api_base"]
    finally:
        process.stdin.close()
        process.wait(60)


def server_timing(reply: httpx.Response) -> dict[str, float]:
    """The times a server reports for a request (ms): ``llm``, the model's own, from Smol's
    ``Server-Timing`` header or llama.cpp's ``timings``; ``unit``, Smol's request to its LLM
    unit (the model's time and the runtime's, across the worker process boundary)."""
    header = reply.headers.get("server-timing", "")
    if header:
        return {name.strip(): float(value) for name, value in (part.split(";dur=") for part in header.split(","))}
    timings = reply.json().get("timings") if reply.status_code == 200 else None
    if timings:
        return {"llm": float(timings.get("prompt_ms", 0.0)) + float(timings.get("predicted_ms", 0.0))}
    return {}


async def one(http: httpx.AsyncClient, base: str, model: str, number: int, max_tokens: int) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "user", "content": QUESTIONS[number % len(QUESTIONS)]}],
    }
    if model != "smol":  # a program takes no sampling options (it refuses them)
        body |= {"max_tokens": max_tokens, "temperature": 0, "seed": SEED}
    began = time.perf_counter()
    try:
        reply = await http.post(f"{base}/chat/completions", json=body)
    except httpx.HTTPError as exc:
        return {"status": 0, "error": f"{type(exc).__name__}: {exc}", "seconds": time.perf_counter() - began}
    seconds = time.perf_counter() - began
    record: dict[str, Any] = {"status": reply.status_code, "seconds": seconds, **server_timing(reply)}
    if reply.status_code == 200:
        record["tokens"] = reply.json()["usage"]["completion_tokens"]
    else:
        record["error"] = reply.text[:200]
    return record


async def load(base: str, model: str, *, clients: int, requests: int, seconds: float, max_tokens: int) -> tuple[list[dict[str, Any]], float]:
    """``clients`` clients sending back to back until ``requests`` are sent or ``seconds`` pass."""
    numbers = iter(range(requests))
    deadline = time.monotonic() + seconds
    records: list[dict[str, Any]] = []

    async def client(http: httpx.AsyncClient) -> None:
        for number in numbers:
            if time.monotonic() > deadline:
                return
            records.append(await one(http, base, model, number, max_tokens))

    began = time.perf_counter()
    async with httpx.AsyncClient(timeout=httpx.Timeout(seconds + 60)) as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))
    return records, time.perf_counter() - began


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def overhead(servers: dict[str, tuple[str, str]], options: argparse.Namespace) -> dict[str, dict[str, float]]:
    """One client, ``--overhead`` rounds of one request to each server in turn; each server's
    own cost per request (ms, p50 and p99) and, for Smol, where it went."""
    print(f"overhead: {', '.join(servers)} in turn", file=sys.stderr, flush=True)
    records: dict[str, list[dict[str, Any]]] = {name: [] for name in servers}
    deadline = time.monotonic() + options.seconds

    async def rounds() -> None:
        async with httpx.AsyncClient(timeout=httpx.Timeout(options.seconds + 60)) as http:
            for name, (base, model) in servers.items():
                await one(http, base, model, 0, options.overhead_tokens)  # warm
            for number in range(options.overhead):
                if time.monotonic() > deadline:
                    return
                for name, (base, model) in servers.items():
                    records[name].append(await one(http, base, model, number, options.overhead_tokens))

    asyncio.run(rounds())
    stats = {}
    for name, sequential in records.items():
        timed = [r for r in sequential if r["status"] == 200 and r.get("llm")]
        spans = {
            "overhead": [r["seconds"] * 1000 - r["llm"] for r in timed],
            "http_queue": [r["seconds"] * 1000 - r["unit"] for r in timed if "unit" in r],
            "hop": [r["unit"] - r["engine"] for r in timed if "engine" in r],
            "engine": [r["engine"] - r["llm"] for r in timed if "engine" in r],
        }
        stats[name] = {
            f"{span}_p{share}_ms": percentile(values, share / 100) for span, values in spans.items() for share in (50, 99)
        }
        stats[name]["overhead_requests"] = len(timed)
    return stats


def measure(name: str, base: str, model: str, options: argparse.Namespace) -> dict[str, Any]:
    """Load: ``--clients`` clients, ``--requests`` requests in all."""
    print(f"{name}: load", file=sys.stderr, flush=True)
    asyncio.run(load(base, model, clients=1, requests=1, seconds=options.seconds, max_tokens=options.max_tokens))  # warm
    records, wall = asyncio.run(
        load(base, model, clients=options.clients, requests=options.requests, seconds=options.seconds, max_tokens=options.max_tokens)
    )
    answered = [r for r in records if r["status"] == 200]
    latencies = [r["seconds"] for r in answered]
    return {
        "system": name,
        "model": model,
        "requests": len(records),
        "answered": len(answered),
        "refused": sum(r["status"] in CLEAN_REFUSALS for r in records),
        "lost": sum(r["status"] not in (200, *CLEAN_REFUSALS) for r in records),
        "p50_s": percentile(latencies, 0.5),
        "p99_s": percentile(latencies, 0.99),
        "tokens_per_s": sum(r.get("tokens", 0) for r in answered) / wall if wall else 0.0,
        "wall_s": wall,
        "errors": sorted({r["error"] for r in records if "error" in r})[:5],
    }


def smolagents_check(model: str) -> dict[str, Any]:
    """smolagents' OpenAIServerModel against ``smol serve`` (in the benchmark's own venv)."""
    from bench.solve._environment import bench_python

    python = bench_python()
    script = (
        "import sys\n"
        "from smolagents import OpenAIServerModel\n"
        "from smolagents.models import ChatMessage\n"
        "model = OpenAIServerModel(model_id=sys.argv[2], api_base=sys.argv[1], api_key='unused')\n"
        "out = model.generate([ChatMessage(role='user', content=[{'type': 'text', 'text': 'Say hello.'}])])\n"
        "print(repr(out.content))\n"
    )
    with smol_server(model) as base:
        done = subprocess.run([str(python), "-c", script, base, model], capture_output=True, text=True, timeout=600)
    return {"ok": done.returncode == 0 and bool(done.stdout.strip()), "output": (done.stdout or done.stderr).strip()[-300:]}


def bfcl_check(model: str, limit: int) -> dict[str, Any]:
    """BFCL simple_python in its OpenAI function-calling form through ``smol serve``: each
    question with its functions as ``tools``, the ``tool_calls`` checked by BFCL's AST check
    (bench/solve's scorer)."""
    from bench.solve._bfcl import check, load, openai_tools

    items = load()[:limit]
    right = 0
    failures: list[str] = []
    with smol_server(model) as base, httpx.Client(timeout=600) as http:
        for item in items:
            reply = http.post(f"{base}/chat/completions", json={
                "model": model, "temperature": 0, "seed": SEED, "max_tokens": 256,
                "messages": [{"role": "user", "content": item.request}], "tools": openai_tools(item.functions),
            })  # fmt: skip
            if reply.status_code != 200:
                failures.append(f"{item.id}: HTTP {reply.status_code}")
                continue
            message = reply.json()["choices"][0]["message"]
            calls = [
                {call["function"]["name"]: json.loads(call["function"]["arguments"])}
                for call in message.get("tool_calls") or ()
            ]
            verdict = check(item.functions, calls, item.reference)
            right += verdict.correct
            if not verdict.correct:
                failures.append(f"{item.id}: {verdict.detail}")
    return {"model": model, "items": len(items), "right": right, "failures": failures[:10]}


def main() -> None:
    parser = argparse.ArgumentParser(prog="smol bench server", description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients in the load phase")
    parser.add_argument("--requests", type=int, default=24, help="requests in the load phase, in all")
    parser.add_argument("--overhead", type=int, default=30, help="overhead rounds (a request to each server)")
    parser.add_argument("--overhead-tokens", type=int, default=4, help="answer tokens per overhead request")
    parser.add_argument("--seconds", type=float, default=300, help="time bound of each phase")
    parser.add_argument("--max-tokens", type=int, default=64, help="answer tokens per raw request")
    parser.add_argument("--model", default="smollm2", help="the raw model of llama.cpp and smol raw")
    parser.add_argument("--program-model", default="qwen2.5-coder-1.5b", help="the LLM of the default program")
    parser.add_argument("--systems", default="llama.cpp,smol-raw,smol-program")
    parser.add_argument("--smolagents", action="store_true", help="also run smolagents' OpenAIServerModel against it")
    parser.add_argument("--bfcl", type=int, default=0, help="also run this many BFCL simple_python items (OpenAI tools)")
    parser.add_argument("--bfcl-model", default="qwen2.5-coder-1.5b", help="the raw model BFCL's items are sent to")
    options = parser.parse_args()
    systems = options.systems.split(",")
    results = []
    load_began = load_overhead = os.getloadavg()[0]
    with contextlib.ExitStack() as servers:  # both up at once for the overhead phase; load one at a time
        raw: dict[str, tuple[str, str]] = {}
        if "llama.cpp" in systems:
            raw["llama.cpp server"] = (servers.enter_context(llama_server(options.model)), options.model)
        if "smol-raw" in systems:
            raw["smol serve (raw)"] = (servers.enter_context(smol_server(options.model)), options.model)
        costs = overhead(raw, options) if raw else {}
        load_overhead = os.getloadavg()[0]
        for name, (base, model) in raw.items():
            results.append(measure(name, base, model, options) | costs[name])
    if "smol-program" in systems:
        program = argparse.Namespace(**{**vars(options), "requests": max(options.clients, options.requests // 4)})
        with smol_server(options.program_model) as base:
            results.append(measure(f"smol serve (program on {options.program_model})", base, "smol", program))
    extra: dict[str, Any] = {"load_average": {"start": load_began, "overhead_phase": load_overhead}}
    by_name = {r["system"]: r for r in results}
    llama, smol = by_name.get("llama.cpp server"), by_name.get("smol serve (raw)")
    if llama and smol and llama["tokens_per_s"]:
        extra["raw_vs_llama_tokens_per_s"] = smol["tokens_per_s"] / llama["tokens_per_s"]
    if llama and smol:
        extra["overhead_over_llama_p50_ms"] = smol["overhead_p50_ms"] - llama["overhead_p50_ms"]
        extra["overhead_vs_llama_p50"] = smol["overhead_p50_ms"] / llama["overhead_p50_ms"]
    if options.smolagents:
        extra["smolagents"] = smolagents_check(options.model)
    if options.bfcl:
        extra["bfcl"] = bfcl_check(options.bfcl_model, options.bfcl)
    columns = [
        "system", "model", "requests", "answered", "refused", "lost", "p50 s", "p99 s", "tokens/s",
        "overhead p50 ms", "overhead p99 ms", "HTTP+queue p50 ms", "worker hop p50 ms", "engine p50 ms",
    ]  # fmt: skip
    keys = [
        "system", "model", "requests", "answered", "refused", "lost", "p50_s", "p99_s", "tokens_per_s",
        "overhead_p50_ms", "overhead_p99_ms", "http_queue_p50_ms", "hop_p50_ms", "engine_p50_ms",
    ]  # fmt: skip
    report(
        "server",
        f"smol serve vs llama.cpp's server: {options.clients} clients, {options.max_tokens} tokens,"
        f" {options.overhead} overhead rounds, load {os.getloadavg()[0]:.1f}",
        columns,
        [[r.get(key, float("nan")) for key in keys] for r in results],
        results=results,
        options=vars(options),
        threads=config.LLM_THREADS,
        **extra,
    )
    for name, value in extra.items():
        print(f"{name}: {value}")


if __name__ == "__main__":
    main()
