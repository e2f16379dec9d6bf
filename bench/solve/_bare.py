"""Runner: the bare LLM, one greedy chain-of-thought generation per item through Smol's LLM engine.

    python -m bench.solve._bare --model NAME --max-tokens N --context N --threads N --seed N
"""

from __future__ import annotations

import argparse
from typing import Any

from bench.solve._runner import Solve, serve


def start(options: argparse.Namespace) -> tuple[Solve, dict[str, Any]]:
    from smolcpu.units.neural import LLMEngine

    engine = LLMEngine(options.model, context=options.context, threads=options.threads)
    engine.load()

    def solve(item: dict[str, Any]) -> dict[str, Any]:
        answer = engine.chat(item["messages"], max_tokens=options.max_tokens, temperature=0.0, seed=options.seed)
        return {
            "output": answer.text,
            "steps": 1,
            "tokens": answer.prompt_tokens + answer.completion_tokens,
            "status": answer.finish_reason,
        }

    return solve, {"model": engine.model, "context": options.context, "threads": options.threads}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.solve._bare")
    parser.add_argument("--model", required=True)
    parser.add_argument("--max-tokens", type=int, required=True)
    parser.add_argument("--context", type=int, required=True)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    options = parser.parse_args()
    serve(lambda: start(options))


if __name__ == "__main__":
    main()
