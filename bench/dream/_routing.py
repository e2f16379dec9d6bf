"""Routing decisions before and after dreaming, in one run.

A workload of requests made from templates of each route of the default program (not the
classifier's examples), labelled by a teacher: a keyword router standing in for the LLM
(``rules``: the same answer every time, so agreement is measurable), or the LLM chooser
itself (``llm``). Before: the LLM chooser (SmolLM2 by default) decides a sample. Dreaming:
the first 70% of the workload's decisions, recorded as the LLM's, are distilled through the
real path (``distil``, ``adopt``: an artifact and the pointer file). After: the
:class:`~smolcpu.vm.DistilledChooser` decides the other 30% and the workload once more,
deferring to the LLM chooser when unsure and auditing 5% as in service.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

ROUTES = {
    "a math word problem": [
        "{name} has {a} {thing} and buys {b} more. Each costs ${c}. How much did the new ones cost?",
        "A {vehicle} travels {a} miles per hour for {b} hours. How far does it go?",
        "{name} reads {a} pages a day. The book has {big} pages. How many days to finish it?",
        "There are {a} boxes with {b} {thing} in each. {name} gives away {c}. How many are left?",
        "{name} earns ${a} an hour and works {b} hours a week. How much in {c} weeks?",
    ],
    "a bare calculation": [
        "What is {a} * {b}?",
        "Calculate {a}% of {big}.",
        "{a} + {b} * {c}",
        "What's the square root of {sq}?",
        "How much is {big} minus {a}?",
    ],
    "a request to write code": [
        "Write a Python function that {task}.",
        "Implement a function to {task} in Python.",
        "Can you write code that {task}?",
        "Create a Python class that {task}.",
    ],
    "a question about my notes": [
        "What did I write down about {topic}?",
        "Do my notes say anything about {topic}?",
        "What is my {secret}? I saved it somewhere.",
    ],
    "something for you to remember": [
        "Remember that my {secret} is {a}{b}.",
        "Please note: {topic} is on {day}.",
        "Keep in mind that {name} likes {thing}.",
    ],
    "default": [
        "Tell me a fun fact about {topic}.",
        "How are you today, {name}?",
        "What is the capital of {country}?",
        "Write a short poem about {topic}.",
    ],
}
WORDS = {
    "name": ["Tom", "Maria", "Jake", "Lily", "Ahmed", "Sara"],
    "thing": ["apples", "pencils", "stickers", "marbles", "books"],
    "vehicle": ["train", "car", "bus", "boat"],
    "task": ["reverses a list", "counts vowels in a string", "merges two dicts", "checks for primes",
             "parses a CSV line", "finds the longest word"],
    "topic": ["the dentist", "my trip to Rome", "the garden", "the quarterly budget", "autumn", "the ocean"],
    "secret": ["bike lock code", "wifi password", "locker number"],
    "day": ["Monday", "Friday", "the 3rd of May"],
    "country": ["France", "Peru", "Japan", "Kenya"],
}


def workload(n: int, seed: int) -> list[tuple[str, str]]:
    """``n`` requests with the route each was made for."""
    rng = random.Random(seed)
    found = []
    for _ in range(n):
        route = rng.choice(list(ROUTES))
        values = {key: rng.choice(options) for key, options in WORDS.items()}
        values |= {"a": rng.randint(2, 60), "b": rng.randint(2, 30), "c": rng.randint(2, 9),
                   "big": rng.randint(100, 900), "sq": rng.choice([49, 81, 144, 625])}
        found.append((rng.choice(ROUTES[route]).format(**values), route))
    return found


def rules(text: str) -> str:
    """The stand-in teacher: a keyword router."""
    lower = text.lower()
    if any(w in lower for w in ("python", "function", "code", "class that", "implement")):
        return "a request to write code"
    if any(w in lower for w in ("remember", "note:", "keep in mind")):
        return "something for you to remember"
    if any(w in lower for w in ("my notes", "write down", "saved it")):
        return "a question about my notes"
    if any(w in lower for w in ("how much", "how far", "how many")) and any(c.isalpha() for c in lower.split()[0]) \
            and len(lower.split()) > 6:
        return "a math word problem"
    if any(c.isdigit() for c in lower) and len(lower.split()) <= 8:
        return "a bare calculation"
    return "default"


def run(*, requests: int, llm_sample: int, model: str, teacher: str, seed: int) -> dict[str, Any]:
    home = Path("/tmp") / f"smol-bench-dream-routing-{seed}"
    shutil.rmtree(home, ignore_errors=True)
    os.environ["SMOL_HOME"] = str(home)
    return asyncio.run(_run(requests, llm_sample, model, teacher, seed))


async def _run(requests: int, llm_sample: int, model: str, teacher: str, seed: int) -> dict[str, Any]:
    from smolcpu.artifact import Artifact, RunIndex, open_store
    from smolcpu.dream import Decided, distil
    from smolcpu.dream._choosers import adopt
    from smolcpu.dream._dream import default_embedder
    from smolcpu.runtime import ActorSystem
    from smolcpu.vm import Choice, Decision, DistilledChooser, Lifecycle, LlmChooser

    embed = default_embedder()
    if embed is None:
        raise SystemExit("bench dream --part routing needs MiniLM: ./smol models install minilm")
    options = tuple(ROUTES)
    items = workload(requests, seed)
    cut = int(len(items) * 0.7)

    async def timed(chooser: Any, text: str) -> tuple[Decision, float]:
        began = time.perf_counter()
        decision = await chooser.decide(Choice("match", "route", options, Artifact.text(text)))
        return decision, time.perf_counter() - began

    async with ActorSystem(record=False) as system, Lifecycle(system) as lifecycle:
        async def ask(request: Artifact, *, timeout: float) -> Artifact:
            return await lifecycle.request("llm", request, params={"model": model}, timeout=timeout)

        llm = LlmChooser(ask, timeout=120)
        await timed(llm, "warm up")  # the model loads once, not in the figures
        before = [await timed(llm, text) for text, _ in items[:llm_sample]]
        labels = [rules(text) for text, _ in items] if teacher == "rules" else None
        if labels is None:
            labels = [(await timed(llm, text))[0].option for text, _ in items]
        dreamt_at = time.perf_counter()
        taught = [Decided("bench", "default.smol", "match", "route", options, text, label, "llm", 0.0, True)
                  for (text, _), label in zip(items[:cut], labels[:cut], strict=True)]
        distilled = distil("default.smol#route", taught, embed, seed=seed)
        with RunIndex() as index, open_store(index=index) as store:
            adopt(store, distilled)
        dream_seconds = time.perf_counter() - dreamt_at

        async def vectors(texts: list[str]) -> list[list[float]]:
            return (await asyncio.to_thread(embed, texts)).tolist()

        student = DistilledChooser(vectors, llm, program="default.smol", seed=seed)
        await timed(student, "warm up")
        after_items = items[cut:] + items
        after_labels = labels[cut:] + labels
        after = [await timed(student, text) for text, _ in after_items]
    taken = [(d, label) for (d, _), label in zip(after, after_labels, strict=True) if d.by == "distilled"]
    agreed = sum(d.option == label for d, label in taken)

    def row(name: str, found: list[tuple[Decision, float]]) -> dict[str, Any]:
        seconds = [s for _, s in found]
        return {"chooser": name, "decisions": len(found), "per_second": round(len(found) / sum(seconds), 2),
                "median_ms": round(statistics.median(seconds) * 1000, 2)}

    distilled_only = [pair for pair in after if pair[0].by == "distilled"]
    return {
        "rows": [row(f"LLM ({model})", before), row("after dreaming (distilled, deferring)", after)]
        + ([row("distilled decisions alone", distilled_only)] if distilled_only else []),
        "held_out": distilled.summary(),
        "coverage": round(len(taken) / len(after), 4),
        "agreement": round(agreed / max(len(taken), 1), 4),
        "speedup_median": round(statistics.median(s for _, s in before) / statistics.median(s for _, s in distilled_only), 1)
        if distilled_only else None,
        "teacher": teacher,
        "teacher_vs_templates": round(sum(rules(t) == r for t, r in items) / len(items), 4),
        "dream_seconds": round(dream_seconds, 2),
        "requests": requests,
    }


__all__ = ["run", "rules", "workload"]
