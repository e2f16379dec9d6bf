"""Runner: Smol itself, ``smolcpu.ask`` on each item's request (its default program).

    python -m bench.solve._smol --model NAME
"""

from __future__ import annotations

import argparse
from typing import Any

from bench.solve._runner import Solve, serve


def start(options: argparse.Namespace) -> tuple[Solve, dict[str, Any]]:
    import smolcpu

    if not hasattr(smolcpu, "ask"):
        raise RuntimeError("this Smol has no smolcpu.ask yet (issue 9, section 3)")

    def solve(item: dict[str, Any]) -> dict[str, Any]:
        answer = smolcpu.ask(item["task"], images=item["images"], model=options.model)
        return {
            "output": answer.text,
            "steps": answer.steps,
            "tokens": answer.tokens,
            "status": answer.status,
            "run_id": answer.run_id,
        }

    return solve, {"model": options.model, "smol": smolcpu.__version__}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.solve._smol")
    parser.add_argument("--model", required=True)
    options = parser.parse_args()
    serve(lambda: start(options))


if __name__ == "__main__":
    main()
