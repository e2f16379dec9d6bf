"""How well the local LLM writes flow programs from descriptions (``smol draft``).

Each case of ``cases.jsonl`` is a workflow described in plain words with a check of what
the program must do (see ``_checks.py``). The benchmark drafts every case with the model
(grammar-constrained, repaired from the checker's diagnostics, completed) and reports the
share of programs that check clean (no errors) and the share that pass their check (the
predicates over the graph and, where the case has one, a run on scripted workers).

The machine is shared, so the benchmark runs in short runs: ``--cases 1-5`` drafts only
those, and every run merges its cases into ``bench/results/draft.json`` (per model, seed,
rounds and threads), whose table covers every case drafted so far.

    ./smol bench draft [--cases 1-5|ID,...] [--model qwen2.5-coder-1.5b] [--seed 0] [--rounds 3] [--threads 1] [--fresh]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from bench._report import RESULTS, report
from bench.draft._checks import failed_checks, failed_run
from smolcpu import config
from smolcpu.draft import Drafter, local_llm

CASES = Path(__file__).resolve().parent / "cases.jsonl"
NAME = "draft"


def load_cases() -> list[dict[str, Any]]:
    return [json.loads(line) for line in CASES.read_text().splitlines() if line.strip()]


def select(cases: list[dict[str, Any]], spec: str | None) -> list[dict[str, Any]]:
    """The cases ``spec`` names: ``1-5,9`` (1-based positions) or ids; all when None."""
    if not spec:
        return cases
    chosen = []
    for part in spec.split(","):
        low, _, high = part.partition("-")
        if low.isdigit():
            chosen += cases[int(low) - 1 : int(high or low)]
        else:
            chosen += [case for case in cases if case["id"] == part]
    return chosen


async def judge(case: dict[str, Any], draft: Any) -> dict[str, Any]:
    """Whether the drafted program checks clean and does what the case asks."""
    failures: list[str] = []
    if draft.ok:
        failures += failed_checks(draft.compilation, case.get("check", {}))
        if "run" in case:
            try:
                failures += await failed_run(draft.compilation, case["run"])
            except Exception as exc:  # a run that crashes is a failure of this case, not of the benchmark
                failures.append(f"run failed: {type(exc).__name__}: {exc}")
    else:
        failures.append("does not check clean")
    return {"clean": draft.ok, "passed": draft.ok and not failures, "failures": failures}


async def draft_cases(cases: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    records = {}
    async with local_llm(args.model, threads=args.threads) as llm:
        drafter = Drafter(llm, rounds=args.rounds, seed=args.seed)
        for case in cases:
            started = time.monotonic()
            draft = await drafter.draft(case["description"], path=f"{case['id']}.smol")
            seconds = time.monotonic() - started
            verdict = await judge(case, draft)
            records[case["id"]] = {
                **verdict,
                "rounds": len(draft.attempts),
                "tokens": sum(a.tokens for a in draft.attempts),
                "seconds": round(seconds, 1),
                "program": draft.source,
                "proposals": draft.proposals,
                "report": draft.report,
            }
            mark = "pass" if verdict["passed"] else ("clean" if verdict["clean"] else "errors")
            print(
                f"{case['id']}: {mark} in {len(draft.attempts)} round(s), {seconds:.0f} s"
                + (f" — {'; '.join(verdict['failures'])}" if verdict["failures"] else ""),
                file=sys.stderr,
                flush=True,
            )
    return records


def main() -> None:
    parser = argparse.ArgumentParser(prog="smol bench draft", description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", help="which cases: 1-5,9 (positions) or ids; default all")
    parser.add_argument("--model", default=config.LLM_MODEL)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=config.DRAFT_ROUNDS)
    parser.add_argument("--threads", type=int, default=1, help="llama.cpp threads (1: robust on a shared machine)")
    parser.add_argument("--fresh", action="store_true", help="forget the cases recorded before")
    args = parser.parse_args()
    cases = load_cases()
    chosen = select(cases, args.cases)
    setting = {"model": args.model, "seed": args.seed, "rounds": args.rounds, "threads": args.threads}
    path = RESULTS / f"{NAME}.json"
    previous = json.loads(path.read_text()) if path.is_file() and not args.fresh else {}
    records = previous.get("cases", {}) if previous.get("setting") == setting else {}
    records.update(asyncio.run(draft_cases(chosen, args)))
    done = [records[case["id"]] for case in cases if case["id"] in records]
    clean = sum(r["clean"] for r in done)
    passed = sum(r["passed"] for r in done)
    rows = [
        [
            args.model,
            f"{len(done)}/{len(cases)}",
            f"{clean / len(done):.0%}",
            f"{passed / len(done):.0%}",
            statistics.median(r["rounds"] for r in done),
            statistics.median(r["seconds"] for r in done),
        ]
    ]
    report(
        NAME,
        "smol draft: programs from descriptions",
        ["model", "cases drafted", "check clean", "pass their check", "median rounds", "median seconds"],
        rows,
        setting=setting,
        shares={"check_clean": clean / len(done), "pass_check": passed / len(done), "drafted": len(done)},
        cases=records,
    )


if __name__ == "__main__":
    main()
