"""GSM8K with experience memory: learnt from dev items 1..L, measured on 201..200+M, same run.

Phase 1 asks the learning items with recording on (in a Smol home of the benchmark's own),
then dreams: the problems whose answers passed the default program's check go into the
experience memory (never the references: Smol learns from its own verified runs). Phase 2
asks each measured item twice in one session, interleaved so that load hits both alike: the
default program as shipped, and the same program whose word-problem route first asks
``experience`` for the two most similar solved problems (shown to the writer as worked
examples in its user message).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

from bench.solve._gsm8k import load, score

WIRED_USE = 'use solved = experience with k = 2\n'
ROUTE = '"a math word problem"                   => [ask.write.jump]'
WIRED_ROUTE = '"a math word problem"                   => [ask.solved.jump]'
WRITE = "    write<2>                  => next\n"


def with_experience(source: str) -> str:
    """The default program with the experience step in front of its word-problem writer."""
    if ROUTE not in source or WRITE not in source:
        raise SystemExit("the default program's word-problem route changed: update bench/dream/_experience.py")
    source = source.replace("use run = sandbox\n", "use run = sandbox\n" + WIRED_USE, 1)
    source = source.replace(ROUTE, WIRED_ROUTE, 1)
    return source.replace(WRITE, "    solved                    => next\n" + WRITE, 1)


def wired_program(directory: Path) -> Path:
    """The wired program beside a copy of the default program's choice examples."""
    from smolcpu.programs import DEFAULT_PROGRAM

    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "experienced.smol"
    path.write_text(with_experience(DEFAULT_PROGRAM.read_text()))
    shutil.copy(DEFAULT_PROGRAM.with_suffix(".examples.json"), path.with_suffix(".examples.json"))
    return path


def run(*, learn: range, measure: range, model: str, home: Path, log: Path) -> dict[str, Any]:
    """Both phases; every answer is appended to ``log`` as it comes (JSON lines)."""
    if home.exists():
        shutil.rmtree(home)
    os.environ["SMOL_HOME"] = str(home)
    import smolcpu
    from smolcpu.dream import dream
    from smolcpu.dream._dream import default_embedder

    items = load()
    program = wired_program(home / "programs")
    log.parent.mkdir(parents=True, exist_ok=True)

    async def phase(plan: list[tuple[str, Any, Any]]) -> list[dict[str, Any]]:
        rows = []
        async with smolcpu.Session(model=model) as session:
            for label, item, chosen in plan:
                began = time.monotonic()
                answer = await session.ask(item.task, program=chosen)
                verdict = score(item, {"output": answer.text})
                row = {"phase": label, "item": item.id, "right": verdict.correct, "seconds": time.monotonic() - began,
                       "answer": answer.text[:200], "status": answer.status}
                rows.append(row)
                with log.open("a") as out:
                    out.write(json.dumps(row) + "\n")
        return rows

    learnt = asyncio.run(phase([("learn", items[i], None) for i in learn]))
    report = dream(embed=default_embedder())
    plan = []
    for i in measure:
        plan += [("plain", items[i], None), ("experience", items[i], program)]
    measured = asyncio.run(phase(plan))
    summary: dict[str, Any] = {"learnt_right": sum(r["right"] for r in learnt), "learnt": len(learnt),
                               "experience_added": report.experience_added}
    for label in ("plain", "experience"):
        rows = [r for r in measured if r["phase"] == label]
        summary[label] = {
            "right": sum(r["right"] for r in rows),
            "items": len(rows),
            "median_s": statistics.median(r["seconds"] for r in rows) if rows else None,
        }
    return summary


__all__ = ["run", "with_experience", "wired_program"]
