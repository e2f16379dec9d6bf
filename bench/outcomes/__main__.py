"""Spurious cancels: how often an LLM step that may cancel does so while its answer was right.

Issue 9's first failure: a `write => next | cancel` step produced a correct program, then a
second LLM call that saw only the answer chose `cancel`. Now the step names its outcome in
the same reply, with the task in view, and takes the first unless it has a reason. This
runs the issue's program on GSM8K dev items twice, interleaved item by item: once with
`cancel` offered, once without (the reference). A cancel is spurious when the reference
solved the same item. Target: spurious cancels <= 1% of items.

    ./smol bench outcomes [--limit 50] [--start 0] [--model qwen2.5-coder-1.5b]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from decimal import Decimal
from pathlib import Path

from bench._report import report
from smolcpu import config
from smolcpu.programs import Session
from smolcpu.units import text_for_model
from smolcpu.units.tools import number_in

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "bench" / "gsm8k" / "dev.jsonl"

PROGRAM = """
use write = llm "Write one Python program that solves the problem and prints only the final number. Reply with the code only."
use run = sandbox
out <= switch <= (
    write => next {cancel}
    run   => send | back
) <= in
"""


def load(start: int, limit: int) -> list[dict]:
    if not DATA.is_file():
        raise SystemExit(f"bench outcomes needs {DATA} (GSM8K dev items, in ../shared beside the checkout)")
    lines = DATA.read_text().splitlines()[start : start + limit]
    return [json.loads(line) for line in lines]


async def measure(items: list[dict], model: str) -> dict:
    offered, reference = PROGRAM.replace("{cancel}", "| cancel"), PROGRAM.replace("{cancel}", "")
    rows = {"with cancel": [], "without cancel": []}
    async with Session(model=model, record=False, classifier=False) as session:
        for number, item in enumerate(items, 1):
            gold = Decimal(item["answer"].split("####")[-1].strip().replace(",", ""))
            for name, program in (("with cancel", offered), ("without cancel", reference)):
                began = time.monotonic()
                result = await session.run(program, item["question"])
                got = number_in(text_for_model(result.output)) if result.ok else None
                rows[name].append(
                    {"status": result.status.value, "right": got == gold, "seconds": time.monotonic() - began}
                )
            print(f"{number}/{len(items)}", {k: v[-1]["status"] + ("+" if v[-1]["right"] else "-") for k, v in rows.items()},
                  flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(prog="smol bench outcomes", description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=50, help="GSM8K dev items (default 50)")
    parser.add_argument("--start", type=int, default=0, help="the first item (0-based)")
    parser.add_argument("--model", default=config.LLM_MODEL)
    args = parser.parse_args()
    items = load(args.start, args.limit)
    rows = asyncio.run(measure(items, args.model))
    with_cancel, without = rows["with cancel"], rows["without cancel"]
    spurious = sum(a["status"] == "cancelled" and b["right"] for a, b in zip(with_cancel, without, strict=True))
    table = [
        [
            name,
            len(runs),
            sum(r["right"] for r in runs),
            sum(r["status"] == "cancelled" for r in runs),
            statistics.median(r["seconds"] for r in runs),
        ]
        for name, runs in rows.items()
    ]
    report(
        "outcomes",
        f"Spurious cancels: {spurious} of {len(items)} items ({spurious / len(items):.1%}; target <= 1%)",
        ["program", "items", "right", "cancelled", "median s"],
        table,
        model=args.model,
        data=f"GSM8K dev items {args.start + 1}-{args.start + len(items)} (in file order; no sampling, so no seed)",
        spurious_cancels=spurious,
        per_item=rows,
    )


if __name__ == "__main__":
    main()
