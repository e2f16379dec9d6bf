"""Runner: the bare LLM, one greedy chain-of-thought generation per item through Smol's LLM engine.

    python -m bench.solve._bare --model NAME --max-tokens N --context N --threads N --seed N
"""

from __future__ import annotations

import argparse
from typing import Any

from bench.solve._runner import Solve, run


def start(options: argparse.Namespace) -> tuple[Solve, dict[str, Any]]:
    from smolcpu.units.neural import LLMEngine

    engine = LLMEngine(options.model, context=options.context, threads=options.threads)
    engine.load()

    def solve(item: dict[str, Any]) -> dict[str, Any]:
        answer = engine.chat(item["messages"], max_tokens=options.max_tokens, temperature=0.0, seed=options.seed)
        return {
            "output": answer.text,
            "steps": 1,
            "tokens": answer.completion_tokens,
            "prompt_tokens": answer.prompt_tokens,
            "status": answer.finish_reason,
        }

    return solve, {"model": engine.model, "context": options.context, "threads": options.threads}


if __name__ == "__main__":
    run(start, model=str, max_tokens=int, context=int, threads=int, seed=int)
