"""bench/dream: what dreaming buys, before and after, in one run.

``--part routing``: the default program's routing decision on a repeated workload of
requests (templates of each route, not the classifier's examples): the LLM chooser
(SmolLM2 by default) before, the distilled chooser after dreaming on the recorded
decisions. Decisions per second and median latency, agreement and coverage.
``--part gsm8k``: GSM8K accuracy and median latency with experience memory learnt from
dev items 1..L and measured on 201..200+M (see bench/dream/_experience.py); the 1.5B
model, long: ``--learn`` and ``--measure`` give smaller slices.

    ./smol bench dream --part routing --requests 1000
    ./smol bench dream --part gsm8k --learn 200 --measure 200
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench._report import RESULTS, report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="smol bench dream", description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=("routing", "gsm8k"), default="routing")
    parser.add_argument("--requests", type=int, default=1000, help="routing: requests in the workload")
    parser.add_argument("--llm-sample", type=int, default=40, help="routing: decisions timed on the LLM")
    parser.add_argument("--chooser-model", default="smollm2", help="routing: the LLM chooser's model")
    parser.add_argument("--teacher", choices=("rules", "llm"), default="rules",
                        help="routing: whose decisions are distilled (rules: a keyword router standing in for the LLM)")
    parser.add_argument("--learn", type=int, default=200, help="gsm8k: learn from dev items 1..N")
    parser.add_argument("--measure", type=int, default=200, help="gsm8k: measure on dev items 201..200+N")
    parser.add_argument("--model", default="qwen2.5-coder-1.5b", help="gsm8k: the LLM")
    parser.add_argument("--seed", type=int, default=0)
    options = parser.parse_args(argv)
    if options.part == "gsm8k":
        from bench.dream._experience import run

        log = RESULTS / "dream_gsm8k.jsonl"
        summary = run(learn=range(options.learn), measure=range(200, 200 + options.measure), model=options.model,
                      home=Path("/tmp") / f"smol-bench-dream-{options.seed}", log=log)
        rows = [
            [label, f"{s['right']}/{s['items']}", f"{s['right'] / max(s['items'], 1):.1%}", s["median_s"] or 0.0]
            for label, s in ((k, summary[k]) for k in ("plain", "experience"))
        ]
        report("dream_gsm8k", f"GSM8K dev {201}-{200 + options.measure}, experience from 1-{options.learn}",
               ["program", "right", "accuracy", "median s"], rows, summary=summary, model=options.model,
               learn=options.learn, measure=options.measure, answers=str(log))
        return
    from bench.dream._routing import run as routing

    summary = routing(requests=options.requests, llm_sample=options.llm_sample, model=options.chooser_model,
                      teacher=options.teacher, seed=options.seed)
    rows = [[s["chooser"], s["decisions"], s["per_second"], s["median_ms"]] for s in summary["rows"]]
    print(f"held out: {summary['held_out']}; in service: coverage {summary['coverage']:.1%}, agreement with the"
          f" teacher {summary['agreement']:.1%}; median speed-up {summary['speedup_median']}x")
    report("dream_routing", "routing decisions before and after dreaming", ["chooser", "decisions", "per s", "median ms"],
           rows, summary=json.loads(json.dumps(summary, default=str)), options=vars(options))


if __name__ == "__main__":
    main()
