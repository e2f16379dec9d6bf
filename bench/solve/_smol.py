"""Runner: Smol itself, its default program through a :class:`smolcpu.Session` kept open.

``smolcpu.ask`` opens a session (actor system, Lifecycle, model workers) per question; the
runner keeps one open across the items, as an application embedding Smol would, so that
the model loads once, as it does for the other systems. Each item goes in the way a user
would ask it: the request, its picture, and for BFCL the functions as tools.

    python -m bench.solve._smol --model NAME --threads N --program FILE  # "" for the default program
"""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import Any

from bench.solve._bfcl import openai_tools
from bench.solve._runner import Solve, run


def start(options: argparse.Namespace) -> tuple[Solve, dict[str, Any]]:
    os.environ["SMOL_LLM_THREADS"] = str(options.threads)  # read when Smol's config is imported
    import smolcpu

    if not hasattr(smolcpu, "Session"):
        raise RuntimeError("this Smol has no smolcpu.Session / smolcpu.ask yet (issue 9, section 3)")
    loop = asyncio.new_event_loop()
    session = smolcpu.Session(model=options.model)
    loop.run_until_complete(session.__aenter__())

    def solve(item: dict[str, Any]) -> dict[str, Any]:
        tools = openai_tools(item["functions"])
        question = item["request"] if tools else item["task"]
        answer = loop.run_until_complete(
            session.ask(question, images=item["images"], tools=tools, program=options.program or None)
        )
        return {
            "output": answer.text,
            "steps": answer.steps,
            "tokens": answer.tokens,
            "status": answer.status,
            "run_id": answer.run_id,
        }

    program = options.program or "the default program"
    return solve, {"model": options.model, "threads": options.threads, "smol": smolcpu.__version__, "program": program}


if __name__ == "__main__":
    run(start, model=str, threads=int, program=str)
