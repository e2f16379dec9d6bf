"""One llama.cpp server in a process of its own, as a configuration of the speed benchmark asks.

Its own module (not ``__main__``) so that a spawned process can import it. The OpenMP wait
policy is read when llama.cpp loads, so each configuration needs a fresh process.
"""

from __future__ import annotations

import os
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from smolcpu.units.neural import server_params, set_wait_policy


def generate(server: Any, request: dict[str, Any]) -> dict[str, float]:
    """One streamed chat answer: its completion tokens, seconds to the first token, and when it ended."""
    started = time.perf_counter()
    first: list[float] = []
    last: dict[str, Any] = {}

    def receive(chunk: dict[str, Any]) -> bool:
        nonlocal last
        if not first and any((choice.get("delta") or {}).get("content") for choice in chunk.get("choices", ())):
            first.append(time.perf_counter() - started)
        last = chunk
        return False

    server.handle_chat_completions({**request, "stream": True}, receive)
    timings = last.get("timings") or {}
    return {
        "tokens": float(timings.get("predicted_n", 0)),
        "ttft": first[0] if first else float("nan"),
        "ended": time.perf_counter(),
        "cached": float(timings.get("cache_n", 0)),
        "draft_accepted": float(timings.get("draft_n_accepted", 0)),
        "draft": float(timings.get("draft_n", 0)),
    }


def concurrently(server: Any, requests: list[dict[str, Any]]) -> dict[str, Any]:
    """``requests`` answered at the same time (one thread each): aggregate tokens/s and each answer."""
    answers: list[dict[str, float]] = [{} for _ in requests]

    def one(index: int) -> None:
        answers[index] = generate(server, requests[index])

    started = time.perf_counter()
    threads = [threading.Thread(target=one, args=(index,)) for index in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = max(answer["ended"] for answer in answers) - started
    return {"tokens_per_s": sum(answer["tokens"] for answer in answers) / wall, "answers": answers}


def serve(connection: Connection, options: dict[str, Any]) -> None:
    """Child process: a server made from ``options``; each list of requests sent is answered at once."""
    os.environ.pop("OMP_WAIT_POLICY", None)
    set_wait_policy(options["wait_policy"])
    import xllamacpp

    params = server_params(
        Path(options["model"]),
        context=options["context"],
        threads=options["threads"],
        prompt_cache_mb=options["prompt_cache_mb"],
        speculative=options["speculative"],
    )
    params.n_parallel = options["parallel"]
    server = xllamacpp.Server(params)
    connection.send("ready")
    while (requests := connection.recv()) is not None:
        connection.send(concurrently(server, requests))
